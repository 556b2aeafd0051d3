"""Generation speed of the exported SavedModel (d=64, 16384 samples).

Latency at batch 1 and throughput at batch 64, as multiples of real time, next to
(a) a large fp32 matmul and (b) the same generator built on tf.nn.conv1d_transpose
(the usual transposed-conv implementation), all measured in this run.
Usage: python bench/generate_bench.py [--model-size 64] [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from bench.common import generator_gflop, matmul_gflops, median_seconds, write_results  # noqa: E402
from models.config import WaveGANConfig  # noqa: E402
from models.export import SERVING_SIGNATURE, export_generator, load_exported  # noqa: E402
from models.wavegan import Generator  # noqa: E402


def transposed_conv_baseline(generator: Generator):
    """The same network with tf.nn.conv1d_transpose layers, same weights."""
    kernels = [tf.constant(layer.transposed_kernel().transpose(0, 2, 1)) for layer in generator.upsamplers]

    @tf.function(input_signature=[tf.TensorSpec([None, generator.cfg.latent_dim], tf.float32)])
    def forward(z):
        x = tf.nn.relu(tf.reshape(generator.project(z), [-1, 16, generator.base_channels]))
        for i, (layer, kernel) in enumerate(zip(generator.upsamplers, kernels)):
            shape = [tf.shape(x)[0], tf.shape(x)[1] * layer.stride, layer.out_ch]
            x = tf.nn.conv1d_transpose(x, kernel, shape, strides=layer.stride, padding="SAME") + layer.b
            x = tf.tanh(x) if i == len(kernels) - 1 else tf.nn.relu(x)
        return x
    return forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    cfg = WaveGANConfig(model_size=args.model_size)
    generator = Generator(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = load_exported(export_generator(generator, cfg, os.path.join(tmp, "m")))
        serve = model.signatures[SERVING_SIGNATURE]
        baseline = transposed_conv_baseline(generator)
        peak = matmul_gflops()
        flop = generator_gflop(cfg)
        clip_seconds = cfg.slice_len / cfg.sample_rate
        rows = []
        for batch in (1, 64):
            z = tf.random.uniform([batch, cfg.latent_dim], -1, 1)
            repeats = args.repeats if batch == 1 else max(3, args.repeats // 6)
            for name, fn in (("savedmodel_polyphase", lambda: serve(z=z)["audio"].numpy()),
                             ("conv1d_transpose_baseline", lambda: baseline(z).numpy())):
                seconds = median_seconds(fn, repeats, warmup=2)
                gflops = flop * batch / seconds
                rows.append({"impl": name, "batch": batch, "ms": seconds * 1000,
                             "x_realtime": batch * clip_seconds / seconds, "gflop_s": gflops,
                             "of_matmul": gflops / peak})
    by = {(r["impl"], r["batch"]): r for r in rows}
    extra = {"model_size": cfg.model_size, "matmul_gflop_s": peak, "gflop_per_clip": flop,
             "batch1_speedup_vs_conv1d_transpose": by[("conv1d_transpose_baseline", 1)]["ms"] /
             by[("savedmodel_polyphase", 1)]["ms"],
             "batch64_speedup_vs_conv1d_transpose": by[("conv1d_transpose_baseline", 64)]["ms"] /
             by[("savedmodel_polyphase", 64)]["ms"]}
    write_results("generate", rows, extra)


if __name__ == "__main__":
    main()
