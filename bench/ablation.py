"""Training recipes compared under equal CPU time on FSDD (or the drums), judged by the project's judge.

  python bench/ablation.py                     # every arm, 10 minutes each
  python bench/ablation.py --minutes 4 --rounds 2 --arms paper,ns-r1-ema
  python bench/ablation.py --arms ns-r1-ema+film,ns-r1-ema+film@8k --out bench/results/quality/ablation_rate.json
  python bench/ablation.py --dataset drums --arms paper,ns-r1-ema+film+aux --out bench/results/quality/ablation_drums.json

All arms live in one process and take turns: each round gives every arm the same
number of wall-clock seconds of training (Trainer's time budget), then judges every
arm's generator (the average, where the arm keeps one) on the same evaluation latents.
Arms named <arm>@8k train at FSDD's own 8 kHz in 8192-sample slices; their clips are
resampled to 16 kHz for the same judge.
`--rejudge` judges the arms' last checkpoints again without training (a new judge or metric).
Taking turns in short rounds means a slow spell of this shared machine costs every
arm alike. Writes bench/results/quality/ablation.json (one row per arm: minutes,
steps, the judge's metrics at the end, the curve over rounds) and, per arm, a row of
spectrograms of one generated clip per class beside real ones
(bench/results/quality/ablation/media/<arm>.png), and prints the table.
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

from bench.common import RESULTS_DIR, machine_info  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
FINAL_CLIPS = 500
# One arm each: the paper's recipe, then each option on its own over the cheap critic, then all.
CHEAP_CRITIC = {"loss": "dcgan", "r1_gamma": 1.0, "r1_every": 4, "d_updates": 2, "d_lr": 2e-4, "g_lr": 1e-4,
                "g_ema_decay": 0.999}
ARMS = {
    "paper": {},
    "paper-ema": {"g_ema_decay": 0.999},
    "ns-r1-ema": CHEAP_CRITIC,
    "ns-r1-ema+augment": {**CHEAP_CRITIC, "augment": "shift,gain"},
    "ns-r1-ema+film": {**CHEAP_CRITIC, "label_film": True},
    "ns-r1-ema+spectral": {**CHEAP_CRITIC, "spectral_critic": "256,1024"},
    "ns-r1-ema+all": {**CHEAP_CRITIC, "augment": "shift,gain", "label_film": True, "spectral_critic": "256,1024"},
    # The second batch: an auxiliary classifier over the first batch's best.
    "ns-r1-ema+film+aux": {**CHEAP_CRITIC, "label_film": True, "aux_classifier": 1.0},
    "ns-r1-ema+film+aux+augment": {**CHEAP_CRITIC, "label_film": True, "aux_classifier": 1.0, "augment": "shift,gain"},
}
# The third batch, on drums, where the winner's R1 penalty (gamma 1) may hide a noise floor from the
# critic: real drum hits end in digital silence. Weaker penalties over the winner.
ARMS.update({f"ns-r1({gamma})-ema+film+aux": {**ARMS["ns-r1-ema+film+aux"], "r1_gamma": gamma}
             for gamma in (0.1, 0.01)})
# ... and the label path over the paper's critic (WGAN-GP, 5 updates), to tell the critic from the label path.
ARMS["paper-ema+film+aux"] = {"g_ema_decay": 0.999, "label_film": True, "aux_classifier": 1.0}
# ... and each half of the label path alone over the cheap critic.
ARMS["ns-r1-ema+aux"] = {**CHEAP_CRITIC, "aux_classifier": 1.0}
# FiLM without its shift: a per-class constant offset in every layer is a steady comb of tones after
# the zero-stuffing upsamplers (seen in the drums' silent tails).
ARMS["ns-r1-ema+filmscale+aux"] = {**CHEAP_CRITIC, "label_film": True, "label_film_shift": False,
                                   "aux_classifier": 1.0}
# A label path without the comb: FiLM's shift stays a constant through nearest-neighbour upsampling
# (resize, then a stride-1 conv) where zero-stuffing turns it into tones; and a stronger AC-GAN term.
ARMS["ns-r1-ema+film+aux+nn"] = {**ARMS["ns-r1-ema+film+aux"], "upsample": "nn"}
ARMS["ns-r1-ema+aux+nn"] = {**ARMS["ns-r1-ema+aux"], "upsample": "nn"}
ARMS["ns-r1-ema+aux3"] = {**CHEAP_CRITIC, "aux_classifier": 3.0}
# Faster learning rates over the recipe: at 1e-4 a CPU's thousand steps may barely leave the start.
# TTUR's 2:1 kept; Adam's momentum off and a longer second moment, as StyleGAN2 trains.
FAST_ADAM = {"g_beta1": 0.0, "d_beta1": 0.0, "g_beta2": 0.99, "d_beta2": 0.99}
ARMS["ns-r1-ema+aux+lr4x"] = {**ARMS["ns-r1-ema+aux"], "g_lr": 4e-4, "d_lr": 8e-4}
ARMS["ns-r1-ema+aux+lr4x+b0"] = {**ARMS["ns-r1-ema+aux+lr4x"], **FAST_ADAM}
ARMS["ns-r1-ema+aux+lr10x+b0"] = {**ARMS["ns-r1-ema+aux"], "g_lr": 1e-3, "d_lr": 2e-3, **FAST_ADAM}
# The paper's learned post-processing filter (512 taps after G's output), its answer to noise where the
# data has none: FSDD's generated bursts carry energy to 8 kHz that its 8 kHz recordings never have.
ARMS["ns-r1-ema+aux+pp512"] = {**ARMS["ns-r1-ema+aux"], "post_proc_filter_len": 512}
ARMS["ns-r1-ema+film+aux+nn+pp512"] = {**ARMS["ns-r1-ema+film+aux+nn"], "post_proc_filter_len": 512}
# ... starting as the identity: random taps colour every clip (a noise floor through the drums) until learned away.
ARMS["ns-r1-ema+aux+pp512i"] = {**ARMS["ns-r1-ema+aux+pp512"], "post_proc_impulse": True}
# The spectral critic again, now with R1 in each branch's spectrogram space (unpenalised, it collapsed G).
ARMS["ns-r1-ema+aux+spectral"] = {**ARMS["ns-r1-ema+aux"], "spectral_critic": "256,1024"}
# The class head also learns generated audio (at 8 kHz the recipe's head names 100% of G's clips as asked,
# the judge 27%): one class for all generated clips, or a generated twin per class (ADC-GAN).
ARMS["ns-r1-ema+aux+fake"] = {**ARMS["ns-r1-ema+aux"], "aux_fakes": "class"}
ARMS["ns-r1-ema+aux+adc"] = {**ARMS["ns-r1-ema+aux"], "aux_fakes": "per-class"}
# Voicing: every arm's clips are noise shaped in time, with no pitch harmonics. A critic on the waveform folded
# by period (HiFi-GAN's periods) compares each phase of a period across many periods.
ARMS["ns-r1-ema+aux+fake+period"] = {**ARMS["ns-r1-ema+aux+fake"], "period_critic": "2,3,5,7,11"}
# ... and, judged by the voiced fraction: a spectral critic whose longest FFT resolves pitch harmonics (at 8 kHz,
# 1024 points are 7.8 Hz bins), and twice the model width (the paper's d=64 makes voiced digits on a GPU).
ARMS["ns-r1-ema+aux+fake+spectral"] = {**ARMS["ns-r1-ema+aux+fake"], "spectral_critic": "256,1024"}
ARMS["ns-r1-ema+aux+fake+d32"] = {**ARMS["ns-r1-ema+aux+fake"], "model_size": 32}
# The class head that learns generated audio raised the voiced fraction sixfold (0.05 to 0.31 of real): weigh it 3x.
ARMS["ns-r1-ema+aux3+fake"] = {**ARMS["ns-r1-ema+aux+fake"], "aux_classifier": 3.0}
# The class head memorises the training slices after about 9,000 steps of the reference run while the critic's
# real/fake sign stays under ADA's target (fsdd_ada/): augmentation at a fixed probability, seen by the head too.
ARMS["ns-r1-ema+aux+fake+aug50"] = {**ARMS["ns-r1-ema+aux+fake"], "augment": "shift,gain,speed", "augment_p": 0.5}
# The recipe peaks at 6,000-8,500 steps (35-45 minutes) of its two hours, then its critic memorises: a wider model
# (1.5x; 2.5x the cost of a step here, d=32 4.7x) spends the rest of the budget on capacity instead of steps.
ARMS["ns-r1-ema+aux+fake+d24"] = {**ARMS["ns-r1-ema+aux+fake"], "model_size": 24}
# G's class term over the real classes only: which digit a clip sounds like, not whether it sounds generated.
ARMS["ns-r1-ema+aux+fake+gcls"] = {**ARMS["ns-r1-ema+aux+fake"], "aux_g_classes_only": True}
# The class head memorises the training clips (its loss on them falls from 2.3 to about 0.2 while G's
# class loss doubles): one-sided label smoothing caps how sure of them it can grow; and a batch twice
# as large, so each step sees each digit about three times, not one or two.
ARMS["ns-r1-ema+aux+fake+ls"] = {**ARMS["ns-r1-ema+aux+fake"], "aux_label_smoothing": 0.2}
ARMS["ns-r1-ema+aux+fake+b32"] = {**ARMS["ns-r1-ema+aux+fake"], "batch_size": 32}
# Smoothing did not stop the decline after about 7,300 steps (ablation_ls2.json): a ten times stronger R1 penalty,
# the usual remedy for a critic that overfits a small data set, keeps the shared trunk smoother on real clips.
ARMS["ns-r1(10)-ema+aux+fake"] = {**ARMS["ns-r1-ema+aux+fake"], "r1_gamma": 10.0}
# FSDD's own rate: 8 kHz in 8192-sample slices (half the work a step); judged after resampling to 16 kHz.
NATIVE_RATE = {"sample_rate": 8000, "slice_len": 8192}
PAPER_RATE = {"sample_rate": 16000, "slice_len": 16384}
ARMS.update({f"{name}@8k": {**options, **NATIVE_RATE} for name, options in list(ARMS.items())})


def arm_configs(names, round_seconds: float, dataset: str = "fsdd"):
    from bench.quality_run import load_quality_config
    # The paper's recipe at the CPU's scale (d=16, batch 16) and rate (16 kHz, 16384 samples, whatever rate the
    # reference run uses: @8k arms change it); each arm sets what it changes.
    base = load_quality_config(os.path.join(BENCH, "quality", f"{dataset}.json"), recipe="paper").replace(
        model_size=16, batch_size=16, **PAPER_RATE)
    base = base.replace(eval_every_steps=0, time_budget_secs=round_seconds, steps=10 ** 7,
                        checkpoint_every_steps=10 ** 6, checkpoint_every_secs=10 ** 6)
    return {name: base.replace(**ARMS[name]) for name in names}


def at_judge_rate(clips, cfg, judged):
    """Clips of an arm at another rate or length, resampled and cut to the judge's (`judged` config)."""
    import numpy as np
    import soxr
    if (cfg.sample_rate, cfg.slice_len) == (judged.sample_rate, judged.slice_len):
        return clips
    out = np.zeros([len(clips), judged.slice_len, clips.shape[2]], np.float32)
    for i, clip in enumerate(clips):
        resampled = soxr.resample(clip, cfg.sample_rate, judged.sample_rate)[:judged.slice_len]
        out[i, :len(resampled)] = resampled
    return out


