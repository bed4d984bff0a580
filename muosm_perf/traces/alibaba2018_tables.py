"""Table layouts of the Alibaba cluster trace v2018, and reading their CSV files.

The six tables are headerless CSV files (``machine_meta.csv`` ...), with the columns
of the trace's published schema in file order. Times are seconds since the start
of the trace period, and a time of 0 or below is "before the trace start". The
trace maintainers state so in the trace repository's issue tracker, in reply to a
question about negative timestamps: such events happened before the start and
should have been 0. Values on
the trace's normalized 0-100 scale use -1 and 101 to mark invalid measurements.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from muosm_perf.errors import TraceFormatError
from muosm_perf.traces._records import RecordField, RecordSpec, RowCheck

INVALID_PERCENT = frozenset({-1.0, 101.0})
"""Markers of an invalid value on the 0-100 scale."""
INVALID_COUNT = frozenset({-1.0})
"""Marker of an invalid value of an unbounded quantity."""

STATUS_CODES = {
    "Ready": 1,
    "Waiting": 2,
    "Running": 3,
    "Terminated": 4,
    "Failed": 5,
    "Cancelled": 6,
    "Interrupted": 7,
}
"""Codes this reader gives the batch task and instance statuses (``source_code``).

The trace does not number its statuses; the names are those the maintainers list
for batch tasks and instances.
"""


def _percent(name: str) -> RecordField:
    return RecordField(name, "float", minimum=0, maximum=100, missing=INVALID_PERCENT)


def _positive(name: str) -> RecordField:
    return RecordField(name, "float", minimum=0, missing=INVALID_COUNT)


def _ends_after_start(start: str, end: str) -> RowCheck:
    """Reject an end before the start when both lie inside the trace period."""
    condition = (pl.col(start) > 0) & (pl.col(end) > 0) & (pl.col(end) < pl.col(start))
    return RowCheck(condition, f"{end} before {start}", end)


MACHINE_META = RecordSpec(
    "machine_meta",
    (
        RecordField("machine_id", "numbered_id", mandatory=True),
        RecordField("time_stamp", "seconds", mandatory=True),
        RecordField("failure_domain_1", "int"),
        RecordField("failure_domain_2", "string"),
        RecordField("cpu_num", "int", minimum=0, missing=INVALID_COUNT),
        _percent("mem_size"),
        RecordField("status", "string", mandatory=True),
    ),
)
MACHINE_USAGE = RecordSpec(
    "machine_usage",
    (
        RecordField("machine_id", "numbered_id", mandatory=True),
        RecordField("time_stamp", "seconds", mandatory=True),
        _percent("cpu_util_percent"),
        _percent("mem_util_percent"),
        _percent("mem_gps"),
        _positive("mkpi"),
        _percent("net_in"),
        _percent("net_out"),
        _percent("disk_io_percent"),
    ),
)
CONTAINER_META = RecordSpec(
    "container_meta",
    (
        RecordField("container_id", "numbered_id", mandatory=True),
        RecordField("machine_id", "numbered_id"),
        RecordField("time_stamp", "seconds", mandatory=True),
        RecordField("app_du", "string", mandatory=True),
        RecordField("status", "string", mandatory=True),
        _positive("cpu_request"),
        _positive("cpu_limit"),
        _percent("mem_size"),
    ),
)
CONTAINER_USAGE = RecordSpec(
    "container_usage",
    (
        RecordField("container_id", "numbered_id", mandatory=True),
        RecordField("machine_id", "numbered_id"),
        RecordField("time_stamp", "seconds", mandatory=True),
        # Percent of the container's requested CPU, so it may exceed 100.
        _positive("cpu_util_percent"),
        _positive("mem_util_percent"),
        _positive("cpi"),
        _percent("mem_gps"),
        _positive("mpki"),
        _percent("net_in"),
        _percent("net_out"),
        _percent("disk_io_percent"),
    ),
)
BATCH_TASK = RecordSpec(
    "batch_task",
    (
        RecordField("task_name", "string", mandatory=True),
        RecordField("instance_num", "int", minimum=0),
        RecordField("job_name", "string", mandatory=True),
        RecordField("task_type", "string"),
        RecordField(
            "status", "string", mandatory=True, choices=frozenset(STATUS_CODES)
        ),
        RecordField("start_time", "seconds"),
        RecordField("end_time", "seconds"),
        _positive("plan_cpu"),
        _percent("plan_mem"),
    ),
    row_checks=(_ends_after_start("start_time", "end_time"),),
)
BATCH_INSTANCE = RecordSpec(
    "batch_instance",
    (
        # NOTE: instance names are read as a prefix, "_" and a number (ins_123);
        # a name of another form is quarantined as an invalid identifier.
        RecordField("instance_name", "numbered_id", mandatory=True),
        RecordField("task_name", "string", mandatory=True),
        RecordField("job_name", "string", mandatory=True),
        RecordField("task_type", "string"),
        RecordField(
            "status", "string", mandatory=True, choices=frozenset(STATUS_CODES)
        ),
        RecordField("start_time", "seconds"),
        RecordField("end_time", "seconds"),
        RecordField("machine_id", "numbered_id"),
        RecordField("seq_no", "int", minimum=0),
        RecordField("total_seq_no", "int", minimum=0),
        _positive("cpu_avg"),
        _positive("cpu_max"),
        _percent("mem_avg"),
        _percent("mem_max"),
    ),
    row_checks=(_ends_after_start("start_time", "end_time"),),
)

TABLE_SPECS = (
    MACHINE_META,
    MACHINE_USAGE,
    CONTAINER_META,
    CONTAINER_USAGE,
    BATCH_TASK,
    BATCH_INSTANCE,
)
"""The six tables, in the order they are read."""


def table_files(trace_dir: Path, spec: RecordSpec) -> list[Path]:
    """List the files of a table: ``<table>*.csv`` and ``<table>*.csv.gz``.

    A table may be split into parts (``batch_instance-000.csv.gz`` ...), which are
    read one at a time.
    """
    found = {
        p
        for pattern in (f"{spec.name}*.csv", f"{spec.name}*.csv.gz")
        for p in trace_dir.glob(pattern)
        if p.is_file()
    }
    return sorted(found)


def read_headerless(path: Path, spec: RecordSpec, *, label: str) -> pl.DataFrame:
    """Read a headerless CSV file into the raw layout of ``spec`` (text fields).

    Raises
    ------
    TraceFormatError
        If the file is empty or cannot be read.
    """
    if path.stat().st_size == 0:
        raise TraceFormatError(label, "the file is empty (0 bytes)")
    width = len(spec.fields)
    names = [f.name for f in spec.fields]
    try:
        lines = (
            pl.scan_csv(
                path,
                has_header=False,
                schema={"raw": pl.String},
                separator="\x1f",
                quote_char=None,
                encoding="utf8-lossy",
            )
            .with_row_index("line", offset=1)
            .collect()
        )
    except (OSError, pl.exceptions.ComputeError) as error:
        raise TraceFormatError(
            label,
            f"cannot read the file ({str(error).splitlines()[0]}); it may be "
            "truncated or not CSV",
        ) from error
    raw = pl.col("raw")
    count = raw.str.count_matches(",", literal=True) + 1
    reason = (
        pl.when(raw.is_null() | (raw.str.strip_chars() == ""))
        .then(pl.lit("empty line"))
        .when(raw.str.contains("\ufffd", literal=True))
        .then(pl.lit("invalid UTF-8"))
        .when(count != width)
        .then(
            pl.format(
                "expected {} comma-separated fields, found {}", pl.lit(width), count
            )
        )
    )
    split = raw.str.split_exact(",", width - 1).struct.rename_fields(names)
    return (
        lines.with_columns(reason.alias("_reason"), split.alias("_fields"))
        .unnest("_fields")
        .select(pl.col("line").cast(pl.Int64), "raw", "_reason", *names)
    )
