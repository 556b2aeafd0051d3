"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al. 2020; ADA, Karras
et al. 2020): the same random transforms are applied to real and generated audio before the
critic, so a critic trained on a few thousand clips cannot memorise them, and the generator
still gets gradients through the transforms.
"""
from __future__ import annotations

import tensorflow as tf

SHIFT_FRACTION = 0.125  # time shifts up to 1/8 of the slice either way, the gap filled with silence
GAIN_DB = 6.0  # gains up to 6 dB either way


def augment(x, names, seed):
    """x [B, T, C] with each named transform applied per example; seed: a stateless [2] seed."""
    for i, name in enumerate(names):
        step_seed = tf.random.experimental.stateless_fold_in(seed, i)
        x = {"shift": time_shift, "gain": gain}[name](x, step_seed)
    return x


def time_shift(x, seed):
    """Each example moved by its own whole number of samples; what moves out is dropped."""
    length = tf.shape(x)[1]
    max_shift = tf.cast(tf.cast(length, tf.float32) * SHIFT_FRACTION, tf.int32)
    shifts = tf.random.stateless_uniform([tf.shape(x)[0], 1], seed, -max_shift, max_shift + 1, dtype=tf.int32)
    source = tf.range(length)[None, :] - shifts  # [B, T]: which sample lands at each position
    inside = (source >= 0) & (source < length)
    moved = tf.gather(x, tf.clip_by_value(source, 0, length - 1), axis=1, batch_dims=1)
    return moved * tf.cast(inside, x.dtype)[:, :, None]


def gain(x, seed):
    decibels = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1], seed, -GAIN_DB, GAIN_DB)
    return x * tf.cast(10.0 ** (decibels / 20.0), x.dtype)
