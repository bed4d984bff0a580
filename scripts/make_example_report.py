"""Regenerate reports/google-2011-sample from the real Google 2011 sample.

Usage::

    python scripts/make_example_report.py [TRACE_DIR]

TRACE_DIR defaults to ``$MUOSM_SAMPLES/google-2011`` (``../shared/traces`` beside
the repository when the variable is unset). The store is built in a temporary
folder and only the report is kept.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from muosm_perf.pipeline import write_store_report
from muosm_perf.traces.google2011 import ingest_google_2011

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> None:
    samples = Path(
        os.environ.get("MUOSM_SAMPLES", REPOSITORY / ".." / "shared" / "traces")
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "trace_dir", nargs="?", default=samples / "google-2011", type=Path
    )
    parser.add_argument(
        "-o",
        "--output",
        default=REPOSITORY / "reports" / "google-2011-sample",
        type=Path,
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as temporary:
        store = ingest_google_2011(args.trace_dir, Path(temporary) / "google-2011")
        write_store_report(store, args.output)
    logging.getLogger("make_example_report").info("wrote %s", args.output)


if __name__ == "__main__":
    main()
