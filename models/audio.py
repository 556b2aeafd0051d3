"""Decoding, resampling, slicing and writing audio: shared by training and ingest.

Files are decoded in blocks and resampled with a streaming resampler, so memory
stays flat whatever a file's length. Every failure is an AudioDecodeError whose
message is the reason reported for that file.
"""
from __future__ import annotations

import os
from typing import Iterator, Optional, Tuple

import numpy as np

from models.errors import WaveGANError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".m4a", ".aac")
FFMPEG_EXTENSIONS = (".m4a", ".aac")  # not libsndfile's: decoded by audioread with ffmpeg


class AudioDecodeError(WaveGANError):
    """A file could not be turned into audio; the message says why (for reports)."""


def list_audio_files(root: str) -> list:
    """Files under `root` with an audio extension, sorted (local or any tf.io.gfile path)."""
    import tensorflow as tf
    found = []
    for folder, _, names in tf.io.gfile.walk(root):
        found.extend(os.path.join(folder, n) for n in names if n.lower().endswith(AUDIO_EXTENSIONS))
    return sorted(found)


def fit_channels(data: np.ndarray, num_channels: int) -> np.ndarray:
    """Mixes down to mono, or repeats/truncates channels to `num_channels`."""
    if data.shape[1] == num_channels:
        return data
    if num_channels == 1:
        return data.mean(axis=1, keepdims=True)
    if data.shape[1] == 1:
        return np.repeat(data, num_channels, axis=1)
    if data.shape[1] > num_channels:
        return data[:, :num_channels]
    raise AudioDecodeError(f"has {data.shape[1]} channels, cannot make {num_channels}")


def _check_finite(block: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(block)):
        raise AudioDecodeError("contains NaN or Inf samples")
    return block


def declared_wav_frames(path: str) -> Optional[int]:
    """Frames a WAV header declares (data chunk size / frame size). None for other formats, and
    when the writer left the size open (0 or 0xFFFFFFFF, as streaming writers do)."""
    import struct
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF" or len(f.read(4)) < 4 or f.read(4) != b"WAVE":
            return None
        frame_bytes = 0
        while len(header := f.read(8)) == 8:
            chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"data":
                return size // frame_bytes if frame_bytes and size not in (0, 0xFFFFFFFF) else None
            body = f.read(size + (size & 1)) if chunk == b"fmt " else f.seek(size + (size & 1), 1)
            if chunk == b"fmt " and len(body) >= 14:
                frame_bytes = struct.unpack("<H", body[12:14])[0]
    return None


def _raw_blocks(path: str, block_frames: int) -> Tuple[int, Iterator[np.ndarray]]:
    """(rate, blocks of float32 [n, ch]) at the file's rate.

    libsndfile (WAV, FLAC, OGG, MP3, AIFF, ...) streams; other formats (M4A/AAC)
    go through audioread/ffmpeg and are read whole.
    """
    import soundfile as sf
    try:
        handle = sf.SoundFile(path)
    except Exception as sf_error:  # noqa: BLE001 - libsndfile's reason is the report's
        if path.lower().endswith(FFMPEG_EXTENSIONS):
            return _audioread_blocks(path, block_frames)
        reason = str(sf_error).split(": ", 1)[-1].strip() or type(sf_error).__name__
        raise AudioDecodeError(f"corrupt, unsupported or not audio: {reason}") from None

    def blocks():
        with handle:
            while True:
                try:
                    block = handle.read(block_frames, dtype="float32", always_2d=True)
                except Exception as error:  # noqa: BLE001
                    raise AudioDecodeError(f"corrupt or truncated: {error}") from None
                if not len(block):
                    return
                yield _check_finite(block)
    return handle.samplerate, blocks()


def _audioread_blocks(path, block_frames):
    import warnings
    try:
        import audioread
        import librosa
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(path, sr=None, mono=False, dtype=np.float32)
    except audioread.NoBackendError:
        raise AudioDecodeError("cannot decode this format without ffmpeg (install ffmpeg)") from None
    except Exception as error:  # noqa: BLE001
        raise AudioDecodeError(f"corrupt, unsupported or not audio: {type(error).__name__} {error}") from None
    data = data[:, None] if data.ndim == 1 else data.T

    def blocks():
        for start in range(0, len(data), block_frames):
            yield _check_finite(np.ascontiguousarray(data[start:start + block_frames]))
    return int(rate), blocks()


