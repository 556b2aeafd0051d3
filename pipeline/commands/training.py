"""`wavegan train | generate | preview | evaluate | report`: a model from audio, and what it sounds like."""
from __future__ import annotations

import glob
import json
import os
import sys

from pipeline.commands.common import CLIError, existing_dir


def cmd_train(args):
    from models.distribute import make_strategy
    strategy = make_strategy(args.strategy)  # first: multi-worker collectives are set up once per process
    from models import data
    from models.config import WaveGANConfig, config_from_args
    from models.train import Trainer

    cfg = config_from_args(args, _base_config(args))
    if bool(args.data_dir) == bool(args.tfrecords):
        raise CLIError("give exactly one of --data-dir or --tfrecords")
    if cfg.eval_every_steps and not args.data_dir:
        raise CLIError("--eval-every-steps needs --data-dir: a held-out share of it is the evaluation set")
    reference = None
    if args.data_dir:
        data_dir = existing_dir(args.data_dir, "data directory")
        from models.audio import list_audio_files
        files = list_audio_files(data_dir)
        label_source, cfg = _labels(args, data_dir, files, cfg)
        hint = rate_hint(files, cfg)
        if hint:
            print(hint, flush=True)
        folder = data.load_folder(data_dir, cfg, label_source)
        folder.check_fills(cfg)
        for path, reason in folder.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        if cfg.eval_every_steps:
            from models.quality import reference_for_folder
            folder, held_out = folder.split(args.eval_percent)
            if len(folder.audio) < cfg.batch_size:
                raise CLIError(f"{len(folder.audio)} training slices after holding out {args.eval_percent}%: "
                               f"fewer than one batch ({cfg.batch_size})")
            reference = reference_for_folder(folder, held_out, cfg.sample_rate,
                                             args.judge or os.path.join(args.out, "judge"), cfg.seed,
                                             args.judge_epochs)
            print(f"evaluating every {cfg.eval_every_steps} steps on {len(held_out.audio)} held-out slices "
                  f"with judge: {reference.judge_kind}", flush=True)
        dataset = data.in_memory_dataset(folder, cfg)
    else:
        dataset = data.tfrecord_dataset(args.tfrecords, cfg)
    trainer = Trainer(cfg, args.out, strategy=strategy)
    metrics = trainer.fit(dataset, reference=reference)
    print(f"trained {trainer.current_step} steps: " + " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    if trainer.stop_reason:
        print(trainer.stop_reason)
    if trainer.best:
        print(f"best checkpoint: step {trainer.best['step']}: {trainer.best['reason']}")
    print(f"SavedModel: {os.path.join(args.out, 'export')}")


def _base_config(args):
    """The options before flags: a run directory's own (resuming), else the recipe under the --config file."""
    from models.config import ConfigError, WaveGANConfig, merge_options
    from models.recipes import describe, resolve_recipe
    from models.train import CONFIG_FILE
    saved = os.path.join(args.out, CONFIG_FILE)
    if args.recipe is None and not args.config and os.path.exists(saved):
        print(f"resuming {args.out} with the options it was started with ({saved})", flush=True)
        return WaveGANConfig.from_file(saved)
    name, values, why = resolve_recipe(args.recipe or "auto")
    print(describe(name, why), flush=True)
    if args.config:
        try:
            with open(args.config) as f:
                values = merge_options(values, json.load(f))
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read config {args.config}: {error}") from None
    return WaveGANConfig.from_dict(values)


def _labels(args, data_dir: str, files: list, cfg):
    """(label source, config): --label-source auto finds folder or file-name labels, and a
    labelled folder trains a class-conditional model unless num_classes was set."""
    from models.audio import detect_label_source, label_name_for
    source = args.label_source
    if source == "auto":
        source = detect_label_source(files, data_dir)
    names = sorted({label_name_for(os.path.abspath(f), source, os.path.abspath(data_dir)) for f in files} - {""})
    if len(names) >= 2 and not cfg.conditional and args.num_classes is None and not _config_file_sets_num_classes(args):
        cfg = cfg.replace(num_classes=len(names))
    if cfg.conditional and len(names) == cfg.num_classes and not cfg.label_names:
        cfg = cfg.replace(label_names=names)  # the names travel with the checkpoints and the export
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    print(f"labels: {len(names)} classes from {source} names ({shown}): " +
          (f"training a class-conditional model ({cfg.num_classes} classes)" if cfg.conditional
           else "training an unconditional model"), flush=True)
    return source, cfg


def rate_hint(files: list, cfg) -> str:
    """A line when every file is recorded at half the training rate or less: the top band of every
    slice is then empty, and the data's own rate halves the work a step (on FSDD, recorded at 8 kHz,
    it also judged better in equal time: README "Choosing the recipe")."""
    import soundfile as sf
    from models.config import SLICE_LENGTHS
    rates = set()
    for path in files:
        try:
            rates.add(sf.info(path).samplerate)
        except (RuntimeError, OSError):  # not libsndfile's: decoded (or skipped, with its reason) later
            continue
    if not rates or 2 * max(rates) > cfg.sample_rate:
        return ""
    native = max(rates)
    line = (f"note: the audio is recorded at {native} Hz or less, so above {native // 2} Hz every "
            f"{cfg.sample_rate} Hz slice is empty")
    slice_len = cfg.slice_len * native // cfg.sample_rate
    if slice_len in SLICE_LENGTHS and cfg.slice_len * native % cfg.sample_rate == 0:
        line += (f"; --sample-rate {native} --slice-len {slice_len} trains at its own rate, the same "
                 "seconds a slice, with less work a step")
    return line


def _config_file_sets_num_classes(args) -> bool:
    """Whether a --config file (or the resumed run) sets num_classes itself."""
    from models.train import CONFIG_FILE
    path = args.config or os.path.join(args.out, CONFIG_FILE)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        return "num_classes" in json.load(f)


def cmd_generate(args):
    if args.latent and args.truncation != 1:
        raise CLIError("--truncation scales a seed's latents; a latent file's vectors are used as they are")
    if args.latent:
        from models.steer import latent_wavs
        written = latent_wavs(args.model, args.latent, args.out, label=args.label)
        print(f"wrote {len(written)} WAV files from {args.latent} to {args.out}")
        return
    from models.generate import generate_wavs
    paths = generate_wavs(args.model, args.out, n=args.n, seed=args.seed, label=args.label,
                          truncation=args.truncation)
    print(f"wrote {len(paths)} WAV files to {args.out}")


def cmd_preview(args):
    from models.generate import write_previews
    written = write_previews(existing_dir(args.run, "run directory"), args.out)
    for step, paths in written.items():
        print(f"step {step}: {len(paths)} previews in {os.path.dirname(paths[0])}")


def cmd_evaluate(args):
    from components.evaluator import evaluate_on_folder
    reference, metrics = evaluate_on_folder(existing_dir(args.model, "model directory"),
                                            existing_dir(args.data_dir, "data directory"), args.label_source,
                                            args.judge or "", args.clips, args.seed, args.judge_epochs,
                                            truncation=args.truncation)
    _print_evaluation(reference, metrics)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(metrics, f, indent=2)
        print(f"metrics: {args.json}")


def _print_evaluation(reference, metrics):
    from pipeline.runner import format_metrics
    for skipped in metrics["skipped"]:
        print(f"skipped {skipped['path']}: {skipped['reason']}", file=sys.stderr)
    judge = metrics["judge"]
    if reference.judge is None:
        print(f"note: judge: {judge['kind']}", file=sys.stderr)
    else:
        print(f"judge: {judge['kind']}, {len(judge['label_names'])} labels, accuracy on real eval "
              f"{judge['eval_accuracy']:.3f}")
    truncation = metrics.get("truncation", 1.0)
    for name in ("real_train", "real_eval", "candidate"):
        shown = f"{name} (truncation {truncation:g})" if name == "candidate" and truncation != 1 else name
        print(f"{shown}: {format_metrics(metrics[name])}")


def cmd_report(args):
    from components.evaluator import evaluate_on_folder
    from components.report import write_report
    from models.train import EXPORT_DIR
    if bool(args.run) == bool(args.model):
        raise CLIError("give exactly one of --run (a training run directory) or --model (an exported model)")
    model_dir, run_dir = args.model, args.run or ""
    if run_dir:
        existing_dir(run_dir, "run directory")
        if not glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index")):
            raise CLIError(f"{run_dir} has no checkpoints: train first (wavegan train --out {run_dir})")
        model_dir = os.path.join(run_dir, EXPORT_DIR)
        if not os.path.isdir(model_dir):
            raise CLIError(f"{run_dir} has checkpoints but no export yet: let the run finish (or re-run it)")
    judge = args.judge or (os.path.join(run_dir, "judge") if run_dir and os.path.isdir(os.path.join(run_dir, "judge"))
                           else "")
    reference, metrics = evaluate_on_folder(existing_dir(model_dir, "model directory"),
                                            existing_dir(args.data_dir, "data directory"), args.label_source,
                                            judge, args.clips, args.seed, args.judge_epochs)
    _print_evaluation(reference, metrics)
    if run_dir:
        from models.selection import BEST_FILE
        best_path = os.path.join(run_dir, BEST_FILE)
        if os.path.exists(best_path):
            with open(best_path) as f:
                metrics["best"] = json.load(f)
    path = write_report(args.out, args.title or f"WaveGAN report: {os.path.basename(os.path.abspath(run_dir or model_dir))}",
                        model_dir, reference, metrics, run_dir=run_dir)
    print(f"report: {path}")


def _add_judging_flags(p, model_required=True):
    p.add_argument("--model", required=model_required, help="exported SavedModel directory")
    p.add_argument("--data-dir", required=True, help="folder of real audio to compare with")
    p.add_argument("--label-source", choices=["folder", "prefix", "none"], default="folder",
                   help="labels: parent folder name, or file name before the first '_' (none: no inception score)")
    p.add_argument("--judge", help="judge folder to use (default: trained once per data set and cached)")
    p.add_argument("--judge-epochs", type=int, default=30, help="epochs when a judge has to be trained")
    p.add_argument("--clips", type=int, default=256, help="clips generated and real clips compared")
    p.add_argument("--seed", type=int, default=0, help="latent seed of the generated clips")


def _add_truncation_flag(p):
    p.add_argument("--truncation", type=float, default=1.0,
                   help="scale the seed's latents by this, in (0, 1]: below 1, less variety and clips nearer "
                        "each class's typical sound (the truncation trick; README, Quality)")


def add_parsers(sub):
    for add in (_train_parser, _generate_parser, _preview_parser, _evaluate_parser, _report_parser):
        add(sub)


def _train_parser(sub):
    from models.config import add_config_flags
    from models.recipes import RECIPE_NAMES
    p = sub.add_parser("train", help="train a WaveGAN from an audio folder or TFRecords")
    p.add_argument("--data-dir", help="folder of audio files (labels = parent folder names)")
    p.add_argument("--tfrecords", help="TFRecord file pattern of the example schema")
    p.add_argument("--out", required=True, help="run directory: checkpoints, logs, export/")
    p.add_argument("--config", help="JSON config file over the recipe; flags override both")
    p.add_argument("--recipe", choices=RECIPE_NAMES, default=None,
                   help="auto (default): gpu with a GPU, else cpu (d=16, batch 16); paper: the WaveGAN paper's "
                        "(d=64, batch 64, WGAN-GP, 5 critic updates). A resumed run keeps its own options")
    p.add_argument("--strategy", choices=["auto", "default", "mirrored", "multi-worker"], default="auto",
                   help="auto: multi-worker when TF_CONFIG names several workers, mirrored over a machine's "
                        "GPUs when it has more than one, else one device")
    p.add_argument("--label-source", choices=["auto", "folder", "prefix", "none"], default="auto",
                   help="labels of --data-dir files: parent folder name, file name before the first '_', or auto "
                        "(folders when there are two or more, else prefixes when every name has one)")
    p.add_argument("--eval-percent", type=int, default=10,
                   help="share of --data-dir files held out for --eval-every-steps")
    p.add_argument("--judge", help="a trained judge folder to score with (default <out>/judge, trained once)")
    p.add_argument("--judge-epochs", type=int, default=30, help="epochs when the judge has to be trained")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)


