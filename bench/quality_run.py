"""The reference quality run: a class-conditional WaveGAN trained and judged on this machine.

  python bench/quality_run.py --dataset fsdd            # ../shared/data/fsdd, 10 digits
  python bench/quality_run.py --dataset drums           # the demo's synthesised drum classes
  python bench/quality_run.py --dataset fsdd --config bench/quality/fsdd_gpu.json   # paper scale (GPU)

The recipe is the config file (bench/quality/<dataset>.json): a named recipe
(models.recipes: cpu, gpu or paper), the options it changes over it and a time
budget per invocation. Training is resumable: re-running continues from the
run directory's checkpoints (bench/runs/<dataset>, not committed). The run holds out
10% of the files (by a hash of the file), trains the judge on the rest, scores the
generator every eval_every_steps, and exports the best checkpoint. The finish step
(also alone with --finish-only) writes to bench/results/quality/<dataset>/:
metrics.json (judge accuracy, real and generated scores and their ratios, the
evaluation history from step 0), 10 WAVs per class named <label>_<n>.wav, and the
HTML report.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import FSDD, RESULTS_DIR, machine_info, matmul_gflops  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
CLIPS_PER_CLASS = 10
SCORE_CLIPS = 500
# Targets of the quality issue (not tests): generated/real-eval inception score, and
# label accuracy as a share of the judge's accuracy on real eval audio.
TARGET_IS_RATIO = 0.6
TARGET_LABEL_ACCURACY_RATIO = 0.7
INTERRUPTED_FILE = "interrupted_sessions.json"  # in the run dir: sessions stopped by a signal, not yet finished


def load_quality_config(path: str, recipe: str = None):
    """A quality config: the recipe it names (models.recipes; `recipe` overrides it), then its own values."""
    from models.config import WaveGANConfig, merge_options
    from models.recipes import resolve_recipe
    with open(path) as f:
        values = json.load(f)
    named = values.pop("recipe", "paper")
    return WaveGANConfig.from_dict(merge_options(resolve_recipe(recipe or named)[1], values))


def load_dataset(name: str, run_dir: str, cfg):
    """(FolderData, label source) of the dataset; drums are synthesised into the run dir once."""
    from models.data import load_folder
    if name == "fsdd":
        if not os.path.isdir(FSDD):
            raise SystemExit(f"FSDD not found at {FSDD}: this run needs ../shared/data/fsdd")
        return load_folder(FSDD, cfg, label_source="prefix")
    from pipeline.demo_data import make_demo_data
    data_dir = os.path.join(run_dir, "data")
    if not os.path.isdir(data_dir):
        make_demo_data(data_dir, files_per_class=200, seed=0)
    return load_folder(data_dir, cfg, label_source="folder")


def train(args, cfg, train_part, reference) -> dict:
    from models.data import in_memory_dataset
    from models.train import Trainer
    trainer = Trainer(cfg, args.run_dir)
    start_step, t0 = trainer.current_step, time.time()

    def session(stop_reason: str) -> dict:
        return {"start_step": start_step, "end_step": trainer.current_step, "seconds": round(time.time() - t0, 1),
                "stop_reason": stop_reason}

    try:
        trainer.fit(in_memory_dataset(train_part, cfg), reference=reference)
    except KeyboardInterrupt:  # its training time still counts: finish adds it to the next session's
        path = os.path.join(args.run_dir, INTERRUPTED_FILE)
        with open(path, "w") as f:
            json.dump(_read(path, []) + [session("interrupted (SIGINT/SIGTERM)")], f)
        raise
    return session(trainer.stop_reason)


def export_latest(run_dir: str, cfg) -> None:
    """Replaces the run's export with its newest checkpoint (the average, where it keeps one), and
    best.json says so: for a run whose selection metric was too noisy to trust."""
    from models.export import export_generator
    from models.selection import BEST_FILE
    from models.train import EXPORT_DIR, Trainer
    trainer = Trainer(cfg, run_dir)
    export_generator(trainer.sampler, cfg, os.path.join(run_dir, EXPORT_DIR))
    with open(os.path.join(run_dir, BEST_FILE), "w") as f:
        json.dump({"step": trainer.current_step, "metric": "latest",
                   "reason": f"the newest checkpoint (step {trainer.current_step}), exported by --export-latest"}, f)


def _inside(path: str, folder: str) -> bool:
    """Whether path lies under folder (a committed report names such paths relative to the repository)."""
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)


def finish(args, cfg, data, reference, session: dict) -> dict:
    """Scores the exported best checkpoint, writes WAVs, metrics.json and the report."""
    from components.report import write_report
    from models.audio import write_wav
    from models.generate import sample_clips
    from models.labels import file_part
    from models.selection import BEST_FILE, HISTORY_FILE
    from models.train import EXPORT_DIR
    export = os.path.join(args.run_dir, EXPORT_DIR)
    if not os.path.isdir(export):
        raise SystemExit(f"no exported model in {args.run_dir}: train first")
    out = args.results
    os.makedirs(out, exist_ok=True)
    generated = reference.score(*sample_clips(export, SCORE_CLIPS, seed=1), voicing=True)
    real = reference.score_real(SCORE_CLIPS, voicing=True)
    history = _read(os.path.join(args.run_dir, HISTORY_FILE), [])
    best = _read(os.path.join(args.run_dir, BEST_FILE), {})
    previous = _read(os.path.join(out, "metrics.json"), {})
    interrupted = os.path.join(args.run_dir, INTERRUPTED_FILE)
    sessions = previous.get("sessions", []) + _read(interrupted, []) + ([session] if session else [])
    metrics = {"dataset": args.dataset, "config": json.loads(cfg.to_json()), "judge": reference.describe(),
               **real, "generated": generated, "best": best, "history": history, "sessions": sessions,
               "train_seconds_total": sum(s["seconds"] for s in sessions), "machine": machine_info(),
               "matmul_gflops": round(matmul_gflops(), 1),
               "targets": {"inception_score_ratio": TARGET_IS_RATIO,
                           "label_accuracy_ratio": TARGET_LABEL_ACCURACY_RATIO}}
    wav_dir = os.path.join(out, "wavs")
    shutil.rmtree(wav_dir, ignore_errors=True)
    os.makedirs(wav_dir)
    audio, labels = sample_clips(export, CLIPS_PER_CLASS * cfg.num_classes, seed=2)
    for i, (clip, label) in enumerate(zip(audio, labels)):
        write_wav(os.path.join(wav_dir, f"{file_part(data.vocabulary[label])}_{i // cfg.num_classes}.wav"), clip,
                  cfg.sample_rate)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    if os.path.exists(interrupted):  # now in metrics.json's sessions
        os.remove(interrupted)
    report = write_report(os.path.join(out, "report"), title=f"WaveGAN quality run: {args.dataset}",
                          run_dir=args.run_dir, model_dir=export, reference=reference, metrics=metrics,
                          model_shown=os.path.relpath(export, REPO) if _inside(export, REPO) else export)
    _print_table(metrics)
    print(f"metrics: {os.path.join(out, 'metrics.json')}\nWAVs: {wav_dir}\nreport: {report}")
    return metrics


def _print_table(metrics: dict) -> None:
    rows = [("real eval", metrics["real_eval"]), ("generated (best)", metrics["generated"])]
    print(f"{'':18}{'IS':>7}{'IS ratio':>10}{'label acc':>11}{'FD':>9}{'NDB':>6}{'voiced':>8}")
    for name, m in rows:
        print(f"{name:18}{m.get('inception_score', float('nan')):7.2f}{m.get('inception_score_ratio', float('nan')):10.2f}"
              f"{m.get('label_accuracy', float('nan')):11.2f}{m['frechet_distance']:9.2f}{m['ndb']:6d}"
              f"{m.get('voiced_fraction', float('nan')):8.2f}")
    per_class = metrics["generated"].get("label_accuracy_per_class")
    if per_class:
        names = metrics["judge"].get("label_names", [])
        print("label accuracy per class: " + "  ".join(
            f"{names[k] if k < len(names) else k}: {v:.2f}" for k, v in enumerate(per_class) if v is not None))
    print(f"judge accuracy on real eval: {metrics['judge'].get('eval_accuracy', float('nan')):.3f}; best step "
          f"{metrics['best'].get('step')}; trained {metrics['train_seconds_total'] / 60:.0f} min in all")


def _read(path: str, default):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["fsdd", "drums"], default="fsdd")
    parser.add_argument("--config", help="WaveGAN config JSON (default bench/quality/<dataset>.json)")
    parser.add_argument("--run-dir", help="checkpoints and logs (default bench/runs/<dataset>)")
    parser.add_argument("--results", help="committed results (default bench/results/quality/<dataset>)")
    parser.add_argument("--minutes", type=float, help="time budget of this invocation (overrides the config)")
    parser.add_argument("--finish-only", action="store_true", help="score, write WAVs and report; no training")
    parser.add_argument("--export-latest", action="store_true",
                        help="with --finish-only: export the newest checkpoint instead of the selected best")
    args = parser.parse_args(argv)
    args.config = args.config or os.path.join(BENCH, "quality", f"{args.dataset}.json")
    args.run_dir = args.run_dir or os.path.join(BENCH, "runs", args.dataset)
    args.results = args.results or os.path.join(RESULTS_DIR, "quality", args.dataset)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from models.quality import reference_for_folder
    from models.recipes import resolve_recipe
    cfg = load_quality_config(args.config)
    if args.minutes is not None:
        cfg = cfg.replace(time_budget_secs=args.minutes * 60)
    data = load_dataset(args.dataset, args.run_dir, cfg)
    if cfg.conditional:
        cfg = cfg.replace(label_names=list(data.vocabulary))  # the export carries the class names
    train_part, held_out = data.split(10)
    reference = reference_for_folder(train_part, held_out, cfg.sample_rate, os.path.join(args.run_dir, "judge"),
                                     cfg.seed)
    print(f"{args.dataset}: {len(train_part.audio)} train / {len(held_out.audio)} held-out slices, judge accuracy "
          f"on held-out real audio {reference.judge.eval_accuracy:.3f}", flush=True)
    session = {} if args.finish_only else train(args, cfg, train_part, reference)
    if args.export_latest:
        export_latest(args.run_dir, cfg)
    finish(args, cfg, data, reference, session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
