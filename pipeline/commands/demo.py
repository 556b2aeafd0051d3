"""`wavegan demo`: the whole product on built-in data (the workflow is pipeline.demo)."""
from __future__ import annotations

from pipeline.commands.common import this_command


def cmd_demo(args):
    from pipeline.commands.orchestration import run_and_print
    from pipeline.demo import run_demo
    summary = run_demo(args.out, args.steps, args.model_size, args.files_per_class, run_and_print,
                       lambda line: print(line, flush=True), args.recipe)
    if summary.get("report"):
        print(f"== quality report of the last candidate (open in a browser): {summary['report']}")
    print(f"== listen, interpolate and sequence in the browser: {this_command()} serve --model-base "
          f"{summary['serving_model_base']} --rest-port 8501, then open http://127.0.0.1:8501/")


def add_parsers(sub):
    from models.recipes import RECIPE_NAMES
    from pipeline.demo import DEMO_RECIPE
    p = sub.add_parser("demo", help="demo data, two spans through the pipeline, then WAVs over gRPC")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--steps", type=int, default=100, help="generator steps per pipeline run")
    p.add_argument("--model-size", type=int, default=8)
    p.add_argument("--files-per-class", type=int, default=30)
    p.add_argument("--recipe", choices=RECIPE_NAMES, default=DEMO_RECIPE,
                   help="training recipe (models.recipes); the demo's default is measured best on its budget")
    p.set_defaults(func=cmd_demo)
