"""``muosm compare STORE... -o DIR``: compare trace stores side by side."""

from __future__ import annotations

import argparse

from muosm_perf.kernels.backfill import POLICIES
from muosm_perf.model.store import TraceStore
from muosm_perf.report.compare import write_comparison


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="compare trace stores side by side in μ-OSM terms",
        description=(
            "Write one report (index.html, report.md, PNG figures and "
            "comparison.json) that puts trace stores side by side: processes, "
            "schedulers, message bus and fault cells, with what each system's "
            "native concepts are in μ-OSM terms. SWF logs without wait times are "
            "replayed to predict them. The folder is replaced only when complete."
        ),
    )
    parser.add_argument(
        "stores", nargs="+", metavar="STORE", help="trace store folders to compare"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="report folder to write"
    )
    parser.add_argument(
        "--label",
        action="append",
        metavar="NAME",
        help="name of a system in the report, once per store in order "
        "(default: the store folder names)",
    )
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="easy",
        help="queueing policy of the replay of SWF logs without wait times "
        "(default: easy)",
    )
    parser.add_argument(
        "--no-replay",
        action="store_true",
        help="leave out the replay (observed values only)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the comparison and print its path."""
    stores = [TraceStore(path) for path in args.stores]
    path = write_comparison(
        stores,
        args.output,
        labels=args.label,
        replay_policy=None if args.no_replay else args.policy,
    )
    print(f"wrote {path / 'index.html'} and {path / 'report.md'}")
    return 0
