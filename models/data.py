"""tf.data input pipelines: TFRecords of the example schema, or a plain audio folder."""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from models import schema
from models.audio import AudioDecodeError, label_name_for, list_audio_files, load_audio, slice_audio
from models.config import ConfigError, WaveGANConfig
from models.errors import WaveGANError

log = logging.getLogger(__name__)


class DataError(WaveGANError, ValueError):
    """The training data cannot be used; the message says why."""


def _batched(ds: tf.data.Dataset, cfg: WaveGANConfig, shuffle: bool) -> tf.data.Dataset:
    if shuffle:
        ds = ds.shuffle(cfg.shuffle_buffer, seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    return ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def label_table(names: list) -> tf.lookup.StaticHashTable:
    """label_name -> index in the model's names (-1 for any other)."""
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(list(names), tf.string), tf.range(len(names), dtype=tf.int32)), default_value=-1)


def parse_examples(serialized, cfg: WaveGANConfig, labels: tf.lookup.StaticHashTable = None):
    """Batch of serialized Examples -> (audio [B, slice_len, ch], label int32 [B]).

    With a label table the label comes from label_name: each span's integer labels index
    its own vocabulary, so spans with different label sets only agree by name.
    """
    spec = schema.feature_spec(cfg.slice_len, cfg.num_channels)
    if labels is not None:
        spec[schema.LABEL_NAME] = tf.io.FixedLenFeature([], tf.string, default_value="")
    parsed = tf.io.parse_example(serialized, spec)
    audio = tf.reshape(parsed[schema.AUDIO], [-1, cfg.slice_len, cfg.num_channels])
    if labels is not None:
        return audio, labels.lookup(parsed[schema.LABEL_NAME])
    return audio, tf.cast(parsed[schema.LABEL], tf.int32)


def tfrecord_dataset(file_pattern, cfg: WaveGANConfig, shuffle: bool = True) -> tf.data.Dataset:
    """Endless, shuffled, batched (audio, label) from TFRecord files (gzip or not), streamed.

    A conditional config with label_names takes each slice's label by its name.
    """
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
    labels = label_table(cfg.label_names) if cfg.conditional and cfg.label_names else None
    return ds.map(lambda s: parse_examples(s, cfg, labels), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


class FolderData:
    """Decoded slices of an audio folder, with labels and where each slice came from."""

    def __init__(self, audio, labels, vocabulary, skipped, sources, longest_file: int = 0):
        self.audio, self.labels, self.vocabulary = audio, labels, vocabulary
        self.skipped, self.sources = skipped, sources
        self.longest_file = longest_file  # samples, at the config's rate

    def check_fills(self, cfg: WaveGANConfig) -> None:
        """A slice that even the longest file fills less than half of trains mostly on padding."""
        if self.longest_file and 2 * self.longest_file < cfg.slice_len:
            raise ConfigError(f"invalid slice_len={cfg.slice_len}: the longest file is {self.longest_file} samples "
                              f"({self.longest_file / cfg.sample_rate:.2f} s at {cfg.sample_rate} Hz), under half a "
                              f"slice; use a shorter --slice-len (4096, 8192, 16384)")

    def split(self, eval_percent: int):
        """(train, eval) by source file (models.splits), so a recording's slices stay together."""
        from models.splits import eval_sources
        label_of = dict(zip(self.sources, (int(label) for label in self.labels)))
        held_out = eval_sources(self.sources, label_of.get, eval_percent)
        is_eval = np.array([s in held_out for s in self.sources], bool)
        return self.subset(~is_eval), self.subset(is_eval)

    def subset(self, mask: np.ndarray) -> "FolderData":
        """The slices where mask is true, with their labels and sources."""
        return FolderData(self.audio[mask], self.labels[mask], self.vocabulary, self.skipped,
                          [s for s, keep in zip(self.sources, mask) if keep])


def load_folder(data_dir: str, cfg: WaveGANConfig, label_source: str = "folder") -> FolderData:
    """Decodes every audio file under data_dir into slices, in memory.

    Labels (conditional configs, or label_source given explicitly) come from the parent
    folder's name or the file-name prefix (models.audio.label_name_for), as a sorted
    vocabulary. Files directly in data_dir have no folder label. Undecodable files are
    skipped and listed with their reason.
    """
    files = list_audio_files(data_dir)
    if not files:
        raise DataError(f"no audio files under {data_dir}")
    root = os.path.abspath(data_dir)
    names = {f: label_name_for(os.path.abspath(f), label_source, root) for f in files}
    vocabulary = sorted({n for n in names.values() if n})
    if cfg.conditional and len(vocabulary) != cfg.num_classes:
        raise DataError(f"num_classes={cfg.num_classes} but {data_dir} has {len(vocabulary)} labels "
                        f"({label_source} names)")
    slices, labels, skipped, sources, longest = [], [], [], [], 0
    for path in files:
        try:
            audio = load_audio(path, cfg.sample_rate, cfg.num_channels)
        except (AudioDecodeError, RuntimeError, OSError) as error:
            skipped.append((path, str(error)))
            log.warning("skipped %s: %s", path, error)
            continue
        label = vocabulary.index(names[path]) if names[path] else schema.NO_LABEL
        longest = max(longest, len(audio))
        for _, piece in slice_audio(audio, cfg.slice_len):
            slices.append(piece)
            labels.append(label)
            sources.append(os.path.relpath(path, root))
    if not slices:
        raise DataError(f"no valid audio under {data_dir} ({len(skipped)} files skipped)")
    return FolderData(np.stack(slices).astype(np.float32), np.asarray(labels, np.int32), vocabulary, skipped,
                      sources, longest)


def read_split(examples_uri: str, split: str, cfg: WaveGANConfig, limit: int):
    """(audio [n, slice_len, ch], labels [n], label names by index) of one split of an Examples artifact."""
    import glob
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit).batch(64)
    audio, labels, names = [], [], {}
    spec = {schema.LABEL_NAME: tf.io.FixedLenFeature([], tf.string, default_value="")}
    for serialized in ds:
        a, l = parse_examples(serialized, cfg)
        audio.append(a.numpy())
        labels.append(l.numpy())
        for label, name in zip(labels[-1], tf.io.parse_example(serialized, spec)[schema.LABEL_NAME].numpy()):
            names.setdefault(int(label), name.decode())
    if not audio:
        return np.zeros([0, cfg.slice_len, cfg.num_channels], np.float32), np.zeros([0], np.int32), {}
    return np.concatenate(audio), np.concatenate(labels), names


def folder_dataset(data_dir: str, cfg: WaveGANConfig):
    """(dataset, vocabulary, skipped) for quick training straight from audio files."""
    data = load_folder(data_dir, cfg)
    log.info("loaded %d slices from %s (%d files skipped)", len(data.audio), data_dir, len(data.skipped))
    return in_memory_dataset(data, cfg), data.vocabulary, data.skipped


def in_memory_dataset(data: FolderData, cfg: WaveGANConfig) -> tf.data.Dataset:
    """Endless, shuffled, batched (audio, label) from decoded slices."""
    return _batched(tf.data.Dataset.from_tensor_slices((data.audio, data.labels)), cfg, shuffle=True)
