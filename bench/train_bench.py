"""Training speed: seconds per generator step (with its critic steps), and how they compare.

Configurations: d=16 batch 16, d=32 batch 32, d=64 batch 64 (the paper's setting),
16384 samples, WGAN-GP, 5 critic updates; d=16 also with XLA, with mixed_bfloat16 and
fed from gzipped TFRecords (the pipeline's input path) instead of memory. The
estimated GFLOP/s (step_gflop, from the layer shapes) is divided by a large fp32
matmul measured just before each configuration in the same run: these shared
machines differ by 4x from day to day, so only that ratio means anything.
On a GPU machine the same command measures the GPU (XLA on by default there).

The peer: with a Python that has torch (default .venv-torch/bin/python, see README),
bench/torch_peer.py runs the same networks and step in PyTorch in the same run, and
`speedup_vs_torch` is its time over ours (above 1: we are faster).
Usage: python bench/train_bench.py [--quick] [--steps N] [--torch-python PATH]   (--quick: skip d=64)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
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
from models.train import Trainer, use_xla  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = dict(checkpoint_every_steps=10 ** 6, summary_every_steps=10 ** 6, audio_summary_every_steps=10 ** 6,
             shuffle_buffer=64)


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


def memory_dataset(cfg: WaveGANConfig) -> tf.data.Dataset:
    rng = np.random.RandomState(0)
    audio = rng.uniform(-0.5, 0.5, [cfg.batch_size * 4, cfg.slice_len, 1]).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((audio, np.zeros(len(audio), np.int32)))
    return ds.shuffle(len(audio), seed=0).repeat().batch(cfg.batch_size, drop_remainder=True).prefetch(2)


def tfrecord_input(cfg: WaveGANConfig, folder: str) -> tf.data.Dataset:
    """The pipeline's input path: gzipped Examples of the schema, parsed and batched by tf.data."""
    from models.data import tfrecord_dataset
    from models.schema import make_example
    rng = np.random.RandomState(0)
    path = os.path.join(folder, "train.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(cfg.batch_size * 4):
            audio = rng.uniform(-0.5, 0.5, [cfg.slice_len, 1]).astype(np.float32)
            writer.write(make_example(audio, sample_rate=cfg.sample_rate, source_id=f"s{i}", offset=0)
                         .SerializeToString())
    return tfrecord_dataset(path, cfg)


def time_steps(cfg: WaveGANConfig, steps: int, dataset: tf.data.Dataset) -> float:
    """Seconds per generator step, after one untimed step that compiles."""
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg.replace(steps=1), run_dir)
        iterator = iter(dataset)
        trainer._train_step(iterator)["g_loss"].numpy()
        start = time.perf_counter()
        for _ in range(steps):
            trainer._train_step(iterator)["g_loss"].numpy()
        return (time.perf_counter() - start) / steps


def configurations(quick: bool, on_gpu: bool):
    """(name, config, input) rows; input is 'memory' or 'tfrecord'.

    On a GPU the paper's setting (d=64, batch 64) gets the variants that matter there:
    XLA off (it is on by default), mixed bfloat16 and float16, and TFRecord input (is
    the GPU kept busy?). On a CPU those variants are measured at d=16, where they are cheap.
    """
    d16 = WaveGANConfig(model_size=16, batch_size=16, **QUIET)
    d32 = WaveGANConfig(model_size=32, batch_size=32, **QUIET)
    d64 = WaveGANConfig(model_size=64, batch_size=64, **QUIET)
    if on_gpu:
        return [("d16_b16", d16, "memory"), ("d32_b32", d32, "memory"), ("d64_b64", d64, "memory"),
                ("d64_b64_tfrecord", d64, "tfrecord"), ("d64_b64_no_xla", d64.replace(xla=False), "memory"),
                ("d64_b64_bf16", d64.replace(precision="mixed_bfloat16"), "memory"),
                ("d64_b64_fp16", d64.replace(precision="mixed_float16"), "memory")]
    rows = [("d16_b16", d16, "memory"),
            ("d16_b16_tfrecord", d16, "tfrecord"),
            ("d16_b16_xla" if not use_xla(d16) else "d16_b16_no_xla", d16.replace(xla=not use_xla(d16)), "memory"),
            ("d16_b16_bf16", d16.replace(precision="mixed_bfloat16"), "memory"),
            ("d32_b32", d32, "memory")]
    if not quick:
        rows.append(("d64_b64", d64, "memory"))
    return rows