def judge_arm(trainer, reference, judged, clips: int, seed_offset: int = 0, voicing: bool = False,
              truncation: float = 1.0) -> dict:
    """The judge's scores of an arm's clips, and how many of them the arm's own critic names as asked
    (truncation: the latents scaled, models.generate.seeded_draw)."""
    from models.selection import critic_label_accuracy, evaluation_latents, generate_clips
    cfg = trainer.cfg.replace(train_eval_clips=clips, seed=trainer.cfg.seed + seed_offset)
    z, labels = evaluation_latents(cfg)
    audio = generate_clips(trainer.sampler, truncation * z, labels)
    scores = reference.score(at_judge_rate(audio, trainer.cfg, judged), labels, voicing=voicing)
    critic = critic_label_accuracy(trainer.discriminator, audio, labels)
    return scores if critic is None else {**scores, "critic_label_accuracy": critic}


def run_rounds(trainers: dict, dataset_for, reference, judged, rounds: int, eval_clips: int) -> dict:
    """Every arm trains its share of each round in turn, then all are judged."""
    curves = {name: [] for name in trainers}
    seconds = {name: 0.0 for name in trainers}
    for round_index in range(rounds):
        for name, trainer in trainers.items():
            t0 = time.time()
            trainer.fit(dataset_for(trainer.cfg), export=False)
            seconds[name] += time.time() - t0
        for name, trainer in trainers.items():
            m = judge_arm(trainer, reference, judged, eval_clips)
            curves[name].append({"round": round_index + 1, "minutes": round(seconds[name] / 60, 2),
                                 "steps": trainer.current_step, **short_metrics(m)})
            print(f"round {round_index + 1}/{rounds} {name:22} {trainer.current_step:6d} steps  "
                  f"IS ratio {m['inception_score_ratio']:.3f}  label acc ratio {m['label_accuracy_ratio']:.3f}  "
                  f"FD {m['frechet_distance']:.2f}  NDB {m['ndb']}", flush=True)
    return {"curves": curves, "seconds": seconds}


