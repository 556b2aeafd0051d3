"""Decoding, resampling, slicing and writing audio: shared by training and ingest."""
from __future__ import annotations

import os
from typing import Iterator, Tuple

import numpy as np

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".m4a")


class AudioDecodeError(Exception):
    """A file could not be turned into audio; the message says why (for reports)."""


def list_audio_files(root: str) -> list:
    """Audio files under `root`, sorted, by extension."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            if name.lower().endswith(AUDIO_EXTENSIONS):
                found.append(os.path.join(folder, name))
    return sorted(found)


def _read_raw(path: str) -> Tuple[np.ndarray, int]:
    """float32 [n, channels] at the file's own rate; soundfile first, then audioread."""
    import soundfile as sf
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        return data, rate
    except Exception as sf_error:  # noqa: BLE001 - fall back to librosa/audioread (mp3, m4a)
        try:
            import librosa
            data, rate = librosa.load(path, sr=None, mono=False, dtype=np.float32)
        except Exception as error:  # noqa: BLE001
            raise AudioDecodeError(f"cannot decode: {sf_error}; {type(error).__name__}: {error}") from None
        data = data[:, None] if data.ndim == 1 else data.T
        return np.ascontiguousarray(data), int(rate)


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


def resample(data: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    if rate == target_rate:
        return data
    import soxr
    return soxr.resample(data, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str, sample_rate: int, num_channels: int = 1) -> np.ndarray:
    """float32 [n, num_channels] at `sample_rate`; raises AudioDecodeError with a reason."""
    if os.path.getsize(path) == 0:
        raise AudioDecodeError("empty file")
    data, rate = _read_raw(path)
    if data.size == 0:
        raise AudioDecodeError("no samples")
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError("contains NaN or Inf samples")
    return resample(fit_channels(data, num_channels), rate, sample_rate)


def slice_audio(data: np.ndarray, slice_len: int, *, overlap: float = 0.0, first_only: bool = False,
                pad_end: bool = True) -> Iterator[Tuple[int, np.ndarray]]:
    """Yields (offset, [slice_len, channels]) slices; the tail is zero-padded if pad_end."""
    hop = max(1, int(round(slice_len * (1.0 - overlap))))
    n = data.shape[0]
    offset = 0
    while offset < n:
        piece = data[offset:offset + slice_len]
        if piece.shape[0] < slice_len:
            if not pad_end and offset + slice_len > n:
                # Unpadded: a short file still gives nothing; a long one drops its tail.
                return
            piece = np.pad(piece, [(0, slice_len - piece.shape[0]), (0, 0)])
        yield offset, piece
        if first_only:
            return
        offset += hop


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """Writes 16-bit PCM; audio is [n] or [n, channels] in [-1, 1]."""
    import soundfile as sf
    sf.write(path, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
