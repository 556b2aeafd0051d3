"""A critic on the waveform folded by period (HiFi-GAN's multi-period discriminator).

Voiced speech repeats itself every pitch period; the waveform critic's strided layers
mix neighbouring samples, so a missing periodicity is many layers away. Folding the
waveform by a period p puts sample t beside t + p, t + 2p, ...: convolutions along
the folded axis compare one phase of the period across many periods (Kong et al., 2020).
One branch per period, the convolutions shared across the p phases; small, like the
spectral critic (models.spectral).
"""
from __future__ import annotations

import tensorflow as tf

from models.layers import Conv1D, Dense, projection_score

KERNEL_LEN = 5
STRIDES = (3, 3, 3, 1)


def fold(x, period: int):
    """[B, T, C] audio -> [B * period, ceil(T / period), 1]: the channel mean, reflect-padded to a
    multiple of the period, one row per phase of the period."""
    mono = tf.reduce_mean(x, axis=2)
    pad = -mono.shape[1] % period
    if pad:
        mono = tf.pad(mono, [[0, 0], [0, pad]], mode="REFLECT")
    rows = tf.transpose(tf.reshape(mono, [-1, mono.shape[1] // period, period]), [0, 2, 1])
    return tf.reshape(rows, [-1, mono.shape[1] // period, 1])


class PeriodBranch(tf.Module):
    """One period: strided convolutions along the folded axis, the mean over time and phases, a
    score per example, conditional (when num_classes) through a projection as the waveform critic."""

    def __init__(self, period: int, channels: int, num_classes: int, compute_dtype: str, name=None):
        super().__init__(name=name)
        self.period, self.compute_dtype = period, compute_dtype
        widths = [1, channels, 2 * channels, 4 * channels, 4 * channels]
        self.convs = [Conv1D(widths[i], widths[i + 1], KERNEL_LEN, stride, name=f"conv_{i}")
                      for i, stride in enumerate(STRIDES)]
        self.output = Dense(widths[-1], 1)
        self.label_projection = (tf.Variable(tf.random.normal([num_classes, widths[-1]], stddev=0.02),
                                             name="label_projection") if num_classes else None)

    def __call__(self, x, label=None):
        h = fold(tf.cast(x, self.compute_dtype), self.period)
        for conv in self.convs:
            h = tf.nn.leaky_relu(conv(h), alpha=0.2)
        h = tf.cast(tf.reduce_mean(h, axis=1), tf.float32)  # [B * period, channels]
        h = tf.reduce_mean(tf.reshape(h, [-1, self.period, h.shape[-1]]), axis=1)
        score = projection_score(self.output, self.label_projection, h, label)
        return score
