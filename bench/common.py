"""Shared benchmark helpers: the matmul baseline, timing, FLOP counts, JSON + table."""
from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# The shared spoken-digit subset, beside the repository (never copied into it).
FSDD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "shared", "data", "fsdd")


def matmul_gflops(n: int = 0, repeats: int = 10) -> float:
    """fp32 GFLOP/s of a large TF matmul: the machine's practical peak, measured now.

    Only the product's sum comes back, so a copy to the host is not what is timed. On a
    GPU the product is larger (8192) and TF's default TensorFloat-32 applies, as in training.
    """
    import tensorflow as tf
    n = n or (8192 if tf.config.list_physical_devices("GPU") else 2048)
    a = tf.random.normal([n, n])
    matmul = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, x)))
    matmul(a).numpy()
    seconds = median_seconds(lambda: matmul(a).numpy(), repeats)
    return 2 * n ** 3 / seconds / 1e9


def median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _conv_macs(out_len, in_ch, out_ch, taps):
    return out_len * in_ch * out_ch * taps


def generator_gflop(cfg) -> float:
    """Useful forward GFLOP per example: a transposed conv does kernel_len/stride taps per output."""
    from models.wavegan import _channel_plan
    mul, plan = _channel_plan(cfg)
    d = cfg.model_size
    in_ch, length = d * mul, 16
    macs = (cfg.latent_dim + (32 if cfg.conditional else 0)) * 16 * in_ch
    for i, (out_mult, stride) in enumerate(plan):
        out_ch = cfg.num_channels if i == len(plan) - 1 else d * out_mult
        length *= stride
        macs += _conv_macs(length, in_ch, out_ch, cfg.kernel_len / stride)
        in_ch = out_ch
    macs += cfg.slice_len * cfg.num_channels ** 2 * cfg.post_proc_filter_len
    return 2 * macs / 1e9


def discriminator_gflop(cfg) -> float:
    from models.wavegan import Discriminator
    d = Discriminator(cfg)
    length, macs = cfg.slice_len, 0
    for conv in d.convs:
        k, cin, cout = conv.kernel.shape
        length = -(-length // conv.stride)
        macs += _conv_macs(length, cin, cout, k)
    macs += d.feature_dim
    return 2 * macs / 1e9


def machine_info() -> dict:
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        info["gpus"] = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    except ImportError:
        pass
    return info


def write_results(name: str, rows: list, extra: dict) -> str:
    """Writes bench/results/<name>.json and prints rows as a table."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    payload = {"benchmark": name, "machine": machine_info(),
               "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": rows, **extra}
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    keys = list(dict.fromkeys(k for row in rows for k in row))  # every column, in first-seen order
    widths = [max(len(k), *(len(_fmt(r.get(k, ""))) for r in rows)) for k in keys]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for row in rows:
        print("  ".join(_fmt(row.get(k, "")).ljust(w) for k, w in zip(keys, widths)))
    for key, value in extra.items():
        print(f"{key}: {_fmt(value)}")
    print(f"-> {path}")
    return path


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
