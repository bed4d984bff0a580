"""Time Google 2011 ingestion against a plain Polars read, and its peak memory.

Usage::

    python scripts/bench_ingest.py [TRACE_DIR] [--repeats 3]

The baseline reads the same task_events shards with ``polars.read_csv`` and an
explicit schema, without validation, quarantine, canonical mapping or derived
tables; the ratio is the price of those. Peak memory is measured in a child process
per shard count (1, 2, 4 copies of the first shard), to show how it grows with the
number of shards. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from muosm_perf.traces.google2011 import TASK_EVENTS, ingest_google_2011

REPOSITORY = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_ingest")

CHILD = """
import resource, sys
from muosm_perf.traces.google2011 import ingest_google_2011
ingest_google_2011(sys.argv[1], sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def plain_read(shards: list[Path]) -> int:
    """Read shards with an explicit schema and nothing else; return the rows."""
    schema = {
        f.name: {
            "int": pl.Int64,
            "float": pl.Float64,
            "string": pl.String,
            "bool01": pl.Int8,
        }[f.kind]
        for f in TASK_EVENTS.fields
    }
    return sum(pl.read_csv(s, has_header=False, schema=schema).height for s in shards)


def copies_trace(source: Path, shards: int, folder: Path) -> Path:
    """Build a trace folder whose task_events are ``shards`` copies of one shard."""
    trace = folder / f"trace-{shards}"
    first = sorted((source / "task_events").glob("*.csv.gz"))[0]
    (trace / "task_events").mkdir(parents=True)
    for number in range(shards):
        shutil.copy(first, trace / "task_events" / f"part-{number:05d}-of-00500.csv.gz")
    for table in ("job_events", "machine_events"):
        shutil.copytree(source / table, trace / table)
    return trace


def peak_memory_mib(trace: Path, store: Path) -> float:
    """Ingest in a child process and return its peak resident memory (MiB)."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(trace), str(store)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    samples = Path(
        os.environ.get("MUOSM_SAMPLES", REPOSITORY / ".." / "shared" / "traces")
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "trace_dir", nargs="?", type=Path, default=samples / "google-2011"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    shards = sorted((args.trace_dir / "task_events").glob("*.csv.gz"))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        ingest_google_2011(args.trace_dir, folder / "warm-up")

        ingest_times, plain_times = [], []
        for repeat in range(args.repeats):
            began = time.perf_counter()
            store = ingest_google_2011(args.trace_dir, folder / f"store-{repeat}")
            ingest_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            rows = plain_read(shards)
            plain_times.append(time.perf_counter() - began)
            logger.info(
                "run %d: ingest %.2f s, plain read %.2f s",
                repeat + 1,
                ingest_times[-1],
                plain_times[-1],
            )

        memory = {}
        for count in (1, 2, 4):
            trace = copies_trace(args.trace_dir, count, folder)
            memory[count] = peak_memory_mib(trace, folder / f"memory-{count}")
            logger.info("%d shard copies: peak %.0f MiB", count, memory[count])

    ingest_median = statistics.median(ingest_times)
    plain_median = statistics.median(plain_times)
    transitions = store.manifest["tables"]["transitions"]["rows"]
    figures = {
        "task_event_rows": rows,
        "transitions": transitions,
        "ingest_s_median": ingest_median,
        "plain_read_s_median": plain_median,
        "ingest_over_plain_read": ingest_median / plain_median,
        "task_events_per_second": transitions / ingest_median,
        "peak_rss_mib_by_shard_copies": memory,
        "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "repeats": args.repeats,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
