"""tf.data input pipelines: TFRecords of the example schema, or a plain audio folder."""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from models import schema
from models.audio import AudioDecodeError, list_audio_files, load_audio, slice_audio
from models.config import WaveGANConfig

log = logging.getLogger(__name__)


class DataError(ValueError):
    """The training data cannot be used; the message says why."""


def _batched(ds: tf.data.Dataset, cfg: WaveGANConfig, shuffle: bool) -> tf.data.Dataset:
    if shuffle:
        ds = ds.shuffle(cfg.shuffle_buffer, seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    return ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def parse_examples(serialized, cfg: WaveGANConfig):
    """Batch of serialized Examples -> (audio [B, slice_len, ch], label int32 [B])."""
    parsed = tf.io.parse_example(serialized, schema.feature_spec(cfg.slice_len, cfg.num_channels))
    audio = tf.reshape(parsed[schema.AUDIO], [-1, cfg.slice_len, cfg.num_channels])
    return audio, tf.cast(parsed[schema.LABEL], tf.int32)


def tfrecord_dataset(file_pattern, cfg: WaveGANConfig, shuffle: bool = True) -> tf.data.Dataset:
    """Endless, shuffled, batched (audio, label) from TFRecord files (gzip or not)."""
    files = tf.io.gfile.glob(file_pattern) if isinstance(file_pattern, str) else list(file_pattern)
    if not files:
        raise DataError(f"no TFRecord files match {file_pattern}")
    compression = "GZIP" if files[0].endswith(".gz") else None
    ds = tf.data.Dataset.from_tensor_slices(sorted(files))
    if shuffle:
        ds = ds.shuffle(len(files), seed=cfg.seed)
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type=compression),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if shuffle:
        ds = ds.shuffle(cfg.shuffle_buffer, seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.repeat().batch(cfg.batch_size, drop_remainder=True)
    return ds.map(lambda s: parse_examples(s, cfg), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def load_folder(data_dir: str, cfg: WaveGANConfig):
    """Decodes every audio file under data_dir into slices, in memory.

    Labels come from the parent folder's name (sorted vocabulary) when the config is
    conditional. Undecodable files are skipped and returned with their reason.
    Returns (audio [N, slice_len, ch], labels [N], vocabulary, skipped [(path, reason)]).
    """
    files = list_audio_files(data_dir)
    if not files:
        raise DataError(f"no audio files under {data_dir}")
    vocabulary = sorted({os.path.basename(os.path.dirname(f)) for f in files})
    if cfg.conditional and len(vocabulary) != cfg.num_classes:
        raise DataError(f"num_classes={cfg.num_classes} but {data_dir} has {len(vocabulary)} label folders")
    slices, labels, skipped = [], [], []
    for path in files:
        try:
            audio = load_audio(path, cfg.sample_rate, cfg.num_channels)
        except (AudioDecodeError, RuntimeError, OSError) as error:
            skipped.append((path, str(error)))
            log.warning("skipped %s: %s", path, error)
            continue
        label = vocabulary.index(os.path.basename(os.path.dirname(path))) if cfg.conditional else -1
        for _, piece in slice_audio(audio, cfg.slice_len):
            slices.append(piece)
            labels.append(label)
    if not slices:
        raise DataError(f"no valid audio under {data_dir} ({len(skipped)} files skipped)")
    return np.stack(slices).astype(np.float32), np.asarray(labels, np.int32), vocabulary, skipped


def folder_dataset(data_dir: str, cfg: WaveGANConfig):
    """(dataset, vocabulary, skipped) for quick training straight from audio files."""
    audio, labels, vocabulary, skipped = load_folder(data_dir, cfg)
    log.info("loaded %d slices from %s (%d files skipped)", len(audio), data_dir, len(skipped))
    ds = tf.data.Dataset.from_tensor_slices((audio, labels))
    return _batched(ds, cfg, shuffle=True), vocabulary, skipped
