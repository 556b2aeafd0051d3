"""Ingest throughput and memory.

Throughput: seconds of audio ingested per wall-clock second by the Beam component
(DirectRunner in-process, and with 2 worker processes) against a plain
single-process decode-resample-slice-write loop over the same files, same run.
Memory: peak RSS ingesting one 10-minute and one 60-minute file (each in a fresh
process); the ratio shows whether memory stays flat with file length.
Usage: python bench/ingest_bench.py [--files 120] [--seconds 60] [--skip-memory]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from bench.common import write_results  # noqa: E402


def make_files(folder, count, seconds, rate=44100):
    rng = np.random.RandomState(0)
    for i in range(count):
        t = np.arange(int(seconds * rate)) / rate
        audio = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.randn(len(t))
        label = f"class{i % 5}"
        os.makedirs(os.path.join(folder, label), exist_ok=True)
        sf.write(os.path.join(folder, label, f"f{i}.wav"), audio, rate, subtype="PCM_16")


def plain_loop(data_root, out_dir, model_cfg, ingest_cfg):
    """The baseline: one process, no Beam, the same decode/slice/serialise/write work."""
    import tensorflow as tf
    from components.audio_ingest import FileSlicer, label_vocabulary, list_input_files
    from models.audio import label_name_for
    from models import schema
    files = list_input_files(data_root)
    vocabulary = label_vocabulary(files, ingest_cfg.label_source, data_root)
    os.makedirs(out_dir, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(out_dir, "data.gz"), options) as writer:
        for path in files:
            name = label_name_for(path, ingest_cfg.label_source, data_root)
            slicer = FileSlicer(path, model_cfg, ingest_cfg)
            for offset, piece in slicer:
                example = schema.make_example(piece, sample_rate=model_cfg.sample_rate,
                                              source_id=os.path.relpath(path, data_root), offset=offset,
                                              label=vocabulary.index(name), label_name=name,
                                              source_duration=slicer.duration or 0.0)
                writer.write(example.SerializeToString())


MEMORY_SCRIPT = """
import json, os, resource, sys
sys.path.insert(0, {repo!r})
from components.audio_example_gen import run_standalone
from models.config import IngestConfig, WaveGANConfig
report = run_standalone({data!r}, {out!r}, WaveGANConfig(), IngestConfig(label_source="none"))
print(json.dumps({{"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "slices": report["slices"]}}))
"""


def peak_memory(minutes, tmp):
    folder = os.path.join(tmp, f"long{minutes}")
    os.makedirs(folder)
    path = os.path.join(folder, "long.wav")
    rate = 16000
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as f:  # written in blocks: the bench stays small too
        rng = np.random.RandomState(minutes)
        for _ in range(minutes):
            f.write((0.3 * rng.uniform(-1, 1, rate * 60)).astype(np.float32))
    script = MEMORY_SCRIPT.format(repo=REPO, data=folder, out=os.path.join(tmp, f"out{minutes}"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each file (44.1 kHz)")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    from components.audio_example_gen import run_standalone
    from models.config import IngestConfig, WaveGANConfig
    model_cfg, ingest_cfg = WaveGANConfig(), IngestConfig()
    audio_seconds = args.files * args.seconds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_files(data, args.files, args.seconds)
        runs = [("plain_loop", lambda out: plain_loop(data, out, model_cfg, ingest_cfg)),
                ("beam_direct_1", lambda out: run_standalone(data, out, model_cfg, ingest_cfg)),
                ("beam_direct_2proc", lambda out: run_standalone(
                    data, out, model_cfg, ingest_cfg,
                    ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]))]
        for name, run in runs:
            start = time.perf_counter()
            run(os.path.join(tmp, name))
            seconds = time.perf_counter() - start
            rows.append({"impl": name, "wall_s": seconds, "audio_s_per_s": audio_seconds / seconds})
            print(f"{name}: {seconds:.1f} s", flush=True)
        plain = rows[0]["audio_s_per_s"]
        for row in rows:
            row["vs_plain_loop"] = row["audio_s_per_s"] / plain
        extra = {"files": args.files, "audio_seconds": audio_seconds}
        if not args.skip_memory:
            ten, sixty = peak_memory(10, tmp), peak_memory(60, tmp)
            extra.update({"peak_rss_mb_10min": ten["peak_rss_mb"], "peak_rss_mb_60min": sixty["peak_rss_mb"],
                          "memory_ratio_60_vs_10": sixty["peak_rss_mb"] / ten["peak_rss_mb"],
                          "slices_10min": ten["slices"], "slices_60min": sixty["slices"]})
    write_results("ingest", rows, extra)


if __name__ == "__main__":
    main()
