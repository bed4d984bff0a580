"""Reader of the Google cluster-usage trace "clusterdata-2011-2" (format v2.1).

The trace is a folder per table of headerless CSV shards
(``task_events/part-00000-of-00500.csv.gz`` ...). Column order follows the trace's
``schema.csv``; when that file is in the trace folder it is checked against the
columns below, and a mismatch is an error, because ``schema.csv`` is the authority
where it and the prose documentation disagree.

Times are microseconds since 600 s before the trace start (19:00 EDT, 1 May 2011).
The value 0 means "before the trace window" and 2^63-1 "after the trace window";
both become flags with a null time, never numbers. CPU, memory and disk are
normalized so that the largest machine has 1.0.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from tqdm import tqdm

from muosm_perf.errors import ParameterError, TraceFormatError, TraceNotFoundError
from muosm_perf.model import derive, schema
from muosm_perf.model.lifecycle import (
    CELL_EVENT_DTYPE,
    EVENT_DTYPE,
    GOOGLE_2011_CELL_EVENTS,
    GOOGLE_2011_EVENTS,
    google_2011_band,
)
from muosm_perf.model.store import StoreWriter, TraceStore
from muosm_perf.traces._csv import (
    Field,
    TableSpec,
    check_rejected_share,
    file_sha256,
    list_shards,
    read_shard,
)

logger = logging.getLogger(__name__)

FORMAT = "google-2011"
AFTER_WINDOW = 2**63 - 1
"""Time value meaning "after the trace window"."""
TRACE_START_US = 600_000_000
"""Trace time of the trace start: the clock starts 600 s before it."""

_EVENT_CODES = frozenset(GOOGLE_2011_EVENTS)
_CELL_EVENT_CODES = frozenset(GOOGLE_2011_CELL_EVENTS)

TASK_EVENTS = TableSpec(
    "task_events",
    (
        Field("time", "int", mandatory=True, minimum=0),
        Field("missing_info", "int", allowed=frozenset({0, 1, 2})),
        Field("job_id", "int", mandatory=True),
        Field("task_index", "int", mandatory=True, minimum=0),
        Field("machine_id", "int"),
        Field("event_type", "int", mandatory=True, allowed=_EVENT_CODES),
        Field("user", "string"),
        Field("scheduling_class", "int", allowed=frozenset(range(4))),
        Field("priority", "int", mandatory=True, minimum=0),
        Field("cpu_request", "float", minimum=0),
        Field("memory_request", "float", minimum=0),
        Field("disk_request", "float", minimum=0),
        Field("different_machines", "bool01"),
    ),
)
JOB_EVENTS = TableSpec(
    "job_events",
    (
        Field("time", "int", mandatory=True, minimum=0),
        Field("missing_info", "int", allowed=frozenset({0, 1, 2})),
        Field("job_id", "int", mandatory=True),
        Field("event_type", "int", mandatory=True, allowed=_EVENT_CODES),
        Field("user", "string"),
        Field("scheduling_class", "int", allowed=frozenset(range(4))),
        Field("job_name", "string"),
        Field("logical_job_name", "string"),
    ),
)
MACHINE_EVENTS = TableSpec(
    "machine_events",
    (
        Field("time", "int", mandatory=True, minimum=0),
        Field("machine_id", "int", mandatory=True),
        Field("event_type", "int", mandatory=True, allowed=_CELL_EVENT_CODES),
        Field("platform_id", "string"),
        Field("cpus", "float", minimum=0),
        Field("memory", "float", minimum=0),
    ),
)
MACHINE_ATTRIBUTES = TableSpec(
    "machine_attributes",
    (
        Field("time", "int", mandatory=True, minimum=0),
        Field("machine_id", "int", mandatory=True),
        Field("attribute_name", "string", mandatory=True),
        Field("attribute_value", "string"),
        Field("attribute_deleted", "bool01", mandatory=True),
    ),
)
TASK_CONSTRAINTS = TableSpec(
    "task_constraints",
    (
        Field("time", "int", mandatory=True, minimum=0),
        Field("job_id", "int", mandatory=True),
        Field("task_index", "int", mandatory=True, minimum=0),
        Field(
            "comparison_operator", "int", mandatory=True, allowed=frozenset(range(4))
        ),
        Field("attribute_name", "string", mandatory=True),
        Field("attribute_value", "string"),
    ),
)
_USAGE_MEASURES = (
    "cpu_rate",
    "canonical_memory_usage",
    "assigned_memory_usage",
    "unmapped_page_cache",
    "total_page_cache",
    "maximum_memory_usage",
    "disk_io_time",
    "local_disk_space_usage",
    "maximum_cpu_rate",
    "maximum_disk_io_time",
    "cycles_per_instruction",
    "memory_accesses_per_instruction",
    "sample_portion",
)
TASK_USAGE = TableSpec(
    "task_usage",
    (
        Field("start_time", "int", mandatory=True, minimum=0),
        Field("end_time", "int", mandatory=True, minimum=0),
        Field("job_id", "int", mandatory=True),
        Field("task_index", "int", mandatory=True, minimum=0),
        Field("machine_id", "int", mandatory=True),
        *(Field(name, "float") for name in _USAGE_MEASURES),
        Field("aggregation_type", "bool01"),
        Field("sampled_cpu_usage", "float"),
    ),
)

REQUIRED_TABLES = (TASK_EVENTS, JOB_EVENTS, MACHINE_EVENTS)
OPTIONAL_TABLES = (MACHINE_ATTRIBUTES, TASK_CONSTRAINTS, TASK_USAGE)

CELL_ATTRIBUTES = pl.Schema(
    {
        "time_us": schema.TIME,
        "before_window": pl.Boolean,
        "after_window": pl.Boolean,
        "cell_id": pl.Int64,
        "name": pl.String,
        "value": pl.String,
        "deleted": pl.Boolean,
    }
)
"""Machine attributes (kernel version, platform details, ...) as hashed strings."""

CONSTRAINTS = pl.Schema(
    {
        "time_us": schema.TIME,
        "before_window": pl.Boolean,
        "after_window": pl.Boolean,
        "group_id": pl.Int64,
        "process_index": pl.Int64,
        "operator": pl.Int8,
        "attribute": pl.String,
        "value": pl.String,
    }
)
"""Placement constraints of tasks: 0 equal, 1 not equal, 2 less than, 3 greater."""


def _time_columns(column: str = "time", prefix: str = "") -> list[pl.Expr]:
    """Turn a raw trace time into ``time_us`` and the two window flags."""
    raw = pl.col(column)
    before = raw == 0
    after = raw == AFTER_WINDOW
    return [
        pl.when(before | after).then(None).otherwise(raw).alias(f"{prefix}time_us"),
        before.alias(f"{prefix}before_window"),
        after.alias(f"{prefix}after_window"),
    ]


def _event(column: str, mapping: dict) -> pl.Expr:
    names = {code: event.name for code, event in mapping.items()}
    return pl.col(column).replace_strict(names, return_dtype=pl.String)


def _source(file_index: int) -> list[pl.Expr]:
    return [
        pl.lit(file_index, dtype=pl.UInt16).alias("source_file"),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ]


def _task_events(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    return frame.select(
        *_time_columns(),
        pl.col("job_id").alias("group_id"),
        pl.col("task_index").alias("process_index"),
        _event("event_type", GOOGLE_2011_EVENTS).cast(EVENT_DTYPE).alias("event"),
        pl.col("event_type").cast(pl.Int16).alias("source_code"),
        pl.col("missing_info").cast(pl.Int8),
        pl.col("machine_id").alias("cell_id"),
        pl.col("priority").cast(pl.Int16),
        pl.col("scheduling_class").cast(pl.Int8),
        pl.col("cpu_request"),
        pl.col("memory_request"),
        pl.col("disk_request"),
        pl.col("different_machines").alias("different_cells"),
        *_source(file_index),
    )


def _job_events(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    return frame.select(
        *_time_columns(),
        pl.col("job_id").alias("group_id"),
        _event("event_type", GOOGLE_2011_EVENTS).cast(EVENT_DTYPE).alias("event"),
        pl.col("event_type").cast(pl.Int16).alias("source_code"),
        pl.col("missing_info").cast(pl.Int8),
        pl.col("user"),
        pl.col("scheduling_class").cast(pl.Int8),
        pl.col("job_name").alias("name"),
        pl.col("logical_job_name").alias("logical_name"),
        *_source(file_index),
    )


def _machine_events(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    return frame.select(
        *_time_columns(),
        pl.col("machine_id").alias("cell_id"),
        _event("event_type", GOOGLE_2011_CELL_EVENTS)
        .cast(CELL_EVENT_DTYPE)
        .alias("event"),
        pl.col("event_type").cast(pl.Int16).alias("source_code"),
        pl.col("platform_id").alias("platform"),
        pl.lit(None, dtype=pl.String).alias("domain"),
        pl.col("cpus").alias("cpu_capacity"),
        pl.col("memory").alias("memory_capacity"),
        *_source(file_index),
    )


def _machine_attributes(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    del file_index
    return frame.select(
        *_time_columns(),
        pl.col("machine_id").alias("cell_id"),
        pl.col("attribute_name").alias("name"),
        pl.col("attribute_value").alias("value"),
        pl.col("attribute_deleted").alias("deleted"),
    )


def _task_constraints(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    del file_index
    return frame.select(
        *_time_columns(),
        pl.col("job_id").alias("group_id"),
        pl.col("task_index").alias("process_index"),
        pl.col("comparison_operator").cast(pl.Int8).alias("operator"),
        pl.col("attribute_name").alias("attribute"),
        pl.col("attribute_value").alias("value"),
    )


def _task_usage(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    del file_index
    return frame.select(
        pl.col("start_time").alias("start_time_us"),
        pl.col("end_time").alias("end_time_us"),
        pl.col("job_id").alias("group_id"),
        pl.col("task_index").alias("process_index"),
        pl.col("machine_id").alias("cell_id"),
        pl.col("cpu_rate").alias("cpu_usage"),
        pl.col("canonical_memory_usage").alias("memory_usage"),
        pl.col("assigned_memory_usage").alias("assigned_memory"),
        pl.col("unmapped_page_cache"),
        pl.col("total_page_cache"),
        pl.col("maximum_memory_usage").alias("max_memory_usage"),
        pl.col("disk_io_time"),
        pl.col("local_disk_space_usage").alias("local_disk_usage"),
        pl.col("maximum_cpu_rate").alias("max_cpu_usage"),
        pl.col("maximum_disk_io_time").alias("max_disk_io_time"),
        pl.col("cycles_per_instruction"),
        pl.col("memory_accesses_per_instruction"),
        pl.col("sample_portion"),
        pl.col("aggregation_type").alias("aggregated"),
        pl.col("sampled_cpu_usage"),
        pl.lit(None, dtype=schema.USAGE["cpu_usage_percentiles"]).alias(
            "cpu_usage_percentiles"
        ),
        pl.lit(None, dtype=schema.USAGE["cpu_usage_tail_percentiles"]).alias(
            "cpu_usage_tail_percentiles"
        ),
    )


@dataclass(frozen=True)
class _Table:
    spec: TableSpec
    store_table: str
    convert: Callable[[pl.DataFrame, int], pl.DataFrame]


_TABLES = (
    _Table(TASK_EVENTS, "transitions", _task_events),
    _Table(JOB_EVENTS, "group_transitions", _job_events),
    _Table(MACHINE_EVENTS, "cell_events", _machine_events),
    _Table(MACHINE_ATTRIBUTES, "cell_attributes", _machine_attributes),
    _Table(TASK_CONSTRAINTS, "constraints", _task_constraints),
    _Table(TASK_USAGE, "usage", _task_usage),
)


def check_schema_file(path: Path) -> None:
    """Check the column lists of this reader against the trace's ``schema.csv``.

    Raises
    ------
    TraceFormatError
        If a table has another number of columns or another mandatory flag than the
        reader expects.
    """
    header = ("file pattern", "field number", "content", "format", "mandatory")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = tuple(reader.fieldnames or ())
    except UnicodeDecodeError as error:
        raise TraceFormatError(
            path, f"is not UTF-8 text ({error}); restore the trace's schema.csv"
        ) from error
    if columns != header:
        raise TraceFormatError(
            path,
            f"has the header {', '.join(columns) or '(none)'} instead of "
            f"{', '.join(header)}; restore the trace's schema.csv or remove it",
            line=1,
        )
    by_table: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        table = (row["file pattern"] or "").split("/", 1)[0]
        by_table.setdefault(table, []).append(row)
    for spec in REQUIRED_TABLES + OPTIONAL_TABLES:
        listed = by_table.get(spec.name)
        if listed is None:
            continue
        if len(listed) != spec.width:
            raise TraceFormatError(
                path,
                f"table {spec.name} has {len(listed)} columns in schema.csv but this "
                f"reader expects {spec.width}; the trace is another version than "
                "clusterdata-2011-2",
            )
        for number, (row, spec_field) in enumerate(
            zip(listed, spec.fields, strict=True), start=1
        ):
            mandatory = row["mandatory"].strip().upper() == "YES"
            if mandatory and not spec_field.mandatory:
                raise TraceFormatError(
                    path,
                    f"schema.csv marks column {number} of {spec.name} "
                    f"({row['content']}) mandatory but this reader does not",
                    line=None,
                )


def find_tables(trace_dir: Path) -> dict[str, list[Path]]:
    """List the shard files of each table present in ``trace_dir``.

    Raises
    ------
    TraceNotFoundError
        If the folder or a required table folder is missing or has no shards.
    """
    if not trace_dir.is_dir():
        raise TraceNotFoundError(
            f"trace folder not found: {trace_dir}; pass the folder that contains "
            "task_events/, job_events/ and machine_events/ (see traces/README.md "
            "for how to download the trace, or run 'muosm demo')"
        )
    found: dict[str, list[Path]] = {}
    for spec in REQUIRED_TABLES + OPTIONAL_TABLES:
        folder = trace_dir / spec.name
        shards = list_shards(folder, spec) if folder.is_dir() else []
        if shards:
            found[spec.name] = shards
        elif spec in REQUIRED_TABLES:
            state = "has no .csv.gz or .csv files" if folder.is_dir() else "is missing"
            raise TraceNotFoundError(
                f"{folder} {state}; a Google 2011 trace folder needs "
                f"{', '.join(t.name + '/' for t in REQUIRED_TABLES)} with "
                "part-NNNNN-of-NNNNN.csv.gz shards"
            )
    return found


def ingest_google_2011(
    trace_dir: str | Path,
    store_path: str | Path,
    *,
    max_rejected_fraction: float = 0.01,
    progress: bool = False,
) -> TraceStore:
    """Read a Google 2011 trace folder into a canonical trace store.

    Every shard is read lazily with an explicit schema, one at a time, so memory does
    not grow with the number of shards beyond the derived tables. Invalid rows go to
    the store's ``quarantine`` table with file, line, column, value and reason.

    Parameters
    ----------
    trace_dir
        Folder with ``task_events/``, ``job_events/`` and ``machine_events/`` (and
        optionally ``machine_attributes/``, ``task_constraints/``, ``task_usage/``).
    store_path
        Destination store folder; an existing store there is replaced only when the
        new one is complete.
    max_rejected_fraction
        Largest share of invalid rows accepted in one file before the file is
        considered the wrong format and ingestion stops with an error.
    progress
        Show a progress bar on standard error.

    Returns
    -------
    TraceStore
        The new store.

    Raises
    ------
    TraceNotFoundError
        If the folder or a required table is missing.
    TraceFormatError
        If a file cannot be read (truncated, empty, not CSV) or has too many
        invalid rows.
    """
    trace_dir = Path(trace_dir)
    if not 0 <= max_rejected_fraction <= 1:
        raise ParameterError(
            "max_rejected_fraction must be between 0 and 1, got "
            f"{max_rejected_fraction!r}"
        )
    tables = find_tables(trace_dir)
    schema_file = trace_dir / "schema.csv"
    if schema_file.is_file():
        check_schema_file(schema_file)

    jobs = [
        (table, path) for table in _TABLES for path in tables.get(table.spec.name, [])
    ]
    with StoreWriter(store_path, FORMAT, inputs=[trace_dir]) as writer:
        writer.manifest["source"].update(
            {
                "path": str(trace_dir.resolve()),
                "trace": "Google cluster-usage trace clusterdata-2011-2",
                "licence": "CC-BY 4.0 (Reiss, Wilkes and Hellerstein, 2011)",
            }
        )
        writer.manifest["clock"] = {
            "unit": "microsecond",
            "trace_start_us": TRACE_START_US,
            "origin": "600 s before the trace start, 2011-05-01 19:00 US Eastern",
        }
        writer.manifest["units"] = {
            "cpu": "cores normalized to the largest machine (1.0)",
            "memory": "bytes normalized to the largest machine (1.0)",
            "disk": "bytes normalized to the largest machine (1.0)",
        }
        _read_tables(writer, trace_dir, jobs, max_rejected_fraction, progress)
        derive.derive_all(writer, band=google_2011_band, progress=progress)
    return TraceStore(store_path)


def _read_tables(
    writer: StoreWriter,
    trace_dir: Path,
    jobs: Iterable[tuple[_Table, Path]],
    max_rejected_fraction: float,
    progress: bool,
) -> None:
    jobs = list(jobs)
    table_counts: dict[str, dict[str, int]] = {}
    bar = tqdm(jobs, desc="reading shards", unit="file", disable=not progress)
    seen: dict[str, str] = {}
    for table, path in bar:
        label = str(path.relative_to(trace_dir))
        bar.set_postfix_str(label, refresh=False)
        digest = file_sha256(path)
        result = read_shard(path, table.spec, label=label)
        # Files without rows may be equal by chance; they count nothing twice.
        if digest in seen and result.rows_read:
            other = seen[digest]
            if Path(other).parts[0] != Path(label).parts[0]:
                raise TraceFormatError(
                    label,
                    f"has the same content (SHA-256 {digest[:12]}...) as {other}, "
                    "a file of another table; one of the two is in the wrong folder. "
                    "Check each file's columns against schema.csv and move or "
                    "remove the misplaced one",
                )
            raise TraceFormatError(
                label,
                f"has the same content (SHA-256 {digest[:12]}...) as {other}; "
                "reading both would count every row twice. Remove the copy",
            )
        seen[digest] = label
        check_rejected_share(label, result, max_rejected_fraction)
        file_index = len(writer.manifest["files"])
        if file_index > 65535:
            raise TraceFormatError(
                label, "more than 65,536 files in one store; ingest fewer shards"
            )
        canonical = table.convert(result.accepted, file_index)
        if table.store_table == "usage":
            canonical = derive.flag_over_capacity(canonical, writer.scan("cell_events"))
        writer.write_part(table.store_table, canonical)
        if result.rejected.height:
            writer.write_part("quarantine", result.rejected)
        writer.manifest["files"].append(
            {
                "table": table.spec.name,
                "path": label,
                "bytes": path.stat().st_size,
                "sha256": digest,
                "rows_read": result.rows_read,
                "rows_accepted": result.accepted.height,
                "rows_rejected": result.rejected.height,
            }
        )
        counts = table_counts.setdefault(
            table.spec.name, {"rows_read": 0, "rows_accepted": 0, "rows_rejected": 0}
        )
        counts["rows_read"] += result.rows_read
        counts["rows_accepted"] += result.accepted.height
        counts["rows_rejected"] += result.rejected.height
        logger.info(
            "%s: %d rows read, %d rejected",
            label,
            result.rows_read,
            result.rejected.height,
        )
    writer.manifest["source_tables"] = table_counts
