"""The truncation trick on trained arms: the same checkpoints judged with their latents scaled.

  python bench/truncation.py --run-dir bench/runs/ablation --arms ns-r1-ema+aux+fake@8k

Judges each arm's last checkpoint in an ablation run directory (bench/ablation.py) on the
final evaluation's latents (the same clips as its `final` row), scaled by each truncation.
Nothing is trained: the figures say what `wavegan generate --truncation` and `wavegan
evaluate --truncation` trade, variety for clips nearer each class's typical sound. Writes
bench/results/quality/truncation.json and prints the table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.ablation import ARMS, FINAL_CLIPS, arm_configs, judge_arm, load_splits, short_metrics  # noqa: E402
from bench.common import RESULTS_DIR, machine_info  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["fsdd", "drums"], default="fsdd")
    parser.add_argument("--run-dir", required=True, help="an ablation run directory (bench/ablation.py --run-dir)")
    parser.add_argument("--arms", required=True, help="comma-separated arm names trained there")
    parser.add_argument("--truncations", default="1,0.8,0.6,0.4,0.2")
    parser.add_argument("--clips", type=int, default=FINAL_CLIPS)
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "quality", "truncation.json"))
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.arms.split(",") if n.strip()]
    unknown = sorted(set(args.names) - set(ARMS))
    missing = [n for n in args.names if not os.path.isdir(os.path.join(args.run_dir, n))]
    if unknown or missing:
        parser.error(f"unknown arm(s) {unknown} or not trained in {args.run_dir}: {missing}")
    args.truncations = [float(t) for t in args.truncations.split(",")]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from models.train import Trainer
    configs = arm_configs(args.names, 60, args.dataset)
    judged = arm_configs(["paper"], 1, args.dataset)["paper"]
    _, _, reference = load_splits(args, configs, judged)
    rows = []
    print(f"{'arm':32} {'steps':>6} {'trunc':>5} {'IS ratio':>8} {'label acc':>9} {'FD':>6} {'NDB':>4}")
    for name, cfg in configs.items():
        trainer = Trainer(cfg, os.path.join(args.run_dir, name))
        for truncation in args.truncations:
            m = short_metrics(judge_arm(trainer, reference, judged, args.clips, seed_offset=1, voicing=True,
                                        truncation=truncation))
            rows.append({"arm": name, "steps": trainer.current_step, "truncation": truncation, **m})
            print(f"{name:32} {trainer.current_step:6d} {truncation:5.2f} {m['inception_score_ratio']:8.3f} "
                  f"{m['label_accuracy_ratio']:9.3f} {m['frechet_distance']:6.2f} {m['ndb']:4d}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"dataset": args.dataset, "judge": reference.describe(), "clips": args.clips,
                   "machine": machine_info(), "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
