"""A critic on log-magnitude spectrograms at several resolutions.

The waveform critic sees energy in bands where real audio has none (FSDD, recorded at
8 kHz, is empty above 4 kHz) only through many layers; a spectrogram puts each band in
its own input channel, so such energy is one linear feature away. One branch per FFT
size, in the spirit of the multi-resolution discriminators of UnivNet and HiFi-GAN, but
small: 1-D convolutions over frames with the frequency bins as channels.
"""
from __future__ import annotations

import tensorflow as tf

from models.layers import Conv1D, Dense, projection_score

# The log's floor (about -60 dB of a full-scale sine's peak bin at n=256) bounds the critic's input
# gradient where the spectrum is near zero: at 1e-5 the R1 penalty on real FSDD silence was ~1e9.
LOG_FLOOR = 1e-2
KERNEL_LEN = 5


def log_magnitude(x, fft_size: int):
    """[B, T, C] audio -> [B, T / hop, fft_size / 2 + 1] log |STFT| of the channel mean (hop = fft_size / 4)."""
    mono = tf.reduce_mean(tf.cast(x, tf.float32), axis=2)
    stft = tf.signal.stft(mono, frame_length=fft_size, frame_step=fft_size // 4, fft_length=fft_size,
                          pad_end=True)
    # |S| as sqrt(re^2 + im^2 + tiny): tf.abs's gradient is undefined at exactly zero (padded silence).
    magnitude = tf.sqrt(tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft)) + 1e-12)
    return tf.math.log(magnitude + LOG_FLOOR)


class SpectralBranch(tf.Module):
    """One resolution: three 1-D convolutions over frames, mean over time, a score per example,
    conditional (when num_classes) through a projection as the waveform critic."""

    def __init__(self, fft_size: int, channels: int, num_classes: int, compute_dtype: str, name=None):
        super().__init__(name=name)
        self.fft_size, self.compute_dtype = fft_size, compute_dtype
        bins = fft_size // 2 + 1
        self.convs = [Conv1D(bins, channels, KERNEL_LEN, 2, name="conv_0"),
                      Conv1D(channels, 2 * channels, KERNEL_LEN, 2, name="conv_1"),
                      Conv1D(2 * channels, 2 * channels, KERNEL_LEN, 1, name="conv_2")]
        self.output = Dense(2 * channels, 1)
        self.label_projection = (tf.Variable(tf.random.normal([num_classes, 2 * channels], stddev=0.02),
                                             name="label_projection") if num_classes else None)

    def __call__(self, x, label=None):
        return self.score(self.features(x), label)

    def features(self, x):
        """The branch's input: the log-magnitude spectrogram [B, frames, bins] in float32."""
        return log_magnitude(x, self.fft_size)

    def score(self, features, label=None):
        """A score per example for a spectrogram from `features`: what the R1 penalty differentiates,
        so the branch is flat on real spectrograms in its own input space."""
        h = tf.cast(features, self.compute_dtype)
        for conv in self.convs:
            h = tf.nn.leaky_relu(conv(h), alpha=0.2)
        h = tf.cast(tf.reduce_mean(h, axis=1), tf.float32)
        score = projection_score(self.output, self.label_projection, h, label)
        return score
