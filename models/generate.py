"""Audio from exported models (generate) and from training checkpoints (preview)."""
from __future__ import annotations

import glob
import os
import sys

import numpy as np
import tensorflow as tf

from models.audio import write_wav
from models.config import ConfigError
from models.errors import PathError
from models.export import SAMPLE_SIGNATURE, SERVING_SIGNATURE, load_exported, sample_latents
from models.labels import file_part, known_labels, label_name, resolve_label
from models.train import CHECKPOINT_DIR, load_run_config, preview_latents
from models.wavegan import Generator


def generate_wavs(model_dir: str, out_dir: str, n: int = 16, seed: int = 0, label=None,
                  truncation: float = 1.0) -> list:
    """Writes n clips sampled from `seed` with the model's own `sample` signature; `label` is a
    class name or index (models.labels), and the files carry the class name. truncation < 1 pulls
    the seed's latents towards the centre of the latent space (the truncation trick): less variety,
    clips nearer the model's typical sound of each class."""
    model, cfg = load_exported(model_dir)
    if n <= 0:
        raise ConfigError("--n must be positive")
    draw = seeded_draw(model, cfg, truncation)
    if label is None and not cfg.conditional:
        index, prefix = None, ""
    else:
        index = resolve_label(label, cfg)
        prefix = file_part(label_name(cfg, index)) + "_"
        if not cfg.label_names:
            print(f"note: {known_labels(cfg)}", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    audio = draw(n, seed, index)
    paths = []
    for i, clip in enumerate(audio):
        path = os.path.join(out_dir, f"{prefix}seed{seed}_{i:04d}.wav")
        write_wav(path, clip, cfg.sample_rate)
        paths.append(path)
    return paths


def audio_from_latents(model, z, labels, cfg):
    """audio [n, slice_len, ch] for latents z [n, latent_dim] (and class indices, conditional models)
    through an exported model's serving signature."""
    inputs = {"z": tf.constant(z, tf.float32)}
    if cfg.conditional:
        inputs["label"] = tf.constant(np.asarray(labels, np.int32))
    return model.signatures[SERVING_SIGNATURE](**inputs)["audio"].numpy()


def seeded_draw(model, cfg, truncation: float = 1.0):
    """draw(count, seed, class index or None) -> audio: the exported model's `sample` signature, or
    below truncation 1 the latents it would draw from that seed, scaled, through its serving signature."""
    if not 0 < truncation <= 1:
        raise ConfigError("--truncation must be in (0, 1]")

    def draw(count: int, seed: int, index=None):
        if truncation < 1:
            z = truncation * sample_latents(count, tf.constant(seed, tf.int64), cfg.latent_dim).numpy()
            return audio_from_latents(model, z, None if index is None else np.full([count], index), cfg)
        inputs = {"count": tf.constant(count, tf.int32), "seed": tf.constant(seed, tf.int64)}
        if index is not None:
            inputs["label"] = tf.constant(index, tf.int32)
        return model.signatures[SAMPLE_SIGNATURE](**inputs)["audio"].numpy()
    return draw


def sample_clips(model_dir: str, count: int, seed: int = 0, truncation: float = 1.0):
    """(audio [count, slice_len, ch], labels [count] or None) from an exported model's `sample`
    signature (seeded_draw); a conditional model gets the classes in equal shares (class k from seed + k)."""
    model, cfg = load_exported(model_dir)
    draw = seeded_draw(model, cfg, truncation)
    if not cfg.conditional:
        return draw(count, seed), None
    labels = np.arange(count) % cfg.num_classes
    audio = np.zeros([count, cfg.slice_len, cfg.num_channels], np.float32)
    for k in range(min(cfg.num_classes, count)):
        rows = np.flatnonzero(labels == k)
        audio[rows] = draw(len(rows), seed + k, k)
    return audio, labels


def write_previews(run_dir: str, out_dir: str) -> dict:
    """{step: [wav paths]} of the fixed preview latents for every checkpoint kept."""
    cfg = load_run_config(run_dir)
    generator = Generator(cfg)
    # The averaged generator when the run keeps one: that is the audio the run's export makes.
    checkpoint = tf.train.Checkpoint(**{"generator_ema" if cfg.g_ema_decay else "generator": generator})
    z, labels = preview_latents(cfg)
    index_files = sorted(glob.glob(os.path.join(run_dir, CHECKPOINT_DIR, "ckpt-*.index")),
                         key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
    if not index_files:
        raise PathError(f"no checkpoints in {run_dir}")
    written = {}
    for index_file in index_files:
        prefix = index_file[: -len(".index")]
        step = int(prefix.rsplit("-", 1)[1])
        checkpoint.restore(prefix).expect_partial()
        audio = generator(z, labels, training=False).numpy()
        folder = os.path.join(out_dir, f"step_{step:07d}")
        os.makedirs(folder, exist_ok=True)
        written[step] = []
        for i, clip in enumerate(audio):
            path = os.path.join(folder, f"preview_{i}.wav")
            write_wav(path, clip, cfg.sample_rate)
            written[step].append(path)
    return written
