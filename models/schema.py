"""The one definition of the training example: written by ingest, read by the trainer.

Each tf.train.Example holds one fixed-length audio slice, interleaved
[slice_len, channels] float32 in [-1, 1], plus where it came from.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

AUDIO = "audio"              # float list, slice_len * channels
LABEL = "label"              # int64, index into the label vocabulary; -1 = unlabelled
LABEL_NAME = "label_name"    # bytes, the label as text ("" = unlabelled): TFDV sees new labels
SOURCE_ID = "source_id"      # bytes, the source file's path relative to the data root
OFFSET = "offset"            # int64, first sample of the slice in the (resampled) source
SAMPLE_RATE = "sample_rate"  # int64, Hz
# Per-slice statistics, for data validation (TFDV) rather than training.
RMS = "rms"
PEAK = "peak"
CLIP_RATIO = "clip_ratio"
SOURCE_DURATION = "source_duration"  # seconds
SOURCE_SAMPLE_RATE = "source_sample_rate"  # int64, Hz: the file's own rate, before resampling

NO_LABEL = -1
CLIP_LEVEL = 0.999


def slice_stats(audio: np.ndarray) -> dict:
    """RMS level, peak and fraction of clipped samples of one slice."""
    flat = np.abs(audio.astype(np.float32).ravel())
    return {RMS: float(np.sqrt(np.mean(np.square(flat)))), PEAK: float(flat.max(initial=0.0)),
            CLIP_RATIO: float(np.mean(flat >= CLIP_LEVEL))}


def make_example(audio: np.ndarray, *, sample_rate: int, source_id: str, offset: int,
                 label: int = NO_LABEL, label_name: str = "", source_duration: float = 0.0,
                 source_sample_rate: int = 0) -> tf.train.Example:
    """Builds the Example for one slice; `audio` is [slice_len, channels] float32."""
    stats = slice_stats(audio)
    floats = lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=v))  # noqa: E731
    ints = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))  # noqa: E731
    feature = {
        AUDIO: floats(audio.astype(np.float32).ravel()),
        LABEL: ints([int(label)]),
        LABEL_NAME: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label_name.encode()])),
        SOURCE_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[source_id.encode()])),
        OFFSET: ints([int(offset)]),
        SAMPLE_RATE: ints([int(sample_rate)]),
        RMS: floats([stats[RMS]]),
        PEAK: floats([stats[PEAK]]),
        CLIP_RATIO: floats([stats[CLIP_RATIO]]),
        SOURCE_DURATION: floats([float(source_duration)]),
        SOURCE_SAMPLE_RATE: ints([int(source_sample_rate or sample_rate)]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def feature_spec(slice_len: int, num_channels: int) -> dict:
    """tf.io parsing spec for the training features."""
    return {
        AUDIO: tf.io.FixedLenFeature([slice_len * num_channels], tf.float32),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=NO_LABEL),
        SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
        OFFSET: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        SAMPLE_RATE: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
