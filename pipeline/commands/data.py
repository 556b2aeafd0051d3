"""`wavegan ingest | demo-data`: audio folders to training examples, and data to try things on."""
from __future__ import annotations

import os
import sys

from pipeline.commands.common import CLIError, existing_dir

INGEST_MODEL_FIELDS = ("sample_rate", "slice_len", "num_channels")  # what ingest takes from the model config


def cmd_ingest(args):
    from components.audio_example_gen import run_standalone
    from components.audio_ingest import IngestError, skipped_lines
    from pipeline.beam_runners import BeamRunnerError, beam_options
    from models.config import IngestConfig, WaveGANConfig, config_from_args

    model_cfg = config_from_args(args, WaveGANConfig.from_file(args.config) if args.config else None)
    ingest_cfg = config_from_args(args, config_class=IngestConfig)
    existing_dir(args.data_dir, "data directory")
    try:
        with beam_options(args.runner, args.workers, args.job_endpoint, extra=args.beam_arg or []) as beam_args:
            report = run_standalone(args.data_dir, args.out, model_cfg, ingest_cfg, beam_args)
    except (IngestError, BeamRunnerError) as error:
        raise CLIError(str(error)) from None
    for line in skipped_lines(report):
        print(line, file=sys.stderr)
    print(f"{report['files_ok']} files ok, {report['files_partial']} partial, {report['files_skipped']} skipped; "
          f"{report['slices']} slices ({report['audio_seconds']:.1f} s of audio, "
          f"{report['silent_slices_dropped']} silent slices dropped), "
          f"{len(report['labels'])} labels")
    print(f"examples: {os.path.join(args.out, 'examples')}  report: {os.path.join(args.out, 'report')}")


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


def add_parsers(sub):
    _ingest_parser(sub)
    _demo_data_parser(sub)


def _ingest_parser(sub):
    from models.config import IngestConfig, WaveGANConfig, add_config_flags
    from pipeline.beam_runners import RUNNERS
    p = sub.add_parser("ingest", help="audio folder -> TFRecord examples (train/eval) and a report")
    p.add_argument("--data-dir", required=True, help="folder tree of audio files")
    p.add_argument("--out", required=True, help="output: examples/, report/, vocabulary/")
    p.add_argument("--config", help="JSON model config (sample rate, slice length, channels)")
    p.add_argument("--workers", type=int, default=1, help="Beam DirectRunner worker processes")
    p.add_argument("--runner", default="direct", choices=RUNNERS,
                   help="direct; portable (a job service and separate SDK worker processes, started on 127.0.0.1 "
                        "unless --job-endpoint names one); dataflow, flink, spark (adds the project's setup.py)")
    p.add_argument("--job-endpoint", default="", help="HOST:PORT of a Beam job service (--runner portable)")
    p.add_argument("--beam-arg", action="append", help="extra Beam pipeline option, e.g. --beam-arg=--runner=FlinkRunner")
    add_config_flags(p, WaveGANConfig, "audio format (the model's)", only=INGEST_MODEL_FIELDS)
    add_config_flags(p, IngestConfig, "segmentation and labelling options")
    p.set_defaults(func=cmd_ingest)


def _demo_data_parser(sub):
    p = sub.add_parser("demo-data", help="synthesise a labelled drum-hit dataset (no download)")
    p.add_argument("--out", required=True)
    p.add_argument("--files-per-class", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speech", action="store_true", help="also spoken digits (needs espeak-ng)")
    p.set_defaults(func=cmd_demo_data)
