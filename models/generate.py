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
from models.export import SAMPLE_SIGNATURE, load_exported
from models.labels import file_part, known_labels, label_name, resolve_label
from models.train import CHECKPOINT_DIR, load_run_config, preview_latents
from models.wavegan import Generator


def generate_wavs(model_dir: str, out_dir: str, n: int = 16, seed: int = 0, label=None,
                  batch_size: int = 64) -> list:
    """Writes n clips sampled from `seed` with the model's own `sample` signature; `label` is a
    class name or index (models.labels), and the files carry the class name."""
    model, cfg = load_exported(model_dir)
    if n <= 0:
        raise ConfigError("--n must be positive")
    if label is None and not cfg.conditional:
        index, prefix = None, ""
    else:
        index = resolve_label(label, cfg)
        prefix = file_part(label_name(cfg, index)) + "_"
        if not cfg.label_names:
            print(f"note: {known_labels(cfg)}", file=sys.stderr)
    sample = model.signatures[SAMPLE_SIGNATURE]
    os.makedirs(out_dir, exist_ok=True)
    inputs = {"count": tf.constant(n, tf.int32), "seed": tf.constant(seed, tf.int64)}
    if index is not None:
        inputs["label"] = tf.constant(index, tf.int32)
    audio = sample(**inputs)["audio"].numpy()
    paths = []
    for i, clip in enumerate(audio):
        path = os.path.join(out_dir, f"{prefix}seed{seed}_{i:04d}.wav")
        write_wav(path, clip, cfg.sample_rate)
        paths.append(path)
    return paths


def sample_clips(model_dir: str, count: int, seed: int = 0):
    """(audio [count, slice_len, ch], labels [count] or None) from an exported model's `sample`
    signature; a conditional model gets the classes in equal shares (class k from seed + k)."""
    model, cfg = load_exported(model_dir)
    sample = model.signatures[SAMPLE_SIGNATURE]
    if not cfg.conditional:
        audio = sample(count=tf.constant(count), seed=tf.constant(seed, tf.int64))["audio"].numpy()
        return audio, None
    labels = np.arange(count) % cfg.num_classes
    audio = np.zeros([count, cfg.slice_len, cfg.num_channels], np.float32)
    for k in range(min(cfg.num_classes, count)):
        rows = np.flatnonzero(labels == k)
        audio[rows] = sample(count=tf.constant(len(rows)), seed=tf.constant(seed + k, tf.int64),
                             label=tf.constant(k))["audio"].numpy()
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
