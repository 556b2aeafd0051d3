"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al. 2020; ADA, Karras
et al. 2020): the same random transforms are applied to real and generated audio before the
critic, so a critic trained on a few thousand clips cannot memorise them, and the generator
still gets gradients through the transforms.

Each transform is applied to each example with probability p. With a fixed p of 1 every clip is
transformed (DiffAugment). ADA instead adapts p during training (`AdaptiveProbability`): it rises
while the critic calls more of the real training clips real than a target share, the sign that it
is memorising them, and falls below it. Applied with p < 1, transforms like these do not leak into
what the generator learns to make (ADA's argument), so ADA can afford the stronger ones.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

SHIFT_FRACTION = 0.125  # time shifts up to 1/8 of the slice either way, the gap filled with silence
GAIN_DB = 6.0  # gains up to 6 dB either way
SPEED_SEMITONES = 2.0  # speed (and with it pitch) changes up to 2 semitones either way
CUTOUT_FRACTION = 0.25  # cutout silences a stretch of 1/4 of the slice
ADA_INTERVAL = 4  # critic updates between adjustments of p (ADA's default)


def augment(x, names, seed, p=1.0):
    """x [B, T, C] with each named transform applied per example with probability p; seed: a
    stateless [2] seed. p: a number or a scalar tensor (a variable that ADA adjusts)."""
    for i, name in enumerate(names):
        step_seed = tf.random.experimental.stateless_fold_in(seed, i)
        moved = TRANSFORMS[name](x, step_seed)
        if isinstance(p, (int, float)) and p >= 1:
            x = moved
            continue
        chosen = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1], tf.random.experimental.stateless_fold_in(
            step_seed, len(TRANSFORMS))) < tf.cast(p, tf.float32)
        x = tf.where(chosen, moved, x)
    return x


def time_shift(x, seed):
    """Each example moved by its own whole number of samples; what moves out is dropped."""
    length = tf.shape(x)[1]
    max_shift = tf.cast(tf.cast(length, tf.float32) * SHIFT_FRACTION, tf.int32)
    shifts = tf.random.stateless_uniform([tf.shape(x)[0], 1], seed, -max_shift, max_shift + 1, dtype=tf.int32)
    return _resample(x, tf.cast(tf.range(length)[None, :] - shifts, tf.float32))


def gain(x, seed):
    decibels = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1], seed, -GAIN_DB, GAIN_DB)
    return x * tf.cast(10.0 ** (decibels / 20.0), x.dtype)


def speed(x, seed):
    """Each example played faster or slower (pitch moves with it), from its start, by linear
    interpolation; a slowed clip loses its end, a sped-up one ends in silence."""
    semitones = tf.random.stateless_uniform([tf.shape(x)[0], 1], seed, -SPEED_SEMITONES, SPEED_SEMITONES)
    times = tf.cast(tf.range(tf.shape(x)[1]), tf.float32)[None, :]
    return _resample(x, times * 2.0 ** (semitones / 12.0))


def cutout(x, seed):
    """Each example with a stretch of CUTOUT_FRACTION of its length silenced, at a random place."""
    length = tf.shape(x)[1]
    width = tf.cast(tf.cast(length, tf.float32) * CUTOUT_FRACTION, tf.int32)
    starts = tf.random.stateless_uniform([tf.shape(x)[0], 1], seed, 0, length - width + 1, dtype=tf.int32)
    position = tf.range(length)[None, :]
    kept = (position < starts) | (position >= starts + width)
    return x * tf.cast(kept, x.dtype)[:, :, None]


def _resample(x, source):
    """x [B, T, C] read at fractional sample positions source [B, T]; positions outside are silence."""
    length = tf.shape(x)[1]
    below = tf.floor(source)
    frac = tf.cast(source - below, x.dtype)[:, :, None]
    below = tf.cast(below, tf.int32)

    def read(index):
        inside = tf.cast((index >= 0) & (index < length), x.dtype)[:, :, None]
        return tf.gather(x, tf.clip_by_value(index, 0, length - 1), axis=1, batch_dims=1) * inside

    return read(below) * (1.0 - frac) + read(below + 1) * frac


TRANSFORMS = {"shift": time_shift, "gain": gain, "speed": speed, "cutout": cutout}


class AdaptiveProbability:
    """ADA's controller of p: every ADA_INTERVAL critic updates, p moves by batch * interval /
    speed_clips towards more augmentation when the critic's mean sign on real clips (r_t) is
    above `target`, towards less when below, kept in [0, 1]."""

    def __init__(self, variable: tf.Variable, target: float, batch_size: int, speed_clips: int):
        self.variable, self.target = variable, target
        self.adjustment = batch_size * ADA_INTERVAL / speed_clips
        self._signs = []

    def observe(self, real_sign: float) -> None:
        self._signs.append(float(real_sign))
        if len(self._signs) < ADA_INTERVAL:
            return
        direction = np.sign(np.mean(self._signs) - self.target)
        self._signs = []
        self.variable.assign(float(np.clip(self.variable.numpy() + direction * self.adjustment, 0.0, 1.0)))
