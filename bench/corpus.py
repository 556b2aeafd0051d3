"""A labelled corpus of N hours of audio for scale benchmarks, made here (no download).

Half drum hits from the demo synthesiser (5 classes), half spoken digits from the shared
FSDD subset (10 classes; drums only when it is absent), each recording changed at random:
tape-style speed (which moves pitch with it, 0.85-1.15x), gain (-12 to 0 dB) and added
noise (40-60 dB below the signal). Files alternate 16-bit WAV and FLAC, in one folder per
class (`drum_kick/`, `digit_3/`), so ingest finds 15 labels. The same seed gives the same
corpus. Writing is split over processes, one per core.

Usage: python bench/corpus.py --hours 2 --out /tmp/corpus_2h
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.common import FSDD  # noqa: E402

RATE = 16000
DRUMS = ("kick", "snare", "hat", "clap", "tom")


def _fsdd_files() -> list:
    if not os.path.isdir(FSDD):
        return []
    return sorted(os.path.join(FSDD, name) for name in os.listdir(FSDD) if name.endswith(".wav"))


def _source(index: int, rng: np.random.RandomState, digits: list):
    """(class name, audio at RATE) of the index-th recording before its changes."""
    from models.audio import load_audio
    from pipeline.demo_data import synth_hit
    if digits and index % 2:
        path = digits[rng.randint(len(digits))]
        return f"digit_{os.path.basename(path).split('_')[0]}", load_audio(path, RATE)[:, 0]
    kind = DRUMS[rng.randint(len(DRUMS))]
    return f"drum_{kind}", synth_hit(kind, rng, RATE, rng.uniform(0.5, 1.2))


def _changed(audio: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    import soxr
    speed = rng.uniform(0.85, 1.15)
    audio = soxr.resample(audio.astype(np.float32), RATE * speed, RATE)  # played faster: shorter, higher
    audio = audio * 10 ** (rng.uniform(-12, 0) / 20)
    level = np.sqrt(np.mean(np.square(audio))) + 1e-9
    audio = audio + rng.normal(0, level * 10 ** (-rng.uniform(40, 60) / 20), len(audio))
    return np.clip(audio, -1, 1)


def _write_range(args) -> float:
    """Writes recordings [start, stop) of the corpus; returns their seconds of audio."""
    import soundfile as sf
    out, start, stop, seed = args
    digits, seconds = _fsdd_files(), 0.0
    for index in range(start, stop):
        rng = np.random.RandomState([seed, index])
        label, audio = _source(index, rng, digits)
        audio = _changed(audio, rng)
        folder = os.path.join(out, label)
        os.makedirs(folder, exist_ok=True)
        ext, subtype = ("wav", "PCM_16") if index % 4 < 2 else ("flac", "PCM_16")
        sf.write(os.path.join(folder, f"{index:07d}.{ext}"), audio, RATE, subtype=subtype)
        seconds += len(audio) / RATE
    return seconds


def make_corpus(out: str, hours: float, seed: int = 0, processes: int = 0) -> dict:
    """Writes about `hours` of audio under out; returns what it wrote. Files average about 0.75 s."""
    count = int(hours * 3600 / 0.75)
    processes = processes or os.cpu_count() or 1
    chunk = max(1, count // (processes * 8))
    jobs = [(out, start, min(count, start + chunk), seed) for start in range(0, count, chunk)]
    begin, seconds = time.time(), 0.0
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for done, part in enumerate(pool.imap_unordered(_write_range, jobs), 1):
            seconds += part
            elapsed = time.time() - begin
            print(f"\rcorpus: {done}/{len(jobs)} parts, {seconds / 3600:.2f} h written, "
                  f"ETA {elapsed / done * (len(jobs) - done):.0f} s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {"files": count, "hours": round(seconds / 3600, 3), "seconds_to_write": round(time.time() - begin, 1),
            "with_fsdd": bool(_fsdd_files())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_corpus(args.out, args.hours, args.seed))


if __name__ == "__main__":
    main()
