"""Does a judge name a clip by its sound or by its silence? Its accuracy on held-out real audio with
a white-noise floor added, and on a run's generated audio.

  python bench/judge_floor.py --dataset drums --run-dir bench/runs/drums \
      --judge v1=/path/to/old/judge --judge v2=bench/runs/drums/judge \
      --checkpoint bench/runs/drums/checkpoints/best/ckpt --wavs bench/results/quality/drums/wavs

Uses the quality run's data and held-out split (bench/quality_run.py). Writes
bench/results/judge_floor.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import RESULTS_DIR  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
FLOORS_DBFS = (None, -60, -45, -30)
GENERATED_CLIPS = 200


def held_out_with_floors(held, seed: int = 0) -> dict:
    """{condition: clips}: the held-out slices clean and with each noise floor (the judge mixes to mono)."""
    clips, rng = held.audio, np.random.default_rng(seed)
    return {("clean" if db is None else f"floor {db} dBFS"):
            clips if db is None else np.clip(clips + rng.normal(0, 10 ** (db / 20), clips.shape), -1, 1)
            for db in FLOORS_DBFS}


def generated(cfg, checkpoint: str):
    """(clips, labels) from a checkpoint's averaged generator (a best checkpoint stores it as `generator`)."""
    import tensorflow as tf
    from models.wavegan import Generator
    g = Generator(cfg, name="generator_ema")
    saved = {name.split("/")[0] for name, _ in tf.train.list_variables(checkpoint)}
    part = "generator_ema" if "generator_ema" in saved else "generator"
    tf.train.Checkpoint(**{part: g}).read(checkpoint).expect_partial()
    labels = np.arange(GENERATED_CLIPS) % cfg.num_classes
    audio = g(tf.random.normal([GENERATED_CLIPS, cfg.latent_dim], seed=5), tf.constant(labels), training=False)
    return audio.numpy()[..., 0], labels


def committed_wavs(folder: str, label_names: list, sample_rate: int):
    """(clips, labels) of a quality run's committed WAVs, named <label>_<n>.wav."""
    import glob
    from models.audio import load_audio
    from models.labels import file_part
    index = {file_part(name): k for k, name in enumerate(label_names)}
    paths = sorted(glob.glob(os.path.join(folder, "*.wav")))
    clips = [load_audio(path, sample_rate)[:, 0] for path in paths]
    labels = np.array([index[os.path.basename(path).rsplit("_", 1)[0]] for path in paths])
    return np.stack(clips), labels


def judged(judge, clips, labels) -> dict:
    predicted = judge.predict(np.asarray(clips, np.float32))[0].argmax(axis=1)
    return {"accuracy": round(float(np.mean(predicted == labels)), 3),
            "heard_as": dict(zip(judge.label_names, np.bincount(predicted, minlength=len(judge.label_names)).tolist()))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["fsdd", "drums"], default="drums")
    parser.add_argument("--run-dir", required=True, help="a quality run's directory (its data and split)")
    parser.add_argument("--judge", action="append", required=True, help="NAME=FOLDER of a saved judge")
    parser.add_argument("--checkpoint", action="append", default=[], help="a generator checkpoint to judge too")
    parser.add_argument("--wavs", action="append", default=[], help="a folder of <label>_<n>.wav to judge too")
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "judge_floor.json"))
    args = parser.parse_args(argv)
    from bench.quality_run import load_dataset, load_quality_config
    from models.judge import Judge
    cfg = load_quality_config(os.path.join(BENCH, "quality", f"{args.dataset}.json"))
    data = load_dataset(args.dataset, args.run_dir, cfg)
    cfg = cfg.replace(label_names=list(data.vocabulary))
    held = data.split(10)[1]
    inputs = {f"real held-out, {name}": (clips, held.labels) for name, clips in held_out_with_floors(held).items()}
    for checkpoint in args.checkpoint:
        short = os.path.join(os.path.basename(os.path.dirname(checkpoint)), os.path.basename(checkpoint))
        inputs[f"generated, {short}"] = generated(cfg, checkpoint)
    for folder in args.wavs:
        inputs[f"committed WAVs, {os.path.basename(os.path.dirname(folder.rstrip('/')))}"] = committed_wavs(
            folder, list(data.vocabulary), cfg.sample_rate)
    judges = {name: Judge.load(folder) for name, folder in (j.split("=", 1) for j in args.judge)}
    results = {row: {name: judged(judge, *clips_labels) for name, judge in judges.items()}
               for row, clips_labels in inputs.items()}
    with open(args.out, "w") as f:
        json.dump({"dataset": args.dataset, "judges": {n: j.info.get("judge_version", "1") for n, j in judges.items()},
                   "results": results}, f, indent=2)
    print(f"{'label accuracy':48}" + "".join(f"{name:>10}" for name in judges))
    for row, by_judge in results.items():
        print(f"{row:48}" + "".join(f"{by_judge[name]['accuracy']:10.2f}" for name in judges))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
