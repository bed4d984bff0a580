"""Reader of Standard Workload Format logs (Parallel Workloads Archive, SWF 2.2).

An SWF log is one text file (optionally gzip-compressed): header comments
(``; MaxProcs: 128``) and then one line per job of 18 whitespace-separated fields,
where -1 means "missing". Times are seconds since the log start (the header's
``UnixStartTime``), whole or fractional.

Mapping onto μ-OSM:

- each job is a distributed process of one attempt, keyed by (job number, 0).
  Lines that repeat a job number (partial executions of a checkpointed job) are
  further attempts of it. SWF has no process groups: each job is its own group;
- the machine is one fault cell (ID 1) whose capacity is the header's ``MaxProcs``
  processors (``MaxNodes`` when ``MaxProcs`` is absent); jobs request processors in
  the same unit. Nodes are not cells, because a log does not say on which nodes a
  job ran;
- a job is SUBMITted at its submit time, SCHEDULEd at submit + wait and ends at
  submit + wait + run with the event its status gives (:data:`SWF_END_EVENTS`). A
  wait time of -1 is unknown, so the schedule and end instants are unknown too
  (null), never submit + 0; the run time is then kept in the attempt's
  ``run_time_us`` alone.

All 18 fields are kept as they are in the ``swf_jobs`` table (-1 as null), and the
header in the manifest (``swf_header``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import polars as pl

from muosm_perf.errors import ParameterError, TraceFormatError, TraceNotFoundError
from muosm_perf.model import derive, schema
from muosm_perf.model.lifecycle import BAND_DTYPE, CELL_EVENT_DTYPE, EVENT_DTYPE, Event
from muosm_perf.model.store import StoreWriter, TraceStore
from muosm_perf.traces._csv import check_rejected_share, file_sha256
from muosm_perf.traces._records import RecordField, RecordSpec, validate_records

logger = logging.getLogger(__name__)

FORMAT = "swf"
MACHINE_CELL = 1
"""Cell ID of the machine, the one fault cell of an SWF log."""
FIELD_COUNT = 18

SWF_FIELDS = (
    RecordField("job_number", "int", mandatory=True, minimum=1),
    RecordField("submit_time", "seconds", mandatory=True, minimum=0),
    RecordField("wait_time", "seconds", minimum=0),
    RecordField("run_time", "seconds", minimum=0),
    RecordField("allocated_processors", "int", minimum=0),
    RecordField("average_cpu_time", "float", minimum=0),
    RecordField("used_memory", "float", minimum=0),
    RecordField("requested_processors", "int", minimum=0),
    RecordField("requested_time", "seconds", minimum=0),
    RecordField("requested_memory", "float", minimum=0),
    RecordField("status", "int", allowed=frozenset(range(6))),
    RecordField("user_id", "int", minimum=0),
    RecordField("group_id", "int", minimum=0),
    RecordField("executable_number", "int", minimum=0),
    RecordField("queue_number", "int", minimum=0),
    RecordField("partition_number", "int", minimum=0),
    RecordField("preceding_job_number", "int", minimum=0),
    RecordField("think_time", "seconds", minimum=0),
)
"""The 18 SWF fields in file order; ``seconds`` fields become microseconds."""

SWF_SPEC = RecordSpec("swf_jobs", SWF_FIELDS)

SWF_END_EVENTS = {
    0: Event.FAIL,
    1: Event.FINISH,
    2: Event.EVICT,
    3: Event.FINISH,
    4: Event.FAIL,
    5: Event.KILL,
    None: Event.LOST,
}
"""SWF status → the event that ends the attempt.