def torch_peer(python: str, cfg: WaveGANConfig, steps: int, on_gpu: bool):
    """The PyTorch peer's row for cfg, or None (with a note) when that Python has no torch."""
    if not python or not os.path.exists(python):
        return None
    command = [python, os.path.join(REPO, "bench", "torch_peer.py"), "--model-size", str(cfg.model_size),
               "--batch-size", str(cfg.batch_size), "--steps", str(steps)]
    if on_gpu:
        command += ["--device", "cuda"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"torch peer skipped: {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the d=64 configuration")
    parser.add_argument("--steps", type=int, default=0,
                        help="timed generator steps per configuration (default 3 on CPU, where d=64 takes 1; 30 on GPU)")
    parser.add_argument("--torch-python", default=os.path.join(REPO, ".venv-torch", "bin", "python"),
                        help="a Python with torch for the PyTorch peer ('' to skip)")
    parser.add_argument("--configs", default="", help="only these rows, comma-separated (e.g. d64_b64,d64_b64_bf16)")
    parser.add_argument("--results-name", default="",
                        help="bench/results/<name>.json (default train, or train_gpu on a GPU machine)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    rows, baseline = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name, cfg, source in configurations(args.quick, on_gpu):
            if args.configs and name not in args.configs.split(","):
                continue
            peak = matmul_gflops()  # just before: the machine's rate now
            dataset = tfrecord_input(cfg, folder) if source == "tfrecord" else memory_dataset(cfg)
            steps = args.steps or (30 if on_gpu else 3)
            if not on_gpu:  # a d=64 step takes minutes here
                steps = max(1, steps // 2) if cfg.model_size >= 64 else max(steps, 3)
            seconds = time_steps(cfg, steps, dataset)
            gflop = step_gflop(cfg)
            row = {"config": name, "s_per_step": seconds, "steps_per_hour": 3600 / seconds,
                   "gflop_s": gflop / seconds, "matmul_gflop_s": peak, "of_matmul": gflop / seconds / peak}
            baseline.setdefault(cfg.model_size, seconds)
            row["time_vs_memory_fp32"] = seconds / baseline[cfg.model_size]
            rows.append(row)
            print(f"{name}: {seconds:.3f} s/step ({row['of_matmul']:.2f} of the matmul rate)", flush=True)
            if name == f"d{cfg.model_size}_b{cfg.batch_size}":  # the plain fp32 row: set the peer beside it
                peer = torch_peer(args.torch_python, cfg, steps, on_gpu)
                if peer:
                    rows.append({"config": f"{name}_torch", "s_per_step": peer["s_per_step"],
                                 "steps_per_hour": 3600 / peer["s_per_step"],
                                 "gflop_s": gflop / peer["s_per_step"], "matmul_gflop_s": peer["matmul_gflop_s"],
                                 "of_matmul": gflop / peer["s_per_step"] / peer["matmul_gflop_s"],
                                 "time_vs_memory_fp32": peer["s_per_step"] / seconds})
                    row["speedup_vs_torch"] = peer["s_per_step"] / seconds
                    print(f"{name} in PyTorch {peer['torch']}: {peer['s_per_step']:.3f} s/step "
                          f"(ours is {row['speedup_vs_torch']:.2f}x as fast)", flush=True)
    write_results(args.results_name or ("train_gpu" if on_gpu else "train"), rows,
                  {"xla_default": use_xla(WaveGANConfig())})


if __name__ == "__main__":
    main()
