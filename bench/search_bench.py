"""Search by example on a trained model: how close it gets, and how long it takes on this CPU.

  python bench/search_bench.py --run bench/runs/fsdd      # a quality run's model (d=16), FSDD held out

Two measurements through the export's own `search` signature (the model is exported
from the run's newest checkpoint with this code, so older runs work too):
* Known latents: targets the model generated itself from random z. The distance the
  search reaches with one start (batch 1), its time, and the distance of a random clip
  of the same class for scale.
* Real held-out clips (FSDD files the run never trained on): the best of 8 starts
  against 200 random clips of the same class: the share of random clips farther away
  than the match (target: 0.95) and the time per search.
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


def export_run(run_dir: str, out: str) -> str:
    from models.export import export_generator
    from models.train import Trainer, load_run_config
    trainer = Trainer(load_run_config(run_dir), run_dir)  # restores the newest checkpoint
    print(f"exporting {run_dir} at step {trainer.current_step}", flush=True)
    return export_generator(trainer.sampler, trainer.cfg, out)


def timed_search(signature, target, count: int, seed: int, label):
    import tensorflow as tf
    inputs = {"target": tf.constant(target[None]), "count": tf.constant(count), "seed": tf.constant(seed, tf.int64)}
    if label is not None:
        inputs["label"] = tf.constant(int(label))
    start = time.perf_counter()
    found = signature(**inputs)
    return {k: v.numpy() for k, v in found.items()}, time.perf_counter() - start


def random_distances(model, cfg, target, label, seed: int):
    import tensorflow as tf
    from models.search import spectral_distance
    inputs = {"count": tf.constant(RANDOM_CLIPS), "seed": tf.constant(seed, tf.int64)}
    if label is not None:
        inputs["label"] = tf.constant(int(label))
    audio = model.signatures["sample"](**inputs)["audio"]
    return spectral_distance(audio, tf.constant(target[None])).numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="training run directory (a quality run's)")
    parser.add_argument("--targets", type=int, default=10, help="targets of each kind")
    args = parser.parse_args()
    import tensorflow as tf
    from bench.quality_run import load_dataset
    from models.export import load_exported
    with tempfile.TemporaryDirectory() as tmp:
        model, cfg = load_exported(export_run(args.run, os.path.join(tmp, "model")))
        search = model.signatures["search"]
        labels = [k % cfg.num_classes if cfg.conditional else None for k in range(args.targets)]
        timed_search(search, np.zeros([cfg.slice_len, cfg.num_channels], np.float32) + 0.1, 1, 0, labels[0])  # trace
        rows = []
        for k, label in enumerate(labels):
            inputs = {"count": tf.constant(1), "seed": tf.constant(1000 + k, tf.int64)}
            if label is not None:
                inputs["label"] = tf.constant(label)
            target = model.signatures["sample"](**inputs)["audio"].numpy()[0]
            found, seconds = timed_search(search, target, 1, k, label)
            rows.append({"kind": "known latent", "label": label, "starts": 1, "seconds": seconds,
                         "distance": float(found["distance"][0]),
                         "random_median": float(np.median(random_distances(model, cfg, target, label, k)))})
        _, held_out = load_dataset("fsdd", os.path.join(tmp, "data"), cfg).split(10)
        picks = np.random.RandomState(0).choice(len(held_out.audio), args.targets, replace=False)
        for k, i in enumerate(picks):
            label = int(held_out.labels[i]) if cfg.conditional else None
            found, seconds = timed_search(search, held_out.audio[i], 8, k, label)
            randoms = random_distances(model, cfg, held_out.audio[i], label, k)
            rows.append({"kind": "real held-out", "label": label, "starts": 8, "seconds": seconds,
                         "distance": float(found["distance"][0]), "random_median": float(np.median(randoms)),
                         "closer_than_random_share": float(np.mean(randoms > found["distance"][0]))})
    known = [r for r in rows if r["kind"] == "known latent"]
    real = [r for r in rows if r["kind"] == "real held-out"]
    extra = {"run": os.path.abspath(args.run), "model_size": cfg.model_size, "slice_len": cfg.slice_len,
             "known_latent_seconds_median_batch1": float(np.median([r["seconds"] for r in known])),
             "known_latent_distance_over_random_median": float(np.median(
                 [r["distance"] / r["random_median"] for r in known])),
             "real_seconds_median_8_starts": float(np.median([r["seconds"] for r in real])),
             "real_closer_than_random_share_median": float(np.median([r["closer_than_random_share"] for r in real])),
             "targets": {"seconds_batch1": 2.0, "closer_than_random_share": 0.95}}
    write_results("search", rows, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