0 is failed, 1 completed and 5 cancelled. Logs with checkpointing also use 2 for a
partial execution to be continued (the job was preempted), 3 for the last partial
execution of a completed job and 4 for that of a failed job. A missing status (-1)
ends the attempt with LOST: the job ended, but the log does not say how.
"""

_NUMERIC_HEADER_KEYS = (
    "MaxJobs",
    "MaxRecords",
    "UnixStartTime",
    "TimeZone",
    "MaxNodes",
    "MaxProcs",
    "MaxRuntime",
    "MaxMemory",
    "MaxQueues",
    "MaxPartitions",
)
_LIST_HEADER_KEYS = ("Queue", "Partition", "Note")
_CONTINUED_HEADER_KEYS = ("Note", "Information", "Acknowledge")
# A header key follows the ";" after at most one space, and a blank follows its
# colon, so indented continuation lines and URLs ("http://...") are not keys.
_HEADER_LINE = re.compile(r"^ ?([A-Za-z]+):(?:\s+(.*))?$")


def parse_header(comment_lines: list[str]) -> dict[str, Any]:
    """Parse SWF header comments (without their leading ``;``).

    ``Key: value`` lines give one entry; numeric keys (``MaxProcs``,
    ``UnixStartTime``, ...) become integers; ``Queue``, ``Partition`` and ``Note``
    lines are collected into lists. A line without a key continues the value of a
    preceding ``Note``, ``Information`` or ``Acknowledge`` line and is otherwise
    ignored (logs put column labels there).
    """
    header: dict[str, Any] = {}
    last_key: str | None = None
    for text in comment_lines:
        match = _HEADER_LINE.match(text)
        if match is None:
            if text.strip() and last_key in _CONTINUED_HEADER_KEYS:
                _append_header(header, last_key, text.strip(), continued=True)
            else:
                last_key = None
            continue
        key, value = match.group(1), (match.group(2) or "").strip()
        last_key = key
        if key in _NUMERIC_HEADER_KEYS:
            try:
                header[key] = int(value.split()[0])
            except (ValueError, IndexError):
                logger.warning("SWF header %s has a non-integer value %r", key, value)
                header[key] = value
        else:
            _append_header(header, key, value, continued=False)
    return header


def _append_header(header: dict[str, Any], key: str, value: str, *, continued: bool):
    if key in _LIST_HEADER_KEYS:
        values = header.setdefault(key, [])
        if continued and values:
            values[-1] = f"{values[-1]} {value}"
        else:
            values.append(value)
    elif continued and key in header:
        header[key] = f"{header[key]} {value}"
    else:
        header[key] = value


def read_log(path: Path, *, label: str) -> tuple[dict[str, Any], pl.DataFrame]:
    """Read an SWF file into its header and the raw layout of its job lines.

    Returns
    -------
    tuple of (dict, polars.DataFrame)
        The parsed header, and ``line``, ``raw``, ``_reason`` and the 18 fields as
        text, -1 already turned into null.

    Raises
    ------
    TraceFormatError
        If the file is empty or cannot be read.
    """
    if path.stat().st_size == 0:
        raise TraceFormatError(label, "the file is empty (0 bytes)")
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
            "truncated or not an SWF log",
        ) from error

    stripped = pl.col("raw").str.strip_chars()
    comment = stripped.str.starts_with(";").fill_null(value=False)
    blank = stripped.is_null() | (stripped == "")
    header_lines = (
        lines.filter(comment)["raw"]
        .str.strip_chars_start()
        .str.strip_prefix(";")
        .str.strip_chars_end()
        .to_list()
    )
    jobs = lines.filter(~comment & ~blank)

    names = [f.name for f in SWF_FIELDS]
    normalized = stripped.str.replace_all(r"\s+", " ")
    count = normalized.str.count_matches(" ", literal=True) + 1
    split = normalized.str.split_exact(" ", FIELD_COUNT - 1).struct.rename_fields(names)
    frame = jobs.with_columns(
        pl.when(count != FIELD_COUNT)
        .then(
            pl.format(
                "expected {} whitespace-separated fields, found {}",
                pl.lit(FIELD_COUNT),
                count,
            )
        )
        .when(pl.col("raw").str.contains("\ufffd", literal=True))
        .then(pl.lit("invalid UTF-8"))
        .alias("_reason"),
        split.alias("_fields"),
    ).unnest("_fields")
    missing_marker = {
        name: pl.when(pl.col(name) != "-1").then(pl.col(name)) for name in names
    }
    frame = frame.with_columns(**missing_marker).select(
        pl.col("line").cast(pl.Int64), "raw", pl.col("_reason").cast(pl.String), *names
    )
    return parse_header(header_lines), frame


def find_log(path: Path) -> Path:
    """Return the SWF file ``path`` names, or the one SWF file in folder ``path``.

    Raises
    ------
    TraceNotFoundError
        If the path does not exist, or a folder contains no SWF file.
    ParameterError
        If a folder contains more than one SWF file.
    """
    if path.is_file():
        return path
    if not path.is_dir():
        raise TraceNotFoundError(f"SWF log not found: {path}")
    logs = sorted(p for p in path.iterdir() if p.is_file() and is_swf_name(p.name))
    if not logs:
        raise TraceNotFoundError(
            f"{path} contains no SWF log (a file ending in .swf or .swf.gz)"
        )
    if len(logs) > 1:
        raise ParameterError(
            f"{path} contains {len(logs)} SWF logs "
            f"({', '.join(p.name for p in logs)}); a store contains one log: pass "
            "the file to ingest"
        )
    return logs[0]


def is_swf_name(name: str) -> bool:
    """Return whether a file name has an SWF suffix (``.swf`` or ``.swf.gz``)."""
    lower = name.lower()
    return lower.endswith((".swf", ".swf.gz"))


def _event_rows(jobs: pl.DataFrame) -> pl.DataFrame:
    """Build the SUBMIT, SCHEDULE and end events of every accepted job line."""
    schedule = pl.col("submit_time") + pl.col("wait_time")
    end = schedule + pl.col("run_time")
    never_started = (pl.col("status") == 5) & pl.col("run_time").is_null()
    requested = pl.coalesce("requested_processors", "allocated_processors")
    allocated = pl.coalesce("allocated_processors", "requested_processors")
    end_names = {
        code: event.name for code, event in SWF_END_EVENTS.items() if code is not None
    }
    end_event = (
        pl.col("status")
        .replace_strict(end_names, default=None, return_dtype=pl.String)
        .fill_null(Event.LOST.name)
    )

    common = [
        pl.col("job_number").alias("group_id"),
        pl.lit(0, dtype=pl.Int64).alias("process_index"),
        pl.col("line"),
    ]
    submits = jobs.select(
        *common,
        pl.col("submit_time").alias("time_us"),
        pl.lit(Event.SUBMIT.name).alias("event"),
        pl.lit(None, dtype=pl.Int16).alias("source_code"),
        pl.lit(None, dtype=pl.Int64).alias("cell_id"),
        requested.cast(pl.Float64).alias("cpu_request"),
    )
    # A job cancelled before it started has no SCHEDULE, and ends off any cell.
    schedules = jobs.filter(~never_started).select(
        *common,
        schedule.alias("time_us"),
        pl.lit(Event.SCHEDULE.name).alias("event"),
        pl.lit(None, dtype=pl.Int16).alias("source_code"),
        pl.lit(MACHINE_CELL, dtype=pl.Int64).alias("cell_id"),
        allocated.cast(pl.Float64).alias("cpu_request"),
    )
    ends = jobs.select(
        *common,
        pl.when(never_started).then(schedule).otherwise(end).alias("time_us"),
        end_event.alias("event"),
        pl.col("status").fill_null(-1).cast(pl.Int16).alias("source_code"),
        pl.when(never_started)
        .then(None)
        .otherwise(pl.lit(MACHINE_CELL, dtype=pl.Int64))
        .alias("cell_id"),
        pl.lit(None, dtype=pl.Float64).alias("cpu_request"),
    )
    return pl.concat([submits, schedules, ends])


def job_transitions(jobs: pl.DataFrame) -> pl.DataFrame:
    """Convert accepted SWF job lines into ``transitions`` rows (source file 0)."""
    events = _event_rows(jobs)
    return events.select(
        pl.col("time_us"),
        pl.lit(value=False).alias("before_window"),
        pl.lit(value=False).alias("after_window"),
        "group_id",
        "process_index",
        pl.col("event").cast(EVENT_DTYPE),
        "source_code",
        pl.lit(None, dtype=pl.Int8).alias("missing_info"),
        "cell_id",
        pl.lit(None, dtype=pl.Int16).alias("priority"),
        pl.lit(None, dtype=pl.Int8).alias("scheduling_class"),
        "cpu_request",
        pl.lit(None, dtype=pl.Float64).alias("memory_request"),
        pl.lit(None, dtype=pl.Float64).alias("disk_request"),
        pl.lit(None, dtype=pl.Boolean).alias("different_cells"),
        pl.lit(0, dtype=pl.UInt16).alias("source_file"),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ).cast(dict(schema.TRANSITIONS))


def machine_capacity(header: dict[str, Any]) -> int | None:
    """Return the machine's processors: ``MaxProcs``, else ``MaxNodes``, else None."""
    for key in ("MaxProcs", "MaxNodes"):
        value = header.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def machine_cell_events(header: dict[str, Any]) -> pl.DataFrame:
    """Return the one ADD of the machine cell, before the window."""
    return pl.DataFrame(
        {
            "time_us": [None],
            "before_window": [True],
            "after_window": [False],
            "cell_id": [MACHINE_CELL],
            "event": ["ADD"],
            "source_code": [None],
            "platform": [header.get("Computer")],
            "domain": [None],
            "cpu_capacity": [machine_capacity(header)],
            "memory_capacity": [None],
            "source_file": [0],
            "source_line": [None],
        },
        schema={**schema.CELL_EVENTS, "event": pl.String},
    ).cast({"event": CELL_EVENT_DTYPE})


