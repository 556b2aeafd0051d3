"""Search by example on a trained model: how close it gets, and how long it takes on this CPU,
with the STFT distance alone and with the judge's embedding distance added.

  python bench/search_bench.py --run bench/runs/fsdd      # a quality run's model (d=16), FSDD held out
  python bench/search_bench.py --run RUN --judge JUDGE    # the judge folder, when not RUN/judge

The model is exported from the run's newest checkpoint with this code (so older runs
work too), once without the judge and once with it, and measured through the export's
own `search` signature:
* Known latents: targets the model generated itself from random z. The distance the
  search reaches with one start (batch 1), its time, and the median distance of a random
  clip of the same class for scale.
* Real held-out clips (FSDD files the run never trained on): the best of 8 starts
  against 200 random clips of the same class: the share of random clips farther away
  than the match (target: 0.95), the time per search, and whether the judge hears the
  match as the target's digit (what the judge's term is for).
Writes bench/results/search.json and prints the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench.common import write_results  # noqa: E402

RANDOM_CLIPS = 200


def export_run(run_dir: str, out: str, judge=None) -> str:
    from models.export import export_generator
    from models.train import Trainer, load_run_config
    trainer = Trainer(load_run_config(run_dir), run_dir)  # restores the newest checkpoint
    print(f"exporting {run_dir} at step {trainer.current_step} ({'with' if judge else 'without'} the judge)",
          flush=True)
    return export_generator(trainer.sampler, trainer.cfg, out, judge=judge), trainer.current_step


def _inputs(label, **values):
    import tensorflow as tf
    inputs = {k: tf.constant(v) for k, v in values.items()}
    if label is not None:
        inputs["label"] = tf.constant(int(label))
    return inputs


def timed_search(signature, target, count: int, seed: int, label):
    inputs = _inputs(label, target=target[None], count=np.int32(count), seed=np.int64(seed))
    start = time.perf_counter()
    found = signature(**inputs)
    return {k: v.numpy() for k, v in found.items()}, time.perf_counter() - start


def random_distances(model, parts, target, label, seed: int):
    """The search's own distance from RANDOM_CLIPS random clips of the class to the target."""
    import tensorflow as tf
    from models.search import total_distance
    audio = model.signatures["sample"](**_inputs(label, count=np.int32(RANDOM_CLIPS), seed=np.int64(seed)))["audio"]
    return total_distance(parts, audio, tf.constant(target[None])).numpy()


def known_latent_rows(model, parts, cfg, targets: int) -> list:
    rows = []
    for k in range(targets):
        label = k % cfg.num_classes if cfg.conditional else None
        target = model.signatures["sample"](**_inputs(label, count=np.int32(1), seed=np.int64(1000 + k)))
        target = target["audio"].numpy()[0]
        found, seconds = timed_search(model.signatures["search"], target, 1, k, label)
        rows.append({"kind": "known latent", "label": label, "starts": 1, "seconds": seconds,
                     "distance": float(found["distance"][0]),
                     "random_median": float(np.median(random_distances(model, parts, target, label, k)))})
    return rows


def held_out_rows(model, parts, cfg, held_out, picks, judge) -> list:
    from models.quality import judge_indices
    rows = []
    for k, i in enumerate(picks):
        label = int(held_out.labels[i]) if cfg.conditional else None
        found, seconds = timed_search(model.signatures["search"], held_out.audio[i], 8, k, label)
        randoms = random_distances(model, parts, held_out.audio[i], label, k)
        heard = int(np.argmax(judge.predict(found["audio"][:1])[0][0]))
        wanted = int(judge_indices([int(held_out.labels[i])], list(held_out.vocabulary), judge.label_names)[0])
        rows.append({"kind": "real held-out", "label": label, "starts": 8, "seconds": seconds,
                     "distance": float(found["distance"][0]), "random_median": float(np.median(randoms)),
                     "closer_than_random_share": float(np.mean(randoms > found["distance"][0])),
                     "judge_hears_target_class": heard == wanted})
    return rows


def measure(model_dir: str, judge, with_judge: bool, held_out, picks, targets: int) -> list:
    """Every row for one export; the distance parts are the export's own (models.search)."""
    from models.export import load_exported
    from models.judge import embedding_fn
    from models.search import distance_parts
    model, cfg = load_exported(model_dir)
    parts = distance_parts(embedding_fn(judge.model, cfg.sample_rate) if with_judge else None)
    timed_search(model.signatures["search"], np.zeros([cfg.slice_len, cfg.num_channels], np.float32) + 0.1, 1, 0,
                 0 if cfg.conditional else None)  # trace once
    rows = known_latent_rows(model, parts, cfg, targets) + held_out_rows(model, parts, cfg, held_out, picks, judge)
    return [{"distance_kind": "stft+judge" if with_judge else "stft", **row} for row in rows]


def summary(rows: list, kind: str) -> dict:
    known = [r for r in rows if r["kind"] == "known latent" and r["distance_kind"] == kind]
    real = [r for r in rows if r["kind"] == "real held-out" and r["distance_kind"] == kind]
    return {"known_latent_seconds_median_batch1": float(np.median([r["seconds"] for r in known])),
            "known_latent_distance_over_random_median": float(np.median(
                [r["distance"] / r["random_median"] for r in known])),
            "real_seconds_median_8_starts": float(np.median([r["seconds"] for r in real])),
            "real_closer_than_random_share_median": float(np.median([r["closer_than_random_share"] for r in real])),
            "real_match_heard_as_target_class": float(np.mean([r["judge_hears_target_class"] for r in real]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="training run directory (a quality run's)")
    parser.add_argument("--judge", help="the data's judge folder (default: RUN/judge)")
    parser.add_argument("--targets", type=int, default=10, help="targets of each kind")
    args = parser.parse_args()
    from bench.quality_run import load_dataset
    from models.judge import Judge
    from models.train import load_run_config
    judge = Judge.load(args.judge or os.path.join(args.run, "judge"))
    cfg = load_run_config(args.run)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _, held_out = load_dataset("fsdd", os.path.join(tmp, "data"), cfg).split(10)
        picks = np.random.RandomState(0).choice(len(held_out.audio), args.targets, replace=False)
        for with_judge in (False, True):
            model_dir, step = export_run(args.run, os.path.join(tmp, f"model-{with_judge}"),
                                         judge if with_judge else None)
            rows += measure(model_dir, judge, with_judge, held_out, picks, args.targets)
    extra = {"run": os.path.abspath(args.run), "step": step, "model_size": cfg.model_size, "slice_len": cfg.slice_len,
             "stft": summary(rows, "stft"), "stft+judge": summary(rows, "stft+judge"),
             "targets": {"seconds_batch1": 2.0, "closer_than_random_share": 0.95}}
    write_results("search", rows, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
