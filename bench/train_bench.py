"""Training speed: seconds per generator step (with its critic steps).

Configurations: d=16 batch 16 (with and without XLA) and d=64 batch 64, 16384
samples, WGAN-GP, 5 critic updates. Achieved GFLOP/s is an estimate from the
layer shapes (see step_gflop) against a large fp32 matmul measured in this run.
Usage: python bench/train_bench.py [--quick]   (--quick: skip d=64)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.common import discriminator_gflop, generator_gflop, matmul_gflops, write_results  # noqa: E402
from models.config import WaveGANConfig  # noqa: E402
from models.train import Trainer  # noqa: E402


def step_gflop(cfg: WaveGANConfig) -> float:
    """Estimated GFLOP of one generator step (backward ~ 2x forward).

    Critic update: G forward (1 G), D on real and fake (2 D) with backward (4 D), and
    the gradient penalty: D forward on interpolates (1 D), its input gradient (1 D)
    and the second-order backward through both (4 D) -> 1 G + 12 D (wgan-gp),
    1 G + 6 D otherwise. Generator update: G and D forward (1 G + 1 D), backward
    through D to its input (1 D) and through G (2 G) -> 3 G + 2 D.
    """
    g, d = generator_gflop(cfg), discriminator_gflop(cfg)
    critic = g + (12 if cfg.loss == "wgan-gp" else 6) * d
    return cfg.batch_size * (cfg.d_updates * critic + 3 * g + 2 * d)


def time_steps(cfg: WaveGANConfig, steps: int) -> float:
    rng = np.random.RandomState(0)
    audio = rng.uniform(-0.5, 0.5, [cfg.batch_size * 2, cfg.slice_len, 1]).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((audio, np.zeros(len(audio), np.int32)))
    ds = ds.repeat().batch(cfg.batch_size, drop_remainder=True).prefetch(2)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg.replace(steps=1), run_dir)
        trainer.fit(ds, export=False)  # compiles
        trainer.cfg = cfg.replace(steps=1 + steps)
        iterator = iter(ds)
        start = time.perf_counter()
        for _ in range(steps):
            trainer._train_step(iterator)["g_loss"].numpy()
        return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the d=64 configuration")
    parser.add_argument("--steps", type=int, default=2, help="timed generator steps per configuration")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    peak = matmul_gflops()
    base = dict(checkpoint_every_steps=10 ** 6, summary_every_steps=10 ** 6,
                audio_summary_every_steps=10 ** 6, shuffle_buffer=16)
    configs = [("d16_b16", WaveGANConfig(model_size=16, batch_size=16, **base)),
               ("d16_b16_xla", WaveGANConfig(model_size=16, batch_size=16, xla=True, **base))]
    if not args.quick:
        configs.append(("d64_b64", WaveGANConfig(model_size=64, batch_size=64, **base)))
    rows = []
    for name, cfg in configs:
        seconds = time_steps(cfg, args.steps if cfg.model_size == 64 else max(args.steps, 5))
        gflop = step_gflop(cfg)
        rows.append({"config": name, "s_per_step": seconds, "est_gflop_per_step": gflop,
                     "gflop_s": gflop / seconds, "of_matmul": gflop / seconds / peak})
        print(f"{name}: {seconds:.3f} s/step", flush=True)
    write_results("train", rows, {"matmul_gflop_s": peak})


if __name__ == "__main__":
    main()
