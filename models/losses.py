"""GAN losses as per-example tensors, so distributed training can average them.

Definitions match the WaveGAN reference implementation (train_wavegan.py); hinge and
the R1 penalty are the cheaper critics of SAGAN/BigGAN and StyleGAN2. A critic that
returns one score per branch ([B, K]: waveform and spectral) gets each loss per branch,
summed.
"""
from __future__ import annotations

import tensorflow as tf


def discriminator_loss(kind: str, d_real, d_fake):
    """Per-example critic loss for scores on real and generated audio."""
    if kind == "dcgan":  # binary cross-entropy on logits, two terms averaged
        return (tf.nn.softplus(-d_real) + tf.nn.softplus(d_fake)) / 2.0
    if kind == "lsgan":
        return (tf.square(d_real - 1.0) + tf.square(d_fake)) / 2.0
    if kind in ("wgan", "wgan-gp"):
        return d_fake - d_real
    if kind == "hinge":  # Lim & Ye 2017; SAGAN, BigGAN
        return tf.nn.relu(1.0 - d_real) + tf.nn.relu(1.0 + d_fake)
    raise ValueError(f"unknown loss {kind!r}")


def generator_loss(kind: str, d_fake):
    """Per-example generator loss for the critic's scores on generated audio."""
    if kind == "dcgan":
        return tf.nn.softplus(-d_fake)
    if kind == "lsgan":
        return tf.square(d_fake - 1.0)
    if kind in ("wgan", "wgan-gp", "hinge"):
        return -d_fake
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(critic, real, fake, label=None, alpha=None, phase_seed=None):
    """Per-example (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = real + alpha (fake - real).

    alpha ~ U[0, 1] per example unless given (Gulrajani et al., 2017); phase_seed
    goes to the critic's phase shuffle.
    """
    if alpha is None:
        alpha = tf.random.uniform([tf.shape(real)[0], 1, 1], 0.0, 1.0)
    interpolates = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = (critic(interpolates, label, training=True) if phase_seed is None
                  else critic(interpolates, label, training=True, phase_seed=phase_seed))
    grads = tape.gradient(scores, interpolates)
    slopes = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2]) + 1e-12)
    return tf.square(slopes - 1.0)


def r1_penalty(critic, real, label=None, phase_seed=None):
    """Per-example ||grad_x D(x)||^2 on real audio (Mescheder et al., 2018): the critic is
    pushed to be flat on the data, with no generated clips in the penalty (cheaper than GP)."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = critic(real, label, training=True, phase_seed=phase_seed)
    grads = tape.gradient(scores, real)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2])


def spectral_r1_penalty(branch, real, label=None):
    """Per-example ||grad_S D(S)||^2 at a real clip's log spectrogram S: R1 for a spectral critic
    branch in its own input space. Through the STFT the input gradient near silence is 1e6 times
    the waveform critic's, so the waveform's R1 would be dominated by it; unpenalised, the branch
    overfits and the generator collapsed (README "Choosing the recipe")."""
    features = branch.features(real)
    with tf.GradientTape() as tape:
        tape.watch(features)
        scores = branch.score(features, label)
    grads = tape.gradient(scores, features)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2])
