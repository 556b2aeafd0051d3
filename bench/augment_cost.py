"""What a recipe variant costs per training step, against the recipe, timed in turns in one run.

The quality runs of two recipes are compared at equal steps when they ran on different
days (machine speed differs up to 4x between days); this gives the time side of that
comparison as a ratio measured in one process, the arms taking turns so a busy machine
slows both alike. Default: the FSDD recipe against it with adaptive augmentation.

Usage: python bench/augment_cost.py [--configs fsdd.json,fsdd_ada.json] [--steps 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import write_results  # noqa: E402
from bench.quality_run import BENCH, load_quality_config  # noqa: E402
from bench.train_bench import QUIET, memory_dataset, time_steps  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="fsdd.json,fsdd_ada.json",
                        help="quality configs in bench/quality/, the first is the baseline")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per turn")
    parser.add_argument("--rounds", type=int, default=3, help="turns each config takes")
    args = parser.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    configs = {name: load_quality_config(os.path.join(BENCH, "quality", name)).replace(**QUIET) for name in names}
    seconds = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name, cfg in configs.items():
            seconds[name].append(time_steps(cfg, args.steps, memory_dataset(cfg)))
            print(f"round {round_index + 1}/{args.rounds} {name}: {seconds[name][-1]:.4f} s/step", flush=True)
    baseline = statistics.median(seconds[names[0]])
    rows = [{"config": name, "s_per_step_median": round(statistics.median(times), 4),
             "s_per_step_turns": [round(t, 4) for t in times],
             "vs_baseline": round(statistics.median(times) / baseline, 3)} for name, times in seconds.items()]
    write_results("augment_cost", rows, {"steps_per_turn": args.steps, "rounds": args.rounds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
