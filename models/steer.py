"""Steering an exported model: search by example, variations, and audio from saved latent vectors.

A latent file (.npz) holds `z` [n, latent_dim] and, for conditional models, `label`
[n] (class indices), so whatever `search` or `vary` found can be generated again.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from models.audio import AudioDecodeError, load_audio, write_wav
from models.config import ConfigError
from models.export import SEARCH_SIGNATURE, load_exported
from models.generate import audio_from_latents
from models.labels import file_part, label_name, resolve_label

MAX_STARTS = 64


def _label_index(cfg, label):
    """The class index to condition on (None for unconditional models)."""
    if label is None and not cfg.conditional:
        return None
    return resolve_label(label, cfg)


def read_target(path: str, cfg) -> tuple:
    """(audio [samples, ch] at the model's rate, note): a long target is cropped to the model's slice."""
    try:
        audio = load_audio(path, cfg.sample_rate, cfg.num_channels)
    except AudioDecodeError as error:
        raise ConfigError(f"cannot read the target {path}: {error}") from None
    if not audio.size or np.sqrt(np.mean(np.square(audio))) <= 1e-4:
        raise ConfigError(f"the target {path} is silent: there is nothing to match")
    note = ""
    if len(audio) > cfg.slice_len:
        note = (f"the target is {len(audio) / cfg.sample_rate:.2f} s; the model makes "
                f"{cfg.slice_len / cfg.sample_rate:.2f} s clips: matching its first {cfg.slice_len} samples")
        audio = audio[:cfg.slice_len]
    return audio.astype(np.float32), note


def search_wavs(model_dir: str, target_path: str, out_dir: str, n: int = 8, label=None, seed: int = 0) -> dict:
    """The n best of 2n starts: WAVs, one latent file for all, and matches.json with their distances."""
    model, cfg = load_exported(model_dir)
    if SEARCH_SIGNATURE not in model.signatures:
        raise ConfigError(f"{model_dir} was exported before search by example: retrain or re-export it")
    if not 1 <= n <= MAX_STARTS // 2:
        raise ConfigError(f"--n must be in [1, {MAX_STARTS // 2}]")
    index = _label_index(cfg, label)
    target, note = read_target(target_path, cfg)
    inputs = {"target": tf.constant(target[None]), "count": tf.constant(2 * n), "seed": tf.constant(seed, tf.int64)}
    if index is not None:
        inputs["label"] = tf.constant(index)
    found = {k: v.numpy()[:n] for k, v in model.signatures[SEARCH_SIGNATURE](**inputs).items()}
    labels = None if index is None else np.full([n], index)
    matches = _write(out_dir, "match", found["audio"], found["z"], labels, cfg)
    parts = [k for k in ("distance", "spectral_distance", "judge_distance") if k in found]
    for i, match in enumerate(matches):
        match.update({k: round(float(found[k][i]), 4) for k in parts})
    summary = {"target": os.path.abspath(target_path), "note": note, "matches": matches}
    with open(os.path.join(out_dir, "matches.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def read_latents(path: str, cfg) -> tuple:
    """(z [n, latent_dim], labels [n] or None) from a latent file; the wrong size is one clear line."""
    try:
        with np.load(path) as data:
            z = np.atleast_2d(np.asarray(data["z"], np.float32))
            labels = np.atleast_1d(data["label"]).astype(np.int32) if "label" in data else None
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(f"cannot read latent file {path} (an .npz with z, as search and vary write): "
                          f"{error}") from None
    if z.ndim != 2 or z.shape[1] != cfg.latent_dim:
        raise ConfigError(f"latent file {path} holds vectors of {z.shape[-1]} values; this model takes "
                          f"{cfg.latent_dim}")
    return z, labels


def _labels_for(cfg, count: int, label, saved):
    """Class indices for `count` vectors: `label` when given, else the latent file's own, else none."""
    if not cfg.conditional:
        return _label_index(cfg, label)  # an error if a label is given
    if label is None and saved is not None:
        if saved.min() < 0 or saved.max() >= cfg.num_classes:
            raise ConfigError(f"the latent file's labels are not classes of this model ([0, {cfg.num_classes}))")
        return np.broadcast_to(saved, [count]).copy()
    return np.full([count], resolve_label(label, cfg))


def vary_wavs(model_dir: str, latent_path: str, out_dir: str, amount: float = 0.2, n: int = 8,
              seed: int = 0, label=None, index: int = 0) -> list:
    """n variations around vector `index` of a latent file (with its label, unless one is given)."""
    model, cfg = load_exported(model_dir)
    if not 0 < amount <= 2:
        raise ConfigError("--amount must be in (0, 2]")
    z, saved = read_latents(latent_path, cfg)
    if not 0 <= index < len(z):
        raise ConfigError(f"--index {index}: the latent file holds {len(z)} vectors")
    from models.search import variations
    around = variations(tf.constant(z[index]), amount, n, seed).numpy()
    labels = _labels_for(cfg, n, label, None if saved is None else saved[min(index, len(saved) - 1)])
    return _write(out_dir, "variation", audio_from_latents(model, around, labels, cfg), around, labels, cfg)


def latent_wavs(model_dir: str, latent_path: str, out_dir: str, label=None) -> list:
    """Audio from every vector of a latent file, with the file's labels (or `label`)."""
    model, cfg = load_exported(model_dir)
    z, saved = read_latents(latent_path, cfg)
    labels = _labels_for(cfg, len(z), label, saved)
    return _write(out_dir, "latent", audio_from_latents(model, z, labels, cfg), z, labels, cfg)


def _write(out_dir: str, stem: str, audio, z, labels, cfg) -> list:
    """<stem>_<i>[_<class>].wav per clip and <stem>_latents.npz with every vector: [{wav, latent, index, label}]."""
    os.makedirs(out_dir, exist_ok=True)
    latent_file = os.path.join(out_dir, f"{stem}_latents.npz")
    np.savez(latent_file, z=z, **({} if labels is None else {"label": np.asarray(labels, np.int32)}))
    written = []
    for i, clip in enumerate(audio):
        name = "" if labels is None else label_name(cfg, int(labels[i]))
        path = os.path.join(out_dir, f"{stem}_{i:02d}" + (f"_{file_part(name)}" if name else "") + ".wav")
        write_wav(path, clip, cfg.sample_rate)
        written.append({"wav": path, "latent": latent_file, "index": i, "label": name})
    return written