def _generate_parser(sub):
    p = sub.add_parser("generate", help="write WAVs from an exported model")
    p.add_argument("--model", required=True, help="exported SavedModel directory")
    p.add_argument("--n", type=int, default=16, help="number of clips")
    p.add_argument("--seed", type=int, default=0, help="latent seed: same seed, same audio")
    p.add_argument("--label", default=None, help="class name or index (conditional models)")
    p.add_argument("--latent", help="generate from the vectors of this latent file (search, vary) instead of a seed")
    _add_truncation_flag(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_generate)


def _preview_parser(sub):
    p = sub.add_parser("preview", help="fixed-latent previews for each checkpoint of a run")
    p.add_argument("--run", required=True, help="training run directory")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_preview)


def _evaluate_parser(sub):
    p = sub.add_parser("evaluate", help="score an exported model against a folder of real audio")
    _add_judging_flags(p)
    _add_truncation_flag(p)
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.set_defaults(func=cmd_evaluate)


def _report_parser(sub):
    p = sub.add_parser("report", help="an HTML page to see and hear a training run or an exported model")
    p.add_argument("--run", help="training run directory (wavegan train --out)")
    _add_judging_flags(p, model_required=False)
    p.add_argument("--out", required=True, help="report folder (index.html + media/)")
    p.add_argument("--title", help="page title")
    p.set_defaults(func=cmd_report)