def short_metrics(metrics: dict) -> dict:
    keys = ("inception_score", "inception_score_ratio", "label_accuracy", "label_accuracy_ratio",
            "frechet_distance", "ndb", "class_histogram", "label_accuracy_per_class", "silent_fraction", "floor_db",
            "critic_label_accuracy", "voiced_fraction", "voiced_fraction_ratio")
    return {k: metrics[k] for k in keys if k in metrics}


def spectrogram_row(folder: str, name: str, trainer, data, judged) -> str:
    """The report's spectrogram panel for an arm: one real and one generated clip per class."""
    import numpy as np
    from models.labels import file_part
    from components.report import plot_spectrograms
    from models.selection import generate_clips
    cfg = trainer.cfg
    classes = np.arange(cfg.num_classes, dtype=np.int32)
    z = np.random.RandomState(3).uniform(-1, 1, [cfg.num_classes, cfg.latent_dim]).astype(np.float32)
    fake = at_judge_rate(generate_clips(trainer.sampler, z, classes), cfg, judged)
    real = np.stack([data.audio[np.flatnonzero(data.labels == k)[0]] for k in classes])
    titles = [str(data.vocabulary[k]) for k in classes]
    return plot_spectrograms((real, titles), (fake, titles), judged.sample_rate, folder, f"{file_part(name)}.png")


