"""`wavegan pipeline run | compile | schedule` and `wavegan schedule`: the TFX pipeline, here or on Kubeflow."""
from __future__ import annotations

import os

from models.errors import first_line
from pipeline.commands.common import CLIError


def _pipeline_config(args, **more):
    from models.config import IngestConfig, WaveGANConfig
    from pipeline.config import PIPELINE_FIELDS, load_pipeline_config
    overrides = {**{f.name: getattr(args, f.name, None) for f in PIPELINE_FIELDS}, **more}
    model = {k: v for k, v in vars(args).items() if v is not None and k in WaveGANConfig.__dataclass_fields__}
    ingest = {k: v for k, v in vars(args).items() if v is not None and k in IngestConfig.__dataclass_fields__}
    return load_pipeline_config(args.config or "", {**overrides, "model": model, "ingest": ingest})


def run_and_print(cfg, data_only=False):
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
        cfg = _pipeline_config(args)
        print(cfg.recipe_note, flush=True)
        run_and_print(cfg, args.data_only)
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
    run_schedule(cfg, run_and_print, lambda line: print(line, flush=True), every_seconds=every, cron=cron,
                 max_ticks=args.max_checks)


def cmd_pipeline_compile(args):
    cfg = _pipeline_config(args)  # a bad config is reported at once, before TFX's imports (~15 s)
    if cfg.recipe == "auto":  # the Trainer runs on the cluster's machines, not on this one
        cfg = _pipeline_config(args, recipe="gpu" if cfg.trainer_gpus else "cpu")
    print(cfg.recipe_note, flush=True)
    from pipeline.kubeflow import compile_kubeflow
    path = compile_kubeflow(cfg, args.out)
    print(f"wrote the Kubeflow Pipelines v2 spec to {path}")
    print("upload it in the KFP UI, or: wavegan pipeline schedule --host URL --package " + path)


def cmd_pipeline_schedule(args):
    from pipeline.kubeflow import schedule_kubeflow
    from pipeline.schedule import Cron, parse_every
    if bool(args.every) == bool(args.cron):
        raise CLIError("give exactly one of --every or --cron")
    if not os.path.exists(args.package):
        raise CLIError(f"pipeline package not found: {args.package}")
    try:
        run_id = schedule_kubeflow(args.package, args.host, cron=Cron(args.cron).for_kubeflow() if args.cron else "",
                                   every_seconds=parse_every(args.every) if args.every else 0,
                                   experiment=args.experiment)
    except Exception as error:  # noqa: BLE001 - the KFP API's many failure types, one line
        raise CLIError(f"cannot create the recurring run on {args.host}: "
                       f"{first_line(error)}") from None
    print(f"recurring run {run_id} created on {args.host}")


def _add_pipeline_flags(p):
    from models.config import IngestConfig, add_config_flags
    from pipeline.config import PipelineConfig
    p.add_argument("--config", help="pipeline config JSON (flags override it)")
    p.add_argument("--output", dest="output_dir", help="pipeline root, metadata and serving dir")
    add_config_flags(p, PipelineConfig, "pipeline options", skip=("model", "ingest", "output_dir"))
    add_config_flags(p, title="model options (model.*)")
    add_config_flags(p, IngestConfig, "ingest options (ingest.*)")


def add_parsers(sub, parser_class):
    p = sub.add_parser("pipeline", help="the TFX pipeline: run locally, compile for Kubeflow, schedule")
    pipeline_sub = p.add_subparsers(dest="pipeline_command", metavar="ACTION", parser_class=parser_class)
    pipeline_sub.required = True
    for add in (_run_parser, _compile_parser, _kubeflow_schedule_parser):
        add(pipeline_sub)
    _schedule_parser(sub)


def _run_parser(pipeline_sub):
    p = pipeline_sub.add_parser("run", help="run once with LocalDagRunner (SQLite metadata)")
    _add_pipeline_flags(p)
    p.add_argument("--data-only", action="store_true", help="stop after data validation (no training)")
    p.set_defaults(func=cmd_pipeline_run)


def _compile_parser(pipeline_sub):
    p = pipeline_sub.add_parser("compile", help="compile for Kubeflow Pipelines v2 / Vertex AI")
    p.add_argument("--target", choices=["kubeflow"], default="kubeflow")
    p.add_argument("--out", default="pipeline.yaml", help=".yaml: KFP pipeline spec; .json: PipelineJob")
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_pipeline_compile)


def _kubeflow_schedule_parser(pipeline_sub):
    p = pipeline_sub.add_parser("schedule", help="create a recurring run on Kubeflow Pipelines (kfp client)")
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    p.add_argument("--package", default="pipeline.yaml", help="compiled pipeline (wavegan pipeline compile)")
    p.add_argument("--every", help="interval: 30m, 6h, 1d")
    p.add_argument("--cron", help="cron expression: 5 fields ('0 3 * * *'), KFP's 6 (seconds first) or @daily")
    p.add_argument("--experiment", default="wavegan")
    p.set_defaults(func=cmd_pipeline_schedule)


def _schedule_parser(sub):
    p = sub.add_parser("schedule", help="retrain locally whenever new audio arrives, on a schedule")
    p.add_argument("--every", help="check interval: 30m, 6h, 1d")
    p.add_argument("--cron", help="cron expression: 5 fields ('0 3 * * *'), 6 with seconds first, or @daily")
    p.add_argument("--max-checks", type=int, default=0, help="stop after N checks (0 = run forever)")
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_schedule)
