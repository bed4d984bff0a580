"""``muosm analyze STORE [--json]``: characterize a trace store."""

from __future__ import annotations

import argparse
import json

from muosm_perf.analysis.characterize import characterize
from muosm_perf.model.store import TraceStore


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze",
        help="characterize a trace store: events, processes, delays, churn",
        description=(
            "Characterize a trace store: event counts, processes and attempts, "
            "scheduling delay per priority band, outcomes, occupancy and machine "
            "churn."
        ),
    )
    parser.add_argument("store", metavar="STORE", help="trace store folder")
    parser.add_argument(
        "--json", action="store_true", help="print the full result as JSON"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the characterization as JSON or as a short text summary."""
    result = characterize(TraceStore(args.store))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_summary(result))
    return 0


def format_summary(result: dict) -> str:
    """Format the main figures of a characterization as aligned text lines."""
    lines = [
        f"format      {result['source_format']}",
        f"processes   {result['processes']:,} ({result['attempts']:,} attempts)",
        f"groups      {result['groups']:,}",
        f"cells       {result['cells']:,} "
        f"({result['churn']['machines_removed']:,} removed at least once)",
        "events      "
        + ", ".join(f"{k} {v:,}" for k, v in result["events_by_type"].items()),
        "scheduling delay (s)     n       mean     p50      p90      p99",
    ]
    for band, stats in result["scheduling_delay_s"].items():
        if stats["n"] == 0:
            lines.append(f"  {band:<12} {0:>10,}  (no delays observed)")
            continue
        lines.append(
            f"  {band:<12} {stats['n']:>10,} {stats['mean']:>8.2f} "
            f"{stats['p50']:>8.2f} {stats['p90']:>8.2f} {stats['p99']:>8.2f}"
        )
    return "\n".join(lines)