def decode_blocks(path: str, sample_rate: int, num_channels: int = 1,
                  block_seconds: float = 30.0, found: Optional[dict] = None) -> Iterator[np.ndarray]:
    """float32 [n, num_channels] blocks at `sample_rate`, resampled as a stream.

    found, when given, receives the file's own rate as "rate" once decoding has begun.
    """
    if os.path.exists(path) and os.path.getsize(path) == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    rate, blocks = _raw_blocks(path, max(1, int(block_seconds * 48000)))
    if found is not None:
        found["rate"] = int(rate)
    resampler = None
    if rate != sample_rate:
        import soxr
        resampler = soxr.ResampleStream(rate, sample_rate, num_channels, dtype="float32", quality="HQ")
    total = 0
    for block in blocks:
        block = fit_channels(block, num_channels)
        total += len(block)
        if resampler is not None:
            block = resampler.resample_chunk(block)
        if len(block):
            yield block
    if total == 0:
        raise AudioDecodeError("no samples (zero-length audio)")
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros([0, num_channels], np.float32), last=True)
        if len(tail):
            yield tail
    declared = declared_wav_frames(path) if path.lower().endswith(".wav") else None
    if declared is not None and total < declared:
        raise AudioDecodeError(f"truncated: the header declares {declared} frames, the file holds {total}")


def load_audio(path: str, sample_rate: int, num_channels: int = 1) -> np.ndarray:
    """The whole file as float32 [n, num_channels] at `sample_rate`."""
    return np.concatenate(list(decode_blocks(path, sample_rate, num_channels)))


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def scan_levels(blocks, threshold: float):
    """(peak, first index above threshold, last index above threshold + 1, length)."""
    peak, first, last, pos = 0.0, None, 0, 0
    for block in blocks:
        loud = np.nonzero(np.max(np.abs(block), axis=1) > threshold)[0]
        if len(loud):
            first = pos + loud[0] if first is None else first
            last = pos + loud[-1] + 1
        peak = max(peak, float(np.max(np.abs(block))))
        pos += len(block)
    return peak, (first if first is not None else 0), last, pos


def slice_blocks(blocks, slice_len: int, *, hop: int, first_only: bool = False, pad_end: bool = True,
                 start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, np.ndarray]]:
    """(offset, [slice_len, ch]) slices of the samples [start, end) of a block stream.

    Consecutive slices start `hop` samples apart. Only about one slice plus one block
    is held in memory. With pad_end, the last partial slice is zero-padded.
    """
    buffer, buffer_start, position, next_offset = None, start, 0, start
    for block in blocks:
        block_start, position = position, position + len(block)
        lo = max(start - block_start, 0)
        hi = len(block) if end is None else min(end - block_start, len(block))
        if hi > lo:
            piece = block[lo:hi]
            buffer = piece if buffer is None or not len(buffer) else np.concatenate([buffer, piece])
            while next_offset + slice_len <= buffer_start + len(buffer):
                i = next_offset - buffer_start
                yield next_offset, buffer[i:i + slice_len]
                if first_only:
                    return
                next_offset += hop
            consumed = min(next_offset - buffer_start, len(buffer))
            buffer, buffer_start = buffer[consumed:], buffer_start + consumed
        if end is not None and position >= end:
            break
    if pad_end and buffer is not None and next_offset < buffer_start + len(buffer):
        rest = buffer[next_offset - buffer_start:]
        yield next_offset, np.pad(rest, [(0, slice_len - len(rest)), (0, 0)])


def slice_audio(data: np.ndarray, slice_len: int, *, overlap: float = 0.0, first_only: bool = False,
                pad_end: bool = True) -> Iterator[Tuple[int, np.ndarray]]:
    """slice_blocks over one in-memory array."""
    hop = max(1, int(round(slice_len * (1.0 - overlap))))
    return slice_blocks([data], slice_len, hop=hop, first_only=first_only, pad_end=pad_end)


def label_name_for(path: str, source: str, top_folder: str = "") -> str:
    """The label of an audio file: its parent folder's name, its name before the first '_', or ''.

    With source 'folder', files lying directly in top_folder (the data root, or the span
    folder a pattern names) have no label: a flat folder is unlabelled, not one class.
    """
    if source == "folder":
        parent = os.path.dirname(path)
        if top_folder and os.path.normpath(parent) == os.path.normpath(top_folder):
            return ""
        return os.path.basename(parent)
    if source == "prefix":
        return os.path.basename(path).split("_", 1)[0]
    return ""


def detect_label_source(paths: list, top_folder: str) -> str:
    """Where a collection's labels are: 'folder' when its files sit in two or more named
    folders, 'prefix' when every file name has a 'label_' prefix and there are two or more
    of them (FSDD: 7_jackson_32.wav), else 'none'."""
    folders = {label_name_for(os.path.abspath(p), "folder", os.path.abspath(top_folder)) for p in paths}
    if len(folders - {""}) >= 2:
        return "folder"
    names = [os.path.basename(p) for p in paths]
    if all("_" in name for name in names) and len({name.split("_", 1)[0] for name in names}) >= 2:
        return "prefix"
    return "none"


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """Writes 16-bit PCM; audio is [n] or [n, channels] in [-1, 1]."""
    import soundfile as sf
    sf.write(path, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
