"""Search by example: latent vectors whose generated audio sounds closest to a target clip.

GAN inversion by gradient descent on z from several random starts, against a
multi-resolution log-magnitude STFT distance of level-normalised clips (the level of a
user's recording says nothing about which sound it is), plus, when the model carries the
data's judge, the distance between the judge's embeddings (what it hears as the same sound).
z = tanh(w) keeps every step inside the prior's range [-1, 1]. It is all TensorFlow ops with a fixed number of steps,
so the export carries it as the `search` signature and TF Serving runs it unchanged.
"""
from __future__ import annotations

import tensorflow as tf

SEARCH_STEPS = 40
SEARCH_LEARNING_RATE = 0.05
FFT_SIZES = (256, 1024)
SILENCE_RMS = 1e-4


def _normalised(audio):
    """[n, samples, ch] -> [n, samples] mono at unit RMS."""
    mono = tf.reduce_mean(audio, axis=-1)
    return mono / tf.maximum(_rms(mono), SILENCE_RMS)


def spectral_distance(generated, target):
    """Mean |log|STFT(g)| - log|STFT(t)|| over FFT_SIZES, per generated clip: [n] (target broadcasts)."""
    total = 0.0
    for size in FFT_SIZES:
        spectra = [tf.math.log(tf.abs(tf.signal.stft(x, size, size // 4, pad_end=True)) + 1e-3)
                   for x in (_normalised(generated), _normalised(target))]
        total += tf.reduce_mean(tf.abs(spectra[0] - spectra[1]), axis=[1, 2])
    return total / len(FFT_SIZES)


def judge_distance(embed):
    """distance(generated, target) -> [n]: 1 - cosine similarity of the judge's embeddings, what the
    judge hears as the same kind of sound (an STFT distance also counts where in time it happens).
    embed(mono [n, samples]) -> [n, dim]. The target is set to each clip's level first: the judge
    hears level, a user's recording's level says nothing."""
    def distance(generated, target):
        mono, target_mono = tf.reduce_mean(generated, -1), tf.reduce_mean(target, -1)
        level = tf.stop_gradient(_rms(mono) / tf.maximum(_rms(target_mono), SILENCE_RMS))
        a, b = embed(mono), embed(target_mono * level)
        norms = tf.norm(a, axis=-1) * tf.norm(b, axis=-1)
        return 1.0 - tf.reduce_sum(a * b, axis=-1) / tf.maximum(norms, 1e-6)
    return distance


def _rms(mono):
    return tf.sqrt(tf.reduce_mean(tf.square(mono), axis=1, keepdims=True))


def distance_parts(judge_embed=None) -> dict:
    """The search distance's parts by name: the STFT distance, and the judge's when the model carries
    one, summed unweighted. Both are 0 for the same clip; the judge's is at most 1 (its embeddings are
    ReLU outputs), the STFT distance about 1-2 between unrelated generated clips."""
    parts = {"spectral_distance": spectral_distance}
    if judge_embed is not None:
        parts["judge_distance"] = judge_distance(judge_embed)
    return parts


def total_distance(parts: dict, audio, target):
    """The search distance: the sum of its parts, per clip [n]."""
    return tf.add_n([part(audio, target) for part in parts.values()])


def fit_target(target, slice_len: int):
    """[samples, ch] -> [1, slice_len, ch]: cropped or zero-padded at the end; a silent target is an error."""
    target = target[:slice_len]
    target = tf.pad(target, [[0, slice_len - tf.shape(target)[0]], [0, 0]])[None]
    rms = tf.sqrt(tf.reduce_mean(tf.square(target)))
    check = tf.debugging.Assert(rms > SILENCE_RMS, ["the target is silent: there is nothing to match"])
    with tf.control_dependencies([check]):
        return tf.identity(target)


def search(generate, target, z0, parts=None, steps: int = SEARCH_STEPS,
           learning_rate: float = SEARCH_LEARNING_RATE):
    """(z [n, latent], audio, distances {name: [n]}) sorted best first, from starts z0 [n, latent] in (-1, 1).

    generate(z) -> audio [n, slice_len, ch]; target [1, slice_len, ch]; parts: distance_parts(),
    whose sum is minimised and returned as "distance". Adam on w = atanh(z)."""
    parts = parts or distance_parts()
    w = tf.math.atanh(tf.clip_by_value(z0, -0.999, 0.999))
    m, v = tf.zeros_like(w), tf.zeros_like(w)

    def step(i, w, m, v):
        with tf.GradientTape() as tape:
            tape.watch(w)
            loss = tf.reduce_sum(total_distance(parts, generate(tf.tanh(w)), target))
        grad = tape.gradient(loss, w)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * tf.square(grad)
        t = tf.cast(i + 1, tf.float32)
        w = w - learning_rate * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return i + 1, w, m, v

    _, w, _, _ = tf.while_loop(lambda i, *_: i < steps, step, [tf.constant(0), w, m, v])
    z = tf.tanh(w)
    audio = generate(z)
    distances = {name: part(audio, target) for name, part in parts.items()}
    distances["distance"] = tf.add_n(list(distances.values()))
    order = tf.argsort(distances["distance"])
    return tf.gather(z, order), tf.gather(audio, order), {k: tf.gather(d, order) for k, d in distances.items()}


def variations(z, amount: float, count: int, seed: int):
    """count latent vectors around z [latent]: z + amount * N(0, 1), kept in [-1, 1]."""
    noise = tf.random.stateless_normal([count, z.shape[-1]], seed=[seed, 1])
    return tf.clip_by_value(z[None] + amount * noise, -1.0, 1.0)