def print_table(rows: list) -> None:
    print(f"{'arm':24}{'min':>6}{'steps':>7}{'IS ratio':>10}{'label acc':>11}{'FD':>8}{'NDB':>5}{'floor dB':>10}"
          f"{'critic acc':>12}{'voiced':>8}")
    for r in rows:
        m = r["final"]
        print(f"{r['arm']:24}{r['minutes']:6.1f}{r['steps']:7d}{m['inception_score_ratio']:10.3f}"
              f"{m['label_accuracy_ratio']:11.3f}{m['frechet_distance']:8.2f}{m['ndb']:5d}"
              f"{m.get('floor_db', float('nan')):10.1f}{m.get('critic_label_accuracy', float('nan')):12.2f}"
              f"{m.get('voiced_fraction_ratio', float('nan')):8.2f}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["fsdd", "drums"], default="fsdd")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arm names")
    parser.add_argument("--minutes", type=float, default=10.0, help="training minutes per arm")
    parser.add_argument("--rounds", type=int, default=5, help="turns each arm takes (equal shares)")
    parser.add_argument("--eval-clips", type=int, default=200, help="clips judged per arm after each round")
    parser.add_argument("--run-dir", default=os.path.join(BENCH, "runs", "ablation"))
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "quality", "ablation.json"))
    parser.add_argument("--rejudge", action="store_true",
                        help="train nothing: judge the arms' last checkpoints in --run-dir again (today's judge and "
                             "metrics), keeping minutes, steps and curves from --out")
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.arms.split(",") if n.strip()]
    unknown = sorted(set(args.names) - set(ARMS))
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")
    if args.rejudge:
        if not os.path.exists(args.out):
            parser.error(f"--rejudge needs the earlier results at {args.out}")
        with open(args.out) as f:  # the shares the arms were trained in
            earlier = json.load(f)
        args.minutes, args.rounds = earlier["minutes_per_arm"], earlier["rounds"]
    return args


