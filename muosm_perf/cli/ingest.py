"""``muosm ingest FORMAT TRACE_DIR -o STORE``: read a trace into a canonical store."""

from __future__ import annotations

import argparse
import logging

from muosm_perf.traces import registry
from muosm_perf.traces.detect import detect_format

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` subcommand."""
    parser = subparsers.add_parser(
        "ingest",
        help="read a trace folder into a canonical trace store",
        description=(
            "Read a trace folder into a canonical trace store (Parquet tables and "
            "manifest.json). Invalid rows are kept in the store's quarantine table; "
            "an existing store at the destination is replaced only when the new "
            "one is complete."
        ),
    )
    parser.add_argument(
        "format",
        choices=[*sorted(registry.READERS), registry.AUTO],
        help=(
            "trace format of TRACE_DIR; auto detects it from the file names and "
            "stops with an error when they fit no format or several"
        ),
    )
    parser.add_argument(
        "trace_dir",
        metavar="TRACE_DIR",
        help="trace folder to read (or the log file, for swf)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="STORE", help="store folder to write"
    )
    parser.add_argument(
        "--max-rejected-fraction",
        type=float,
        default=0.01,
        metavar="SHARE",
        help=(
            "largest share of invalid rows (0-1) quarantined in one file before "
            "the file is taken for the wrong format and ingestion stops "
            "(default: 0.01)"
        ),
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show a progress bar"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Ingest the trace and print a one-line summary."""
    source_format = args.format
    if source_format == registry.AUTO:
        detection = detect_format(args.trace_dir)
        print(f"detected format {detection.describe()}")
        source_format = detection.format
    store = registry.ingest(
        source_format,
        args.trace_dir,
        args.output,
        max_rejected_fraction=args.max_rejected_fraction,
        progress=not args.no_progress,
    )
    tables = store.manifest["tables"]
    rejected = sum(
        counts.get("rows_rejected", 0)
        for counts in store.manifest.get("source_tables", {}).values()
    )
    print(
        f"wrote {store.path}: {tables['transitions']['rows']:,} transitions, "
        f"{tables['processes']['rows']:,} attempts, {tables['cells']['rows']:,} "
        f"cells, {rejected:,} rows quarantined"
    )
    return 0
