"""The `wavegan` command: one entry point, one subcommand per job.

Errors a user can fix (bad flag, missing path, bad config) print one line and exit 2.
Heavy libraries load only inside the subcommand that needs them.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys

from models.errors import WaveGANError, first_line

EXIT_USAGE = 2


class CLIError(WaveGANError):
    """A bad combination of flags: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _existing_dir(path: str, what: str) -> str:
    if not os.path.isdir(path):
        raise CLIError(f"{what} not found: {path}")
    return path


def _this_command() -> str:
    """How to run `wavegan` again from here (the venv's script when it is not on PATH)."""
    import shutil
    if shutil.which("wavegan") == os.path.abspath(sys.argv[0]) or not os.path.isfile(sys.argv[0]):
        return "wavegan"
    return os.path.relpath(sys.argv[0])


def _quiet_libraries(verbose: bool):
    """Keeps stderr for what the user needs: TensorFlow's native start-up notices only with -v."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-api-core's Python 3.10 notice


# ----- subcommands -----
def cmd_train(args):
    from models.config import WaveGANConfig, config_from_args
    from models.train import Trainer
    from models import data

    base = WaveGANConfig.from_file(args.config) if args.config else None
    cfg = config_from_args(args, base)
    if bool(args.data_dir) == bool(args.tfrecords):
        raise CLIError("give exactly one of --data-dir or --tfrecords")
    if cfg.eval_every_steps and not args.data_dir:
        raise CLIError("--eval-every-steps needs --data-dir: a held-out share of it is the evaluation set")
    strategy = _strategy(args.strategy)
    reference = None
    if args.data_dir:
        folder = data.load_folder(_existing_dir(args.data_dir, "data directory"), cfg, args.label_source)
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


def _strategy(name: str):
    import tensorflow as tf
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def cmd_generate(args):
    from models.generate import generate_wavs
    paths = generate_wavs(args.model, args.out, n=args.n, seed=args.seed, label=args.label)
    print(f"wrote {len(paths)} WAV files to {args.out}")


def cmd_preview(args):
    from models.generate import write_previews
    written = write_previews(_existing_dir(args.run, "run directory"), args.out)
    for step, paths in written.items():
        print(f"step {step}: {len(paths)} previews in {os.path.dirname(paths[0])}")


def cmd_evaluate(args):
    from components.evaluator import evaluate_on_folder
    reference, metrics = evaluate_on_folder(_existing_dir(args.model, "model directory"),
                                            _existing_dir(args.data_dir, "data directory"), args.label_source,
                                            args.judge or "", args.clips, args.seed, args.judge_epochs)
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
    for name in ("real_train", "real_eval", "candidate"):
        print(f"{name}: {format_metrics(metrics[name])}")


def cmd_report(args):
    from components.evaluator import evaluate_on_folder
    from components.report import write_report
    from models.train import EXPORT_DIR
    if bool(args.run) == bool(args.model):
        raise CLIError("give exactly one of --run (a training run directory) or --model (an exported model)")
    model_dir, run_dir = args.model, args.run or ""
    if run_dir:
        _existing_dir(run_dir, "run directory")
        if not glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index")):
            raise CLIError(f"{run_dir} has no checkpoints: train first (wavegan train --out {run_dir})")
        model_dir = os.path.join(run_dir, EXPORT_DIR)
        if not os.path.isdir(model_dir):
            raise CLIError(f"{run_dir} has checkpoints but no export yet: let the run finish (or re-run it)")
    judge = args.judge or (os.path.join(run_dir, "judge") if run_dir and os.path.isdir(os.path.join(run_dir, "judge"))
                           else "")
    reference, metrics = evaluate_on_folder(_existing_dir(model_dir, "model directory"),
                                            _existing_dir(args.data_dir, "data directory"), args.label_source,
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


def cmd_ingest(args):
    from components.audio_example_gen import run_standalone
    from components.audio_ingest import IngestError
    from models.config import IngestConfig, WaveGANConfig, config_from_args

    model_cfg = config_from_args(args, WaveGANConfig.from_file(args.config) if args.config else None)
    ingest_cfg = config_from_args(args, config_class=IngestConfig)
    _existing_dir(args.data_dir, "data directory")
    beam_args = list(args.beam_arg or [])
    if args.workers > 1:
        beam_args += [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
    try:
        report = run_standalone(args.data_dir, args.out, model_cfg, ingest_cfg, beam_args)
    except IngestError as error:
        raise CLIError(str(error)) from None
    for skipped in report["skipped"]:
        print(f"{skipped['status']} {skipped['path']}: {skipped['reason']}", file=sys.stderr)
    print(f"{report['files_ok']} files ok, {report['files_partial']} partial, {report['files_skipped']} skipped; "
          f"{report['slices']} slices ({report['audio_seconds']:.1f} s of audio), "
          f"{len(report['labels'])} labels")
    print(f"examples: {os.path.join(args.out, 'examples')}  report: {os.path.join(args.out, 'report')}")


def _pipeline_config(args):
    from models.config import IngestConfig, WaveGANConfig
    from pipeline.config import PIPELINE_FIELDS, load_pipeline_config
    overrides = {f.name: getattr(args, f.name, None) for f in PIPELINE_FIELDS}
    model = {k: v for k, v in vars(args).items() if v is not None and k in WaveGANConfig.__dataclass_fields__}
    ingest = {k: v for k, v in vars(args).items() if v is not None and k in IngestConfig.__dataclass_fields__}
    return load_pipeline_config(args.config or "", {**overrides, "model": model, "ingest": ingest})


def _run_and_print(cfg, data_only=False):
    from pipeline.runner import PipelineError, format_summary, run_local
    try:
        summary = run_local(cfg, data_only=data_only)
    except PipelineError as error:
        raise CLIError(str(error)) from None
    print(format_summary(summary), flush=True)
    return summary


def cmd_pipeline_run(args):
    from pipeline.schedule import AlreadyRunning
    try:
        _run_and_print(_pipeline_config(args), args.data_only)
    except AlreadyRunning as error:
        raise CLIError(str(error)) from None


def cmd_schedule(args):
    from pipeline.schedule import Cron, parse_every, run_schedule
    if bool(args.every) == bool(args.cron):
        raise CLIError("give exactly one of --every or --cron")
    every = parse_every(args.every) if args.every else 0
    cron = Cron(args.cron) if args.cron else None
    cfg = _pipeline_config(args)
    from pipeline.runner import check_data_root
    check_data_root(cfg)
    run_schedule(cfg, _run_and_print, lambda line: print(line, flush=True), every_seconds=every, cron=cron,
                 max_ticks=args.max_checks)


def cmd_pipeline_compile(args):
    from pipeline.kubeflow import compile_kubeflow
    path = compile_kubeflow(_pipeline_config(args), args.out)
    print(f"wrote the Kubeflow Pipelines v2 spec to {path}")
    print("upload it in the KFP UI, or: wavegan pipeline schedule --host URL --package " + path)


def cmd_pipeline_schedule(args):
    from pipeline.kubeflow import schedule_kubeflow
    from pipeline.schedule import parse_every
    if bool(args.every) == bool(args.cron):
        raise CLIError("give exactly one of --every or --cron")
    if not os.path.exists(args.package):
        raise CLIError(f"pipeline package not found: {args.package}")
    try:
        run_id = schedule_kubeflow(args.package, args.host, cron=args.cron or "",
                                   every_seconds=parse_every(args.every) if args.every else 0,
                                   experiment=args.experiment)
    except Exception as error:  # noqa: BLE001 - the KFP API's many failure types, one line
        raise CLIError(f"cannot create the recurring run on {args.host}: "
                       f"{first_line(error)}") from None
    print(f"recurring run {run_id} created on {args.host}")


def _server_config(args):
    from serving.config import model_config, read_model_config
    if args.model_config:
        return read_model_config(args.model_config)
    if not args.model_base:
        raise CLIError("give --model-base DIR (the folder of numbered versions) or --model-config FILE")
    _existing_dir(args.model_base, "model base path")
    return model_config(args.model_name, os.path.abspath(args.model_base))


def _server_options(args):
    from serving.metrics import read_monitoring_config
    from serving.server import ServerOptions
    monitoring = read_monitoring_config(args.monitoring_config) if args.monitoring_config else None
    if monitoring and monitoring.enable and not args.rest_port:
        raise CLIError("--monitoring-config serves metrics on the REST port: add --rest-port (e.g. 8501)")
    if args.tls_cert and not args.tls_key or args.tls_key and not args.tls_cert:
        raise CLIError("--tls-cert and --tls-key go together")
    return ServerOptions(host=args.host, port=args.port, max_batch_size=args.max_batch_size,
                         token=args.token or os.environ.get("WAVEGAN_TOKEN", ""), tls_cert=args.tls_cert or "",
                         tls_key=args.tls_key or "", tls_client_ca=args.tls_client_ca or "",
                         max_deadline_s=args.max_deadline, rest_port=args.rest_port or None, ui=not args.no_ui,
                         monitoring=monitoring)


def cmd_serve(args):
    from serving import tf_serving
    from serving.config import BatchingParameters, read_batching_parameters, write_model_config
    from serving.server import run_until_stopped
    server_config = _server_config(args)
    use_binary = args.backend == "tf-serving" or (args.backend == "auto" and tf_serving.binary()
                                                  and args.host == "0.0.0.0")
    if use_binary:
        if not tf_serving.binary():
            raise CLIError("tensorflow_model_server is not on PATH (use --backend embedded)")
        config_file = args.model_config or os.path.abspath(".wavegan_models.config")
        if not args.model_config:
            write_model_config(server_config, config_file)
        command = tf_serving.command(config_file, args.port, args.batching_config or "", args.monitoring_config or "",
                                     rest_port=args.rest_port)
        print("running " + " ".join(command), flush=True)
        tf_serving.exec_tf_serving(command)
    batching = read_batching_parameters(args.batching_config) if args.batching_config else BatchingParameters(
        max_batch_size=args.max_batch_size, batch_timeout_micros=args.batch_timeout_micros,
        num_batch_threads=args.batch_threads)
    run_until_stopped(server_config, _server_options(args), None if args.no_batching else batching,
                      args.poll_seconds)


def cmd_synth(args):
    import grpc
    from models.audio import write_wav
    from serving.client import SynthesisClient
    client = SynthesisClient(args.server, model=args.model, token=args.token or os.environ.get("WAVEGAN_TOKEN", ""),
                             root_cert=args.tls_ca or "", client_cert=args.tls_cert or "",
                             client_key=args.tls_key or "", timeout_s=args.timeout)
    try:
        outputs = client.draw(args.n, args.seed, label=args.label, version=args.version,
                              version_label=args.version_label or "")
    except grpc.RpcError as error:
        raise CLIError(f"{error.code().name}: {error.details()}") from None
    finally:
        client.close()
    rate = args.sample_rate or int(outputs.get("sample_rate", 0))
    if not rate:
        rate = 16000
        print("warning: the model does not say its sample rate (exported before it did): writing 16000 Hz; "
              "set --sample-rate if that is wrong", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    for i, clip in enumerate(outputs["audio"]):
        write_wav(os.path.join(args.out, f"synth_seed{args.seed}_{i:04d}.wav"), clip, rate)
    print(f"wrote {len(outputs['audio'])} WAV files at {rate} Hz to {args.out}")


def cmd_demo_data(args):
    from pipeline.demo_data import SpeechUnavailable, make_demo_data, make_spoken_digits
    paths = make_demo_data(args.out, files_per_class=args.files_per_class, seed=args.seed)
    print(f"wrote {len(paths)} drum hits to {args.out}")
    if args.speech:
        try:
            spoken = make_spoken_digits(args.out, files_per_digit=args.files_per_class, seed=args.seed)
            print(f"wrote {len(spoken)} spoken digits to {args.out}")
        except SpeechUnavailable as error:
            print(f"warning: {error}", file=sys.stderr)


def cmd_demo(args):
    """The main job on built-in data: two spans through the pipeline, then audio over gRPC."""
    from models.audio import write_wav
    from pipeline.config import PipelineConfig
    from serving.client import SynthesisClient
    from serving.config import model_config
    from serving.server import EmbeddedServer, ServerOptions
    from pipeline.demo_data import make_demo_data
    from serving.model_dirs import latest_version_dir

    data_root = os.path.join(args.out, "data")
    cfg = PipelineConfig(data_root=data_root, output_dir=args.out, train_steps=args.steps, eval_clips=64,
                         judge_epochs=10,
                         model={"model_size": args.model_size, "batch_size": 16, "d_updates": 5,
                                "checkpoint_every_steps": max(args.steps // 2, 1), "summary_every_steps": 10,
                                "audio_summary_every_steps": max(args.steps // 2, 1),
                                "eval_every_steps": max(args.steps // 4, 1), "train_eval_clips": 64},
                         ingest={"eval_percent": 20})
    for span, seed in ((1, 0), (2, 1)):
        paths = make_demo_data(os.path.join(data_root, f"span-{span}"), files_per_class=args.files_per_class,
                               seed=seed)
        print(f"== span {span}: {len(paths)} synthesised drum hits in {data_root}/span-{span}", flush=True)
        summary = _run_and_print(cfg)
    if latest_version_dir(cfg.serving_model_base) is None:
        raise CLIError("no model was pushed")
    server = EmbeddedServer(model_config(cfg.model_name, os.path.abspath(cfg.serving_model_base)),
                            ServerOptions(host="127.0.0.1", port=0)).start()
    print(f"== serving {cfg.serving_model_base} on 127.0.0.1:{server.port} (gRPC, TF Serving API)", flush=True)
    try:
        client = SynthesisClient(f"127.0.0.1:{server.port}", model=cfg.model_name)
        audio = client.sample(8, seed=0)
        version = client.status()[-1].version
        client.close()
    finally:
        server.stop()
    wav_dir = os.path.join(args.out, "generated")
    os.makedirs(wav_dir, exist_ok=True)
    for i, clip in enumerate(audio):
        write_wav(os.path.join(wav_dir, f"synth_{i:02d}.wav"), clip, cfg.model_config().sample_rate)
    print(f"== synthesised {len(audio)} clips over gRPC with version {version}, server stopped: {wav_dir}")
    print(f"TensorBoard: tensorboard --logdir {cfg.pipeline_root}/Trainer")
    if summary.get("report"):
        print(f"== quality report of the last candidate (open in a browser): {summary['report']}")
    print(f"== listen, interpolate and sequence in the browser: {_this_command()} serve --model-base "
          f"{cfg.serving_model_base} --rest-port 8501, then open http://127.0.0.1:8501/")


def _add_pipeline_flags(p):
    from models.config import IngestConfig, add_config_flags
    from pipeline.config import PipelineConfig
    p.add_argument("--config", help="pipeline config JSON (flags override it)")
    p.add_argument("--output", dest="output_dir", help="pipeline root, metadata and serving dir")
    add_config_flags(p, PipelineConfig, "pipeline options", skip=("model", "ingest", "output_dir"))
    add_config_flags(p, title="model options (model.*)", skip=("steps",))
    add_config_flags(p, IngestConfig, "ingest options (ingest.*)")


def _add_judging_flags(p, model_required=True):
    p.add_argument("--model", required=model_required, help="exported SavedModel directory")
    p.add_argument("--data-dir", required=True, help="folder of real audio to compare with")
    p.add_argument("--label-source", choices=["folder", "prefix", "none"], default="folder",
                   help="labels: parent folder name, or file name before the first '_' (none: no inception score)")
    p.add_argument("--judge", help="judge folder to use (default: trained once per data set and cached)")
    p.add_argument("--judge-epochs", type=int, default=30, help="epochs when a judge has to be trained")
    p.add_argument("--clips", type=int, default=256, help="clips generated and real clips compared")
    p.add_argument("--seed", type=int, default=0, help="latent seed of the generated clips")


def build_parser() -> argparse.ArgumentParser:
    from models.config import IngestConfig, add_config_flags

    parser = _Parser(prog="wavegan", description="WaveGAN: train, export and generate raw audio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a WaveGAN from an audio folder or TFRecords")
    p.add_argument("--data-dir", help="folder of audio files (labels = parent folder names)")
    p.add_argument("--tfrecords", help="TFRecord file pattern of the example schema")
    p.add_argument("--out", required=True, help="run directory: checkpoints, logs, export/")
    p.add_argument("--config", help="JSON config file; flags override it")
    p.add_argument("--strategy", choices=["default", "mirrored"], default="default",
                   help="mirrored = data-parallel over all local GPUs")
    p.add_argument("--label-source", choices=["folder", "prefix", "none"], default="folder",
                   help="labels of --data-dir files: parent folder name, or file name before the first '_'")
    p.add_argument("--eval-percent", type=int, default=10,
                   help="share of --data-dir files held out for --eval-every-steps")
    p.add_argument("--judge", help="a trained judge folder to score with (default <out>/judge, trained once)")
    p.add_argument("--judge-epochs", type=int, default=30, help="epochs when the judge has to be trained")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="write WAVs from an exported model")
    p.add_argument("--model", required=True, help="exported SavedModel directory")
    p.add_argument("--n", type=int, default=16, help="number of clips")
    p.add_argument("--seed", type=int, default=0, help="latent seed: same seed, same audio")
    p.add_argument("--label", type=int, default=None, help="class label (conditional models)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("preview", help="fixed-latent previews for each checkpoint of a run")
    p.add_argument("--run", required=True, help="training run directory")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("evaluate", help="score an exported model against a folder of real audio")
    _add_judging_flags(p)
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="an HTML page to see and hear a training run or an exported model")
    p.add_argument("--run", help="training run directory (wavegan train --out)")
    _add_judging_flags(p, model_required=False)
    p.add_argument("--out", required=True, help="report folder (index.html + media/)")
    p.add_argument("--title", help="page title")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("ingest", help="audio folder -> TFRecord examples (train/eval) and a report")
    p.add_argument("--data-dir", required=True, help="folder tree of audio files")
    p.add_argument("--out", required=True, help="output: examples/, report/, vocabulary/")
    p.add_argument("--config", help="JSON model config (sample rate, slice length, channels)")
    p.add_argument("--workers", type=int, default=1, help="Beam DirectRunner worker processes")
    p.add_argument("--beam-arg", action="append", help="extra Beam pipeline option, e.g. --beam-arg=--runner=FlinkRunner")
    for name, kind, help_text in (("sample-rate", int, "target sample rate (default 16000)"),
                                  ("slice-len", int, "samples per slice (default 16384)"),
                                  ("num-channels", int, "channels to keep (default 1 = mix down)")):
        p.add_argument(f"--{name}", dest=name.replace("-", "_"), type=kind, help=help_text)
    add_config_flags(p, IngestConfig, "segmentation and labelling options")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("pipeline", help="the TFX pipeline: run locally, compile for Kubeflow, schedule")
    pipeline_sub = p.add_subparsers(dest="pipeline_command", metavar="ACTION", parser_class=_Parser)
    pipeline_sub.required = True
    p = pipeline_sub.add_parser("run", help="run once with LocalDagRunner (SQLite metadata)")
    _add_pipeline_flags(p)
    p.add_argument("--data-only", action="store_true", help="stop after data validation (no training)")
    p.set_defaults(func=cmd_pipeline_run)

    p = pipeline_sub.add_parser("compile", help="compile for Kubeflow Pipelines v2 / Vertex AI")
    p.add_argument("--target", choices=["kubeflow"], default="kubeflow")
    p.add_argument("--out", default="pipeline.yaml", help=".yaml: KFP pipeline spec; .json: PipelineJob")
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_pipeline_compile)

    p = pipeline_sub.add_parser("schedule", help="create a recurring run on Kubeflow Pipelines (kfp client)")
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    p.add_argument("--package", default="pipeline.yaml", help="compiled pipeline (wavegan pipeline compile)")
    p.add_argument("--every", help="interval: 30m, 6h, 1d")
    p.add_argument("--cron", help="cron expression (KFP's 6 fields: s m h dom mon dow)")
    p.add_argument("--experiment", default="wavegan")
    p.set_defaults(func=cmd_pipeline_schedule)

    p = sub.add_parser("schedule", help="retrain locally whenever new audio arrives, on a schedule")
    p.add_argument("--every", help="check interval: 30m, 6h, 1d")
    p.add_argument("--cron", help="5-field cron expression, e.g. '0 3 * * *'")
    p.add_argument("--max-checks", type=int, default=0, help="stop after N checks (0 = run forever)")
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("serve", help="serve models over gRPC and REST (TF Serving API), with a studio page")
    p.add_argument("--model-base", help="folder of numbered SavedModel versions (e.g. <serving_dir>/wavegan)")
    p.add_argument("--model-name", default="wavegan")
    p.add_argument("--model-config", help="TF Serving model config file (several models, policies, labels)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--port", type=int, default=8500)
    p.add_argument("--backend", choices=["auto", "embedded", "tf-serving"], default="auto",
                   help="auto: tensorflow_model_server if on PATH and --host 0.0.0.0 (it binds all interfaces), "
                        "else the embedded server")
    p.add_argument("--batching-config", help="TF Serving batching parameters file")
    p.add_argument("--rest-port", type=int, default=0,
                   help="also serve TF Serving's REST API, the studio page and metrics on this port (0 = off)")
    p.add_argument("--no-ui", action="store_true", help="no synthesis studio page at / on the REST port")
    p.add_argument("--monitoring-config", help="TF Serving monitoring config: Prometheus metrics on the REST port "
                                              "(e.g. serving/deploy/monitoring.config)")
    p.add_argument("--max-batch-size", type=int, default=64, help="largest batch per request and per model call")
    p.add_argument("--batch-timeout-micros", type=int, default=2000, help="how long a batch waits to fill")
    p.add_argument("--batch-threads", type=int, default=2, help="batches that may run at once")
    p.add_argument("--no-batching", action="store_true", help="run each request on its own")
    p.add_argument("--max-deadline", type=float, default=30.0, help="seconds one request may take at most")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
    p.add_argument("--token", help="require 'authorization: Bearer TOKEN' (or set WAVEGAN_TOKEN)")
    p.add_argument("--tls-cert", help="server certificate (PEM)")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", help="CA of client certificates: turns on mutual TLS")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("synth", help="synthesise audio over gRPC and write WAVs")
    p.add_argument("--server", default="127.0.0.1:8500", help="HOST:PORT")
    p.add_argument("--model", default="wavegan")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, help="class label (conditional models)")
    p.add_argument("--version", type=int, help="model version (default: latest)")
    p.add_argument("--version-label", help="version label, e.g. stable or canary")
    p.add_argument("--out", required=True)
    p.add_argument("--sample-rate", type=int, help="sample rate to write the WAVs at (default: the model's)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds")
    p.add_argument("--token", help="bearer token (or set WAVEGAN_TOKEN)")
    p.add_argument("--tls-ca", help="CA certificate to trust (turns on TLS)")
    p.add_argument("--tls-cert", help="client certificate (mutual TLS)")
    p.add_argument("--tls-key", help="client key (mutual TLS)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("demo-data", help="synthesise a labelled drum-hit dataset (no download)")
    p.add_argument("--out", required=True)
    p.add_argument("--files-per-class", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speech", action="store_true", help="also spoken digits (needs espeak-ng)")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("demo", help="demo data, two spans through the pipeline, then WAVs over gRPC")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--steps", type=int, default=100, help="generator steps per pipeline run")
    p.add_argument("--model-size", type=int, default=8)
    p.add_argument("--files-per-class", type=int, default=30)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    _quiet_libraries(verbose=bool({"-v", "--verbose"} & set(sys.argv[1:] if argv is None else argv)))
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for ours in ("models", "components", "pipeline", "serving"):  # our progress lines; others' warnings
        logging.getLogger(ours).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        args.func(args)
    except WaveGANError as error:
        if args.verbose:
            raise
        print(f"wavegan {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"wavegan {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
