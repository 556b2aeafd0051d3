"""How ingest, training input and the pipeline grow with the corpus.

For each corpus size (hours of audio, bench/corpus.py): `wavegan ingest` wall time and
peak memory (the RSS of its whole process tree, job service and SDK workers included)
on the DirectRunner with 1 and 2 workers and on the portable runner path, and slices
written per second per core. Then, on the largest ingest: what the training input
delivers from its TFRecords (slices/s, gzipped as written and uncompressed) against
what the trainer consumes (critic batches per second at d=16 and d=64, memory-fed), and
a pipeline run's time outside the Trainer at demo size and on the smallest corpus; then
a scheduled run after a span of 1% new files lands on that corpus, against a run over
the same small span alone (the first must not redo work for the other 99%).
Growth factors compare each size with the previous one: time grown / data grown.

Usage: python bench/scale_bench.py [--hours 0.5,2] [--corpus-dir DIR] [--skip-d64]
       python bench/scale_bench.py --pipeline-only [--pipeline-hours 2]
The 8-hour row: --hours 2,8 --skip-pipeline --results-name scale_8h (about 0.9 GB of
corpus and 2.4 GB of examples per runner; kept apart so each growth factor is measured
within one run).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import write_results  # noqa: E402
from bench.corpus import make_corpus  # noqa: E402

WAVEGAN = os.path.join(os.path.dirname(sys.executable), "wavegan")
MODES = {"direct_1": [], "direct_2": ["--workers", "2"], "portable": ["--runner", "portable"]}
CORES = {"direct_1": 1, "direct_2": 2, "portable": 1}  # the pool runs one SDK worker per job


def corpus(folder: str, hours: float) -> dict:
    """The corpus of this size, made once and reused (its description is kept beside it)."""
    path = os.path.join(folder, f"{hours:g}h")
    described = path + ".json"
    if not os.path.exists(described):
        info = make_corpus(path, hours)
        with open(described, "w") as f:
            json.dump(info, f)
    with open(described) as f:
        return dict(json.load(f), path=path)


def run_measured(command: list) -> dict:
    """Runs a command; its wall time and the peak summed RSS of it and all its descendants."""
    import psutil
    start, peak = time.time(), 0
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {err.strip().splitlines()[-1:]}")
    return {"wall_s": time.time() - start, "peak_rss_mb": peak / 2 ** 20, "stdout": out}


def ingest_rows(corpora: list, work: str) -> list:
    rows = []
    for info in corpora:
        for mode, flags in MODES.items():
            out = os.path.join(work, f"{info['hours']:g}h_{mode}")
            print(f"ingest {info['hours']:.2f} h on {mode} ...", flush=True)
            measured = run_measured([WAVEGAN, "ingest", "--data-dir", info["path"], "--out", out, *flags])
            with open(os.path.join(out, "report", "ingest_report.json")) as f:
                report = json.load(f)
            rows.append({"hours": info["hours"], "mode": mode, "files": report["files_total"],
                         "slices": report["slices"], "wall_s": measured["wall_s"],
                         "peak_rss_mb": measured["peak_rss_mb"],
                         "audio_s_per_s": report["audio_seconds"] / measured["wall_s"],
                         "slices_per_s_per_core": report["slices"] / measured["wall_s"] / CORES[mode],
                         "out": out})
    return rows


def growth(rows: list) -> list:
    """Per mode and consecutive sizes: how much faster than the data time and memory grew."""
    found = []
    for mode in MODES:
        sized = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["hours"])
        for small, large in zip(sized, sized[1:]):
            data = large["hours"] / small["hours"]
            found.append({"mode": mode, "from_h": small["hours"], "to_h": large["hours"], "data_x": data,
                          "time_x": large["wall_s"] / small["wall_s"],
                          "time_x_per_data_x": large["wall_s"] / small["wall_s"] / data,
                          "memory_x": large["peak_rss_mb"] / small["peak_rss_mb"]})
    return found


def input_throughput(examples_dir: str, batches: int = 150) -> dict:
    """Slices/s the training input delivers from the ingest's TFRecords: gzipped, and uncompressed."""
    import tensorflow as tf
    from models.config import WaveGANConfig
    from models.data import tfrecord_dataset
    cfg = WaveGANConfig(model_size=16, batch_size=16, shuffle_buffer=1024)
    gzipped = sorted(glob.glob(os.path.join(examples_dir, "Split-train", "*.gz")))
    plain_dir = tempfile.mkdtemp(prefix="plain_records_")
    plain = []
    for path in gzipped:
        plain.append(os.path.join(plain_dir, os.path.basename(path)[:-3]))
        with tf.io.TFRecordWriter(plain[-1]) as writer:
            for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                writer.write(record.numpy())
    found = {}
    for name, files in (("gzip", gzipped), ("uncompressed", plain)):
        iterator = iter(tfrecord_dataset(files, cfg))
        for _ in range(10):
            next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        found[name] = batches * cfg.batch_size / (time.perf_counter() - start)
    return found


def trainer_consumption(skip_d64: bool) -> dict:
    """Real slices per second the trainer takes (critic updates x batch / step time), memory-fed."""
    from bench.train_bench import QUIET, memory_dataset, time_steps
    from models.config import WaveGANConfig
    from models.recipes import RECIPES
    found = {}
    for name, recipe, steps in (("d16_cpu_recipe", "cpu", 5), ("d64_gpu_recipe", "gpu", 1)):
        if name.startswith("d64") and skip_d64:
            continue
        cfg = WaveGANConfig.from_dict({**RECIPES[recipe], **QUIET})
        seconds = time_steps(cfg, steps, memory_dataset(cfg))
        found[name] = {"s_per_step": seconds, "slices_per_s": cfg.d_updates * cfg.batch_size / seconds}
    return found


