"""``muosm report STORE -o DIR``: write the HTML and Markdown report of a store."""

from __future__ import annotations

import argparse

from muosm_perf.model.store import TraceStore
from muosm_perf.pipeline import write_store_report


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write the HTML and Markdown report of a trace store",
        description=(
            "Write index.html, report.md, PNG figures and analysis.json for a trace "
            "store: characterization, and a replay of the scheduler next to what "
            "the trace observed. The folder is replaced only when complete."
        ),
    )
    parser.add_argument("store", metavar="STORE", help="trace store folder")
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="report folder to write"
    )
    parser.add_argument(
        "--no-replay",
        action="store_true",
        help="leave out the replay (observed values only)",
    )
    parser.add_argument(
        "--policy",
        default=None,
        metavar="POLICY",
        help=(
            "replay policy: for cluster traces QUEUE+PLACEMENT as 'muosm replay' "
            "takes it, for SWF logs fcfs or easy (default: the format's default)"
        ),
    )
    parser.add_argument(
        "--plain-replay",
        action="store_true",
        help=(
            "replay cluster traces with the trace's capacity and no scheduler "
            "decision time, instead of the settings calibrated on the Google 2011 "
            "sample (1.5 times capacity, 40 schedulers, 1.5 s per job decision)"
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print its path."""
    store = TraceStore(args.store)
    path = write_store_report(
        store,
        args.output,
        replay_enabled=not args.no_replay,
        policy=args.policy,
        calibrated=not args.plain_replay,
    )
    print(f"wrote {path / 'index.html'} and {path / 'report.md'}")
    return 0
