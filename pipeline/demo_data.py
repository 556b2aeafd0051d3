"""A labelled drum-hit dataset synthesised from seed: demo data with no download.

Five classes (kick, snare, hat, tom, clap), each a short procedural hit with
random parameters, written as 16-bit WAVs under <out>/<class>/<class>_<i>.wav.
Optionally spoken digits ("zero".."nine") from espeak-ng when it is installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from models.audio import write_wav
from models.errors import WaveGANError

CLASSES = ("kick", "snare", "hat", "tom", "clap")


def _envelope(n, rate, decay_s):
    t = np.arange(n) / rate
    return np.exp(-t / decay_s)


def _highpass_noise(rng, n, strength):
    noise = rng.standard_normal(n)
    return noise - strength * np.concatenate([[0.0], noise[:-1]])


def synth_hit(kind: str, rng: np.random.RandomState, rate: int, length_s: float) -> np.ndarray:
    n = int(rate * length_s)
    t = np.arange(n) / rate
    if kind in ("kick", "tom"):
        f0 = rng.uniform(45, 70) if kind == "kick" else rng.uniform(90, 220)
        sweep = rng.uniform(2.0, 4.0)
        freq = f0 * (1 + sweep * np.exp(-t / rng.uniform(0.01, 0.04)))
        phase = 2 * np.pi * np.cumsum(freq) / rate
        wave = np.sin(phase) * _envelope(n, rate, rng.uniform(0.08, 0.3))
    elif kind == "snare":
        tone = np.sin(2 * np.pi * rng.uniform(160, 250) * t) * _envelope(n, rate, rng.uniform(0.03, 0.08))
        noise = _highpass_noise(rng, n, 0.5) * _envelope(n, rate, rng.uniform(0.05, 0.15))
        wave = 0.5 * tone + 0.5 * noise
    elif kind == "hat":
        wave = _highpass_noise(rng, n, 0.98) * _envelope(n, rate, rng.uniform(0.01, 0.06))
    elif kind == "clap":
        wave = np.zeros(n)
        noise = _highpass_noise(rng, n, 0.7)
        for start in np.cumsum(rng.uniform(0.006, 0.014, size=3)):
            wave += np.where(t >= start, noise * np.exp(-(t - start) / 0.01), 0.0)
        wave += noise * _envelope(n, rate, rng.uniform(0.05, 0.12)) * (t >= 0.03)
    else:
        raise ValueError(f"unknown drum kind {kind!r}")
    wave = wave / (np.max(np.abs(wave)) + 1e-9) * rng.uniform(0.5, 0.95)
    return wave.astype(np.float32)


def make_demo_data(out_dir: str, files_per_class: int = 60, sample_rate: int = 16000, seed: int = 0,
                   length_s: float = 0.6) -> list:
    """Writes the dataset; returns the written paths. Same seed, same files."""
    rng = np.random.RandomState(seed)
    paths = []
    for kind in CLASSES:
        folder = os.path.join(out_dir, kind)
        os.makedirs(folder, exist_ok=True)
        for i in range(files_per_class):
            path = os.path.join(folder, f"{kind}_{i:04d}.wav")
            write_wav(path, synth_hit(kind, rng, sample_rate, length_s), sample_rate)
            paths.append(path)
    return paths


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en", "en+m3", "en+f2", "en+f4", "en-us", "en-us+m5")


class SpeechUnavailable(WaveGANError):
    pass


def make_spoken_digits(out_dir: str, files_per_digit: int = 10, sample_rate: int = 16000, seed: int = 0) -> list:
    """Spoken digits from espeak-ng with varied voice, speed and pitch, under <out>/<digit>/."""
    from models.audio import load_audio
    if shutil.which("espeak-ng") is None:
        raise SpeechUnavailable("espeak-ng is not installed (apt-get install espeak-ng): no spoken digits")
    rng = np.random.RandomState(seed)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for digit in DIGITS:
            folder = os.path.join(out_dir, digit)
            os.makedirs(folder, exist_ok=True)
            for i in range(files_per_digit):
                raw = os.path.join(tmp, "raw.wav")
                subprocess.run(["espeak-ng", "-w", raw, "-v", VOICES[rng.randint(len(VOICES))],
                                "-s", str(rng.randint(120, 220)), "-p", str(rng.randint(20, 80)), digit],
                               check=True, capture_output=True, timeout=60)
                path = os.path.join(folder, f"{digit}_{i:04d}.wav")
                write_wav(path, load_audio(raw, sample_rate)[:, 0], sample_rate)
                paths.append(path)
    return paths
