"""Training step time with strided_conv1d's gradients against TF's own, same process.

Both trainers are built and compiled first (models.layers.CONV_GRADIENTS is read when
a step is traced), then their steps alternate, a matmul before each round, so that
a shared machine's drift falls on both alike. Reports the median of each and their
ratio (above 1: ours is faster). Each row is one size's run; rows of sizes not
measured this time are kept from the results file (each carries its own time).
Usage: python bench/conv_gradient_bench.py [--sizes 16,32] [--rounds 5]   (size d: batch d)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench.common import RESULTS_DIR, matmul_gflops, write_results  # noqa: E402
from bench.train_bench import QUIET, memory_dataset, step_gflop  # noqa: E402
from models import layers  # noqa: E402
from models.config import WaveGANConfig  # noqa: E402
from models.train import Trainer  # noqa: E402


def compiled_trainer(cfg: WaveGANConfig, gradients: str, folder: str):
    """A trainer whose step was traced (and run once) with the given conv gradients."""
    layers.CONV_GRADIENTS = gradients
    try:
        trainer = Trainer(cfg, os.path.join(folder, gradients))
        iterator = iter(memory_dataset(cfg))
        trainer._train_step(iterator)["g_loss"].numpy()
    finally:
        layers.CONV_GRADIENTS = "auto"
    return trainer, iterator


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,32", help="model sizes d, each at batch d")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        cfg = WaveGANConfig(model_size=size, batch_size=size, steps=1, **QUIET)
        with tempfile.TemporaryDirectory() as folder:
            trainers = {name: compiled_trainer(cfg, name, folder) for name in ("tf", "polyphase")}
            seconds, peaks = {name: [] for name in trainers}, []
            for round_ in range(args.rounds):
                peaks.append(matmul_gflops())
                for name, (trainer, iterator) in trainers.items():
                    start = time.perf_counter()
                    trainer._train_step(iterator)["g_loss"].numpy()
                    seconds[name].append(time.perf_counter() - start)
                print(f"d={size} round {round_ + 1}/{args.rounds}: tf {seconds['tf'][-1]:.2f} s, "
                      f"polyphase {seconds['polyphase'][-1]:.2f} s", flush=True)
        ours, theirs, peak = np.median(seconds["polyphase"]), np.median(seconds["tf"]), np.median(peaks)
        gflop = step_gflop(cfg)
        rows.append({"config": f"d{size}_b{size}", "time": time.strftime("%Y-%m-%dT%H:%M"),
                     "s_per_step_tf_gradients": theirs,
                     "s_per_step_polyphase_gradients": ours, "speedup": theirs / ours,
                     "rounds_polyphase_faster": int(sum(a < b for a, b in zip(seconds["polyphase"], seconds["tf"]))),
                     "rounds": args.rounds, "matmul_gflop_s": peak,
                     "of_matmul_tf": gflop / theirs / peak, "of_matmul_polyphase": gflop / ours / peak})
    measured = {row["config"] for row in rows}
    write_results("conv_gradients", [row for row in earlier_rows() if row["config"] not in measured] + rows, {})


def earlier_rows() -> list:
    path = os.path.join(RESULTS_DIR, "conv_gradients.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["results"]


if __name__ == "__main__":
    main()
