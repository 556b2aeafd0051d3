"""Wall time of a local pipeline run split by component, and the overhead as a
fraction of the Trainer's time: everything but the Trainer (ingest, statistics,
validation, evaluation, check, push and the orchestrator), and the orchestrator's
own share (wall time outside every component).

Runs the demo-sized pipeline (d=8, 100 steps, 150 drum hits) once from scratch.
Usage: python bench/pipeline_bench.py [--steps 100] [--model-size 8]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import write_results  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--model-size", type=int, default=8)
    parser.add_argument("--files-per-class", type=int, default=30)
    args = parser.parse_args()
    from pipeline.config import PipelineConfig
    from pipeline.demo_data import make_demo_data
    from pipeline.runner import run_local
    with tempfile.TemporaryDirectory() as tmp:
        make_demo_data(os.path.join(tmp, "data", "span-1"), files_per_class=args.files_per_class, seed=0)
        cfg = PipelineConfig(data_root=os.path.join(tmp, "data"), output_dir=os.path.join(tmp, "out"),
                             eval_clips=32,
                             model={"steps": args.steps, "model_size": args.model_size, "batch_size": 16, "summary_every_steps": 10,
                                    "checkpoint_every_steps": args.steps, "audio_summary_every_steps": args.steps})
        summary = run_local(cfg, out=lambda line: print(line, flush=True))
    seconds = summary["component_seconds"]
    wall = summary["wall_seconds"]
    rows = [{"component": name, "seconds": s, "share_of_wall": s / wall} for name, s in seconds.items()]
    trainer = seconds["Trainer"]
    extra = {"wall_seconds": wall, "trainer_seconds": trainer,
             "non_trainer_seconds": wall - trainer, "non_trainer_vs_trainer": (wall - trainer) / trainer,
             "orchestrator_only_vs_trainer": (wall - sum(seconds.values())) / trainer,
             "train_steps": args.steps, "model_size": args.model_size}
    write_results("pipeline", rows, extra)


if __name__ == "__main__":
    main()