def pipeline_run(data_root: str, output_dir: str, s_per_step: float, steps: int = 20) -> dict:
    """A local pipeline run's component times at `steps` tiny steps; the share outside the Trainer, as
    measured and as it would be with the default number of cpu-recipe steps (their measured time)."""
    from models.config import WaveGANConfig
    from pipeline.config import PipelineConfig
    from pipeline.runner import run_local
    cfg = PipelineConfig(data_root=data_root, output_dir=output_dir, eval_clips=64, judge_epochs=10,
                         model={"steps": steps, "model_size": 16, "batch_size": 16,
                                "checkpoint_every_steps": steps, "audio_summary_every_steps": steps})
    summary = run_local(cfg, out=lambda line: print(line, flush=True))
    outside = summary["wall_seconds"] - summary["component_seconds"]["Trainer"]
    default_training = WaveGANConfig().steps * s_per_step
    return {"wall_s": summary["wall_seconds"], "outside_trainer_s": outside,
            "components_s": summary["component_seconds"],
            "share_outside_measured": outside / summary["wall_seconds"],
            "share_outside_at_default_steps": outside / (outside + default_training)}


def pipeline_rows(work: str, large_corpus: str, s_per_step: float) -> dict:
    """Pipeline runs: demo size; a large first span; then a scheduled run after a span of 1% new files
    arrives, against the same small span as a corpus of its own (the first should cost no more)."""
    from pipeline.demo_data import make_demo_data
    make_demo_data(os.path.join(work, "demo", "span-1"), files_per_class=30, seed=0)
    found = {"demo": pipeline_run(os.path.join(work, "demo"), os.path.join(work, "demo_out"), s_per_step)}
    grown = os.path.join(work, "grown")
    os.makedirs(grown)
    os.symlink(large_corpus, os.path.join(grown, "span-1"))
    found["large_first_span"] = pipeline_run(grown, os.path.join(work, "grown_out"), s_per_step)
    files = sum(len(names) for _, _, names in os.walk(large_corpus))
    small = make_corpus(os.path.join(work, "small"), hours=files * 0.01 * 0.75 / 3600, seed=1)
    os.symlink(os.path.join(work, "small"), os.path.join(grown, "span-2"))
    found["new_small_span_after_large"] = pipeline_run(grown, os.path.join(work, "grown_out"), s_per_step)
    alone = os.path.join(work, "alone")
    os.makedirs(alone)
    os.symlink(os.path.join(work, "small"), os.path.join(alone, "span-1"))
    found["same_small_span_alone"] = pipeline_run(alone, os.path.join(work, "alone_out"), s_per_step)
    found["small_span_files"] = small["files"]
    found["scheduled_vs_alone"] = (found["new_small_span_after_large"]["wall_s"]
                                   / found["same_small_span_alone"]["wall_s"])
    return found


def rerun_pipeline_rows(args) -> None:
    """Only the pipeline rows again, on the results file's own smallest corpus; its other rows are kept
    (and say when they were measured)."""
    from bench.common import RESULTS_DIR
    with open(os.path.join(RESULTS_DIR, f"{args.results_name}.json")) as f:
        kept = json.load(f)
    smallest = min(kept["corpora"], key=lambda c: c["hours"])
    hours = args.pipeline_hours or float(os.path.basename(smallest["path"])[:-1])
    path = corpus(args.corpus_dir, hours)["path"]
    key = f"pipeline_{hours:g}h" if args.pipeline_hours else "pipeline"  # another size: kept beside the first
    consumption = trainer_consumption(skip_d64=True)
    extra = {k: v for k, v in kept.items() if k not in ("benchmark", "machine", "time", "results")}
    extra.setdefault("rows_measured", kept["time"])
    extra[key] = pipeline_rows(tempfile.mkdtemp(prefix="scale_bench_"), path,
                               consumption["d16_cpu_recipe"]["s_per_step"])
    extra[key].update(trainer_consumption=consumption, measured=time.strftime("%Y-%m-%d %H:%M"))
    write_results(args.results_name, kept["results"], extra)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="0.5,2")
    parser.add_argument("--corpus-dir", default=os.path.join(tempfile.gettempdir(), "wavegan_corpus"))
    parser.add_argument("--skip-d64", action="store_true", help="skip the d=64 consumption row (a minute or two)")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--results-name", default="scale", help="bench/results/<name>.json")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="re-measure only the pipeline rows, keeping the results file's other rows")
    parser.add_argument("--pipeline-hours", type=float,
                        help="with --pipeline-only: the corpus size of the large first span (default: the results' "
                             "smallest); kept as pipeline_<hours>h beside the other rows")
    args = parser.parse_args()
    if args.pipeline_only:
        return rerun_pipeline_rows(args)
    corpora = [corpus(args.corpus_dir, float(h)) for h in args.hours.split(",")]
    work = tempfile.mkdtemp(prefix="scale_bench_")
    rows = ingest_rows(corpora, work)
    largest = max((r for r in rows if r["mode"] == "direct_1"), key=lambda r: r["hours"])
    consumption = trainer_consumption(args.skip_d64)
    extra = {"corpora": corpora, "growth": growth(rows),
             "input_slices_per_s": input_throughput(os.path.join(largest["out"], "examples")),
             "trainer_consumption": consumption}
    extra["input_vs_trainer_d16"] = {k: v / consumption["d16_cpu_recipe"]["slices_per_s"]
                                     for k, v in extra["input_slices_per_s"].items()}
    if not args.skip_pipeline:
        extra["pipeline"] = pipeline_rows(work, corpora[0]["path"], consumption["d16_cpu_recipe"]["s_per_step"])
    for row in rows:
        row.pop("out")
    write_results(args.results_name, rows, extra)


if __name__ == "__main__":
    main()