def load_splits(args, configs, judged):
    """(each rate's (train, held-out) slices, the judge's reference): the same files held out at every rate."""
    from bench.quality_run import load_dataset
    from models.quality import reference_for_folder
    splits = {}
    for cfg in configs.values():
        key = (cfg.sample_rate, cfg.slice_len)
        if key not in splits:
            splits[key] = load_dataset(args.dataset, args.run_dir, cfg).split(10)
    train_part, held_out = splits.get((judged.sample_rate, judged.slice_len)) or load_dataset(
        args.dataset, args.run_dir, judged).split(10)
    reference = reference_for_folder(train_part, held_out, judged.sample_rate, os.path.join(args.run_dir, "judge"),
                                     judged.seed)
    return splits, held_out, reference


def earlier_outcome(path: str, names) -> dict:
    """The minutes and curves of an earlier run of these arms (for --rejudge)."""
    with open(path) as f:
        rows = {row["arm"]: row for row in json.load(f)["arms"]}
    missing = [name for name in names if name not in rows]
    if missing:
        raise SystemExit(f"{path} has no arm(s) {', '.join(missing)}")
    return {"seconds": {name: rows[name]["minutes"] * 60 for name in names},
            "curves": {name: rows[name]["curve"] for name in names}}


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    from models.data import in_memory_dataset
    from models.train import Trainer
    configs = arm_configs(args.names, args.minutes * 60 / args.rounds, args.dataset)
    judged = arm_configs(["paper"], 1, args.dataset)["paper"]  # the judge's rate and length: the data set's 16 kHz
    splits, held_out, reference = load_splits(args, configs, judged)
    if not args.rejudge:  # a fresh start: a resumed arm would have trained outside the equal shares
        for name in args.names:
            shutil.rmtree(os.path.join(args.run_dir, name), ignore_errors=True)
    trainers = {name: Trainer(cfg, os.path.join(args.run_dir, name)) for name, cfg in configs.items()}
    outcome = (earlier_outcome(args.out, args.names) if args.rejudge else
               run_rounds(trainers, lambda cfg: in_memory_dataset(splits[(cfg.sample_rate, cfg.slice_len)][0], cfg),
                          reference, judged, args.rounds, args.eval_clips))
    figures = os.path.splitext(args.out)[0]  # ablation.json -> ablation/
    os.makedirs(os.path.join(figures, "media"), exist_ok=True)
    rows = []
    for name, trainer in trainers.items():
        final = short_metrics(judge_arm(trainer, reference, judged, FINAL_CLIPS, seed_offset=1, voicing=True))
        spectrogram_row(figures, name, trainer, held_out, judged)
        rows.append({"arm": name, "options": ARMS[name], "minutes": round(outcome["seconds"][name] / 60, 2),
                     "steps": trainer.current_step, "final": final, "curve": outcome["curves"][name]})
    result = {"dataset": args.dataset, "base_config": json.loads(judged.to_json()),
              "judge": reference.describe(), "rounds": args.rounds, "minutes_per_arm": args.minutes,
              "final_clips": FINAL_CLIPS, "machine": machine_info(), "arms": rows}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print_table(rows)
    print(f"results: {args.out}\nspectrograms: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
