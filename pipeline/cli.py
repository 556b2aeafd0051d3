"""The `wavegan` command: one entry point, one subcommand per job.

This module only parses and dispatches: each area's subcommands live in
pipeline/commands/ and the workflows in the modules that own them. Errors a user can
fix (models.errors.WaveGANError) print one line and exit 2; anything else is a bug
and shows its traceback, as does every error with -v. Heavy libraries load only
inside the subcommand that needs them.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from models.errors import WaveGANError
from pipeline.commands import data, demo, orchestration, serve, steer, training

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _quiet_libraries(verbose: bool):
    """Keeps stderr for what the user needs: TensorFlow's native start-up notices only with -v."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-api-core's Python 3.10 notice


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wavegan", description="WaveGAN: train, export and generate raw audio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    training.add_parsers(sub)
    data.add_parsers(sub)
    orchestration.add_parsers(sub, _Parser)
    serve.add_parsers(sub)
    steer.add_parsers(sub)
    demo.add_parsers(sub)
    return parser


def main(argv=None) -> int:
    _quiet_libraries(verbose=bool({"-v", "--verbose"} & set(sys.argv[1:] if argv is None else argv)))
    args = build_parser().parse_args(argv)
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
