"""Shared setup of the what-if scripts: find the Google 2011 sample, open a store.

The sample folder is the first argument, else ``MUOSM_SAMPLES``, else
``../shared/traces`` beside the repository. ``--store`` skips the ingestion by
naming a store read from the sample before (``muosm ingest google-2011 ...``).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import distributed  # noqa: F401 - configures its loggers, which are set below

from muosm_perf.model.store import TraceStore
from muosm_perf.traces.google2011 import ingest_google_2011

REPOSITORY = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sample, store, worker and output arguments every script takes."""
    parser.add_argument(
        "samples",
        nargs="?",
        help="folder of the trace samples, holding google-2011/ (default: "
        "$MUOSM_SAMPLES, else ../shared/traces beside the repository)",
    )
    parser.add_argument(
        "--store", help="a store of the Google 2011 sample; skips the ingestion"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: every CPU; 0 runs in this process)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="whatif-out",
        help="folder for the figure, created if missing (default: whatif-out)",
    )
    parser.add_argument(
        "--plain-replay",
        action="store_true",
        help="replay with the trace's capacity, no decision time and the attempts "
        "the trace never scheduled (default: the calibrated replay)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")


def replay_model(args: argparse.Namespace) -> dict[str, object]:
    """Return the base's ``unscheduled`` and the scenarios' ``calibrated`` setting."""
    if args.plain_replay:
        return {"unscheduled": "replay", "calibrated": False}
    return {"unscheduled": "hold", "calibrated": True}


def sample_store(args: argparse.Namespace, scratch: Path) -> TraceStore:
    """Return the store named by ``--store``, or ingest the sample into ``scratch``."""
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Importing distributed sets its loggers to INFO from Dask's configuration.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.store:
        return TraceStore(args.store)
    samples = Path(
        args.samples
        or os.environ.get("MUOSM_SAMPLES")
        or REPOSITORY / ".." / "shared" / "traces"
    )
    trace = samples / "google-2011"
    if not (trace / "task_events").is_dir():
        raise SystemExit(
            f"no Google 2011 sample at {trace}; give the samples folder as the "
            "first argument or set MUOSM_SAMPLES"
        )
    return ingest_google_2011(trace, scratch / "store")
