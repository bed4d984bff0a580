"""``muosm run TRACE_DIR -o OUT`` and ``muosm demo -o OUT``: the main job."""

from __future__ import annotations

import argparse
import math

from muosm_perf.pipeline import run_demo, run_main_job
from muosm_perf.predict.replay import DEFAULT_POLICY, POLICIES
from muosm_perf.predict.views import SWF_DEFAULT_POLICY
from muosm_perf.traces import registry


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` and ``demo`` subcommands."""
    run_parser = subparsers.add_parser(
        "run",
        help="ingest, analyze, replay and report a trace in one step",
        description=(
            "The main job: read TRACE_DIR into a store, characterize it, replay its "
            "scheduler and write the report, all into OUT (replaced only when "
            "complete)."
        ),
    )
    run_parser.add_argument("trace_dir", metavar="TRACE_DIR", help="trace folder")
    run_parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output folder"
    )
    run_parser.add_argument(
        "--format",
        default="google-2011",
        choices=sorted(registry.READERS),
        help="trace format of TRACE_DIR (default: google-2011)",
    )
    _common_options(run_parser)
    run_parser.add_argument(
        "--no-replay", action="store_true", help="report observed values only"
    )
    run_parser.set_defaults(handler=run)

    demo_parser = subparsers.add_parser(
        "demo",
        help="run the main job on a generated synthetic trace (no download)",
        description=(
            "Generate a small synthetic trace in the Google 2011 layout and run the "
            "main job on it: OUT/trace, OUT/store and the report in OUT."
        ),
    )
    demo_parser.add_argument(
        "-o",
        "--output",
        default="demo-out",
        metavar="OUT",
        help="output folder (default: demo-out)",
    )
    demo_parser.add_argument(
        "--seed", type=int, default=0, help="seed of the generator (default: 0)"
    )
    demo_parser.add_argument(
        "--machines",
        type=_positive_int,
        default=200,
        help="machines in the cell (default: 200)",
    )
    demo_parser.add_argument(
        "--hours",
        type=_positive_hours,
        default=6.0,
        help="trace length in hours, at least 0.1 (default: 6)",
    )
    _common_options(demo_parser)
    demo_parser.set_defaults(handler=demo)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0.1 or value > 24 * 366:
        raise argparse.ArgumentTypeError(
            f"must be a number of hours from 0.1 to 8784, got {text!r}"
        )
    return value


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plain-replay",
        action="store_true",
        help=(
            "replay cluster traces with the trace's capacity and no scheduler "
            "decision time, instead of the settings calibrated on the Google 2011 "
            "sample (1.5 times capacity, 40 schedulers, 1.5 s per job decision)"
        ),
    )
    parser.add_argument(
        "--policy",
        default=None,
        metavar="POLICY",
        help=(
            f"replay policy: for cluster traces QUEUE+PLACEMENT, one of "
            f"{', '.join(POLICIES)} (default: {DEFAULT_POLICY}); for SWF logs fcfs "
            f"or easy (default: {SWF_DEFAULT_POLICY})"
        ),
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show progress bars"
    )


def run(args: argparse.Namespace) -> int:
    """Run the main job on a trace folder."""
    out = run_main_job(
        args.trace_dir,
        args.output,
        source_format=args.format,
        policy=args.policy,
        replay_enabled=not args.no_replay,
        calibrated=not args.plain_replay,
        progress=not args.no_progress,
    )
    print(f"wrote {out / 'index.html'} and {out / 'report.md'}")
    return 0


def demo(args: argparse.Namespace) -> int:
    """Run the main job on a synthetic trace."""
    out = run_demo(
        args.output,
        seed=args.seed,
        machines=args.machines,
        duration_s=round(args.hours * 3600),
        policy=args.policy,
        calibrated=not args.plain_replay,
        progress=not args.no_progress,
    )
    print(f"wrote {out / 'index.html'} and {out / 'report.md'}")
    return 0