def _no_band(priority: pl.Expr) -> pl.Expr:
    """Return a null band for every attempt: SWF logs have no priorities."""
    del priority
    return pl.lit(None, dtype=BAND_DTYPE)


def _restore_run_times(writer: StoreWriter, jobs: pl.DataFrame) -> None:
    """Put the logged run time on attempts whose instants are unknown.

    Attempts are matched to job lines by job number and order: the n-th line of a
    job number (in submit-time and line order) is its n-th attempt.
    """
    logged = jobs.sort("submit_time", "line").select(
        pl.col("job_number").alias("group_id"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32)
        .over("job_number")
        .alias("attempt"),
        pl.col("run_time").alias("_logged_run_time_us"),
    )
    processes = writer.scan("processes").collect()
    restored = (
        processes.join(logged, on=["group_id", "attempt"], how="left")
        .with_columns(
            pl.when(
                pl.col("run_time_us").is_null() & pl.col("schedule_time_us").is_null()
            )
            .then(pl.col("_logged_run_time_us"))
            .otherwise(pl.col("run_time_us"))
            .alias("run_time_us")
        )
        .select(schema.PROCESSES.names())
        .cast(dict(schema.PROCESSES))
    )
    writer.replace_table("processes", restored)


def ingest_swf(
    trace_path: str | Path,
    store_path: str | Path,
    *,
    max_rejected_fraction: float = 0.01,
    progress: bool = False,
) -> TraceStore:
    """Read an SWF log into a canonical trace store.

    Parameters
    ----------
    trace_path
        The log (``.swf`` or ``.swf.gz``), or a folder containing exactly one.
    store_path
        Destination store folder; an existing store there is replaced only when the
        new one is complete.
    max_rejected_fraction
        Largest share of invalid job lines accepted before the file is considered
        not an SWF log and ingestion stops with an error.
    progress
        Show a progress bar while deriving attempts.

    Returns
    -------
    TraceStore
        The new store, with the SWF fields in ``swf_jobs``.

    Raises
    ------
    TraceNotFoundError
        If the log does not exist.
    TraceFormatError
        If it cannot be read or has too many invalid lines.
    """
    if not 0 <= max_rejected_fraction <= 1:
        raise ParameterError(
            "max_rejected_fraction must be between 0 and 1, got "
            f"{max_rejected_fraction!r}"
        )
    path = find_log(Path(trace_path))
    label = path.name
    header, raw = read_log(path, label=label)
    result = validate_records(raw, SWF_SPEC, label)
    check_rejected_share(label, result, max_rejected_fraction)
    jobs = result.accepted
    capacity = machine_capacity(header)
    if capacity is None:
        logger.warning(
            "%s: the header gives neither MaxProcs nor MaxNodes; the machine's "
            "capacity is unknown",
            label,
        )

    with StoreWriter(store_path, FORMAT, inputs=[trace_path]) as writer:
        writer.manifest["source"].update(
            {
                "path": str(path.resolve()),
                "trace": "Standard Workload Format log, "
                f"{header.get('Installation', 'installation unknown')}",
                "licence": "Parallel Workloads Archive: cite the archive (Feitelson, "
                "Tsafrir and Krakov, JPDC 2014) and the log's source",
            }
        )
        writer.manifest["swf_header"] = header
        writer.manifest["clock"] = {
            "unit": "microsecond",
            "origin": "the log start",
            "unix_start_time_s": header.get("UnixStartTime"),
            "time_zone": header.get("TimeZoneString"),
        }
        writer.manifest["units"] = {
            "cpu": "processors",
            "memory": "not mapped (requested memory, kilobytes per processor, is in "
            "swf_jobs)",
            "disk": "not in this format",
        }
        writer.manifest["cells"] = (
            f"one cell, the machine (ID {MACHINE_CELL}), with MaxProcs processors"
        )
        writer.manifest["files"].append(
            {
                "table": "swf_jobs",
                "path": label,
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
                "rows_read": result.rows_read,
                "rows_accepted": jobs.height,
                "rows_rejected": result.rejected.height,
            }
        )
        writer.manifest["source_tables"] = {
            "swf_jobs": {
                "rows_read": result.rows_read,
                "rows_accepted": jobs.height,
                "rows_rejected": result.rejected.height,
            }
        }
        writer.write_part("swf_jobs", jobs)
        writer.write_part("transitions", job_transitions(jobs))
        writer.write_part("cell_events", machine_cell_events(header))
        if result.rejected.height:
            writer.write_part("quarantine", result.rejected)
        derive.derive_all(writer, band=_no_band, progress=progress)
        _restore_run_times(writer, jobs)
        wait_known = int(jobs["wait_time"].is_not_null().sum())
        writer.manifest["wait_time_known"] = {
            "jobs": wait_known,
            "of": jobs.height,
        }
        if wait_known < jobs.height:
            logger.info(
                "%s: %d of %d jobs have no wait time; their schedule and end "
                "instants are unknown (replay the log to predict them)",
                label,
                jobs.height - wait_known,
                jobs.height,
            )
    return TraceStore(store_path)
