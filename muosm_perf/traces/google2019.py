"""Reader of the Google Borg trace "clusterdata_2019" (format v3).

Five tables are read: ``machine_events``, ``machine_attributes``,
``collection_events``, ``instance_events`` and ``instance_usage``. Each comes from
any number of export files named after the table, in the trace folder or in a
folder named after the table, in JSON, CSV or Parquet (see
:mod:`muosm_perf.traces.google2019_exports`). Field names, types and codes follow
``clusterdata_trace_format_v3.proto`` and "Google cluster-usage traces v3" (Wilkes,
version of 2020-04-01).

Mapping onto μ-OSM: an instance (task or alloc instance) is a distributed process
keyed by (collection ID, instance index); a collection (job or alloc set) is a process
group; a machine is a fault cell and its top-of-rack switch the failure domain above
it. Event codes map by :data:`~muosm_perf.model.lifecycle.GOOGLE_2019_EVENTS` and
priorities onto bands by :data:`~muosm_perf.model.lifecycle.GOOGLE_2019_TIERS`.

Sentinels, as the v3 documentation defines them:

- time 0 is "before the trace window" and 2^63-1 "after the trace window"; both
  become flags with a null time (usage windows have no sentinels);
- ``machine_id`` 0 is "not on a machine" and -1 "some dedicated machine": neither is
  a machine, so the cell is null (and ``dedicated_machine`` is set for -1);
- ``alloc_collection_id`` 0 or absent is "not in an alloc set", and
  ``alloc_instance_index`` -1 "no alloc instance": both become null;
- an absent ``capacity`` or ``resource_request`` is unknown (null), never 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from tqdm import tqdm

from muosm_perf.errors import ParameterError, TraceFormatError, TraceNotFoundError
from muosm_perf.model import derive, schema
from muosm_perf.model.lifecycle import (
    CELL_EVENT_DTYPE,
    EVENT_DTYPE,
    GOOGLE_2019_CELL_EVENTS,
    GOOGLE_2019_EVENTS,
    google_2019_band,
)
from muosm_perf.model.store import StoreWriter, TraceStore
from muosm_perf.traces._csv import check_rejected_share, file_sha256
from muosm_perf.traces._records import (
    CONSTRAINT_DTYPE,
    RecordField,
    RecordSpec,
    validate_records,
)
from muosm_perf.traces.google2011 import CELL_ATTRIBUTES
from muosm_perf.traces.google2019_exports import export_format, read_export

logger = logging.getLogger(__name__)

FORMAT = "google-2019"
AFTER_WINDOW = 2**63 - 1
"""Time value meaning "after the trace window"."""
TRACE_START_US = 600_000_000
"""Trace time of the trace start: the clock starts 600 s before it."""
NO_MACHINE = 0
DEDICATED_MACHINE = -1
NO_ALLOC_COLLECTION = 0
NO_ALLOC_INDEX = -1

_EVENT_CODES = frozenset(GOOGLE_2019_EVENTS)
_MAX_INT16 = 2**15 - 1
_MAX_INT32 = 2**31 - 1

_COMMON_THING_FIELDS = (
    RecordField("time", "int", mandatory=True, minimum=0),
    RecordField("type", "int", mandatory=True, allowed=_EVENT_CODES),
    RecordField("collection_id", "int", mandatory=True),
    RecordField("scheduling_class", "int", allowed=frozenset(range(4))),
    RecordField("missing_type", "int", allowed=frozenset(range(6))),
    RecordField("collection_type", "int", allowed=frozenset({0, 1})),
    RecordField("priority", "int", minimum=0, maximum=_MAX_INT16),
    RecordField("alloc_collection_id", "int"),
)

COLLECTION_EVENTS = RecordSpec(
    "collection_events",
    (
        *_COMMON_THING_FIELDS,
        RecordField("user", "string"),
        RecordField("collection_name", "string"),
        RecordField("collection_logical_name", "string"),
        RecordField("parent_collection_id", "int"),
        RecordField("start_after_collection_ids", "int_list"),
        RecordField("max_per_machine", "int", minimum=0, maximum=_MAX_INT32),
        RecordField("max_per_switch", "int", minimum=0, maximum=_MAX_INT32),
        RecordField("vertical_scaling", "int", allowed=frozenset(range(4))),
        RecordField("scheduler", "int", allowed=frozenset({0, 1})),
    ),
)
INSTANCE_EVENTS = RecordSpec(
    "instance_events",
    (
        *_COMMON_THING_FIELDS,
        RecordField("instance_index", "int", mandatory=True, minimum=0),
        RecordField("machine_id", "int", minimum=DEDICATED_MACHINE),
        RecordField("alloc_instance_index", "int", minimum=NO_ALLOC_INDEX),
        RecordField("resource_request", "resources", minimum=0),
        RecordField("constraint", "constraints"),
    ),
)
MACHINE_EVENTS = RecordSpec(
    "machine_events",
    (
        RecordField("time", "int", mandatory=True, minimum=0),
        # Dedicated machines are left out of this table, so 0 and -1 are invalid.
        RecordField("machine_id", "int", mandatory=True, minimum=1),
        RecordField(
            "type", "int", mandatory=True, allowed=frozenset(GOOGLE_2019_CELL_EVENTS)
        ),
        RecordField("switch_id", "string"),
        RecordField("capacity", "resources", minimum=0),
        RecordField("platform_id", "string"),
        RecordField("missing_data_reason", "int", allowed=frozenset({0, 1})),
    ),
)
MACHINE_ATTRIBUTES = RecordSpec(
    "machine_attributes",
    (
        RecordField("time", "int", mandatory=True, minimum=0),
        RecordField("machine_id", "int", mandatory=True, minimum=1),
        RecordField("name", "string", mandatory=True),
        RecordField("value", "string"),
        RecordField("deleted", "bool"),
    ),
)
INSTANCE_USAGE = RecordSpec(
    "instance_usage",
    (
        RecordField("start_time", "int", mandatory=True),
        RecordField("end_time", "int", mandatory=True),
        RecordField("collection_id", "int", mandatory=True),
        RecordField("instance_index", "int", mandatory=True, minimum=0),
        RecordField("machine_id", "int", minimum=DEDICATED_MACHINE),
        RecordField("alloc_collection_id", "int"),
        RecordField("alloc_instance_index", "int"),
        RecordField("collection_type", "int", allowed=frozenset({0, 1})),
        RecordField("average_usage", "resources"),
        RecordField("maximum_usage", "resources"),
        RecordField("random_sample_usage", "resources"),
        RecordField("assigned_memory", "float"),
        RecordField("page_cache_memory", "float"),
        RecordField("cycles_per_instruction", "float"),
        RecordField("memory_accesses_per_instruction", "float"),
        RecordField("sample_rate", "float", minimum=0),
        # 0th, 10th, ..., 100th percentiles, and the 91st to 99th.
        RecordField("cpu_usage_distribution", "float_list", length=11),
        RecordField("tail_cpu_usage_distribution", "float_list", length=9),
    ),
)

TABLE_SPECS = (
    MACHINE_EVENTS,
    MACHINE_ATTRIBUTES,
    COLLECTION_EVENTS,
    INSTANCE_EVENTS,
    INSTANCE_USAGE,
)
"""Tables in the order they are read (machines first, for the usage flags)."""

INSTANCE_DETAILS = pl.Schema(
    {
        "source_file": pl.UInt16,
        "source_line": pl.UInt32,
        "collection_type": pl.Int8,
        "alloc_collection_id": pl.Int64,
        "alloc_instance_index": pl.Int64,
        "dedicated_machine": pl.Boolean,
        "constraints": CONSTRAINT_DTYPE,
    }
)
"""v3 fields of an instance event that ``transitions`` has no column for, keyed by
the event's source file and line."""

COLLECTION_DETAILS = pl.Schema(
    {
        "source_file": pl.UInt16,
        "source_line": pl.UInt32,
        "group_id": pl.Int64,
        "collection_type": pl.Int8,
        "priority": pl.Int16,
        "alloc_collection_id": pl.Int64,
        "parent_collection_id": pl.Int64,
        "max_per_machine": pl.Int32,
        "max_per_switch": pl.Int32,
        "vertical_scaling": pl.Int8,
        "scheduler": pl.Int8,
    }
)
"""v3 fields of a collection event that ``group_transitions`` has no column for.

``max_per_machine`` and ``max_per_switch`` are 0 where there is no limit, as in the
trace. ``scheduler`` is 0 for the default scheduler and 1 for the batch scheduler.
"""


def _time_columns(column: str = "time") -> list[pl.Expr]:
    """Turn a raw trace time into ``time_us`` and the two window flags."""
    raw = pl.col(column)
    before = raw == 0
    after = raw == AFTER_WINDOW
    return [
        pl.when(before | after).then(None).otherwise(raw).alias("time_us"),
        before.alias("before_window"),
        after.alias("after_window"),
    ]


def _event(column: str, mapping: dict) -> pl.Expr:
    names = {code: event.name for code, event in mapping.items()}
    return pl.col(column).replace_strict(names, return_dtype=pl.String)


def _source(file_index: int) -> list[pl.Expr]:
    return [
        pl.lit(file_index, dtype=pl.UInt16).alias("source_file"),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ]


def _machine(column: str = "machine_id") -> pl.Expr:
    """Return the cell ID: null for "no machine" (0) and "dedicated machine" (-1)."""
    raw = pl.col(column)
    return pl.when(raw > NO_MACHINE).then(raw)


def _missing_info() -> pl.Expr:
    """Return v3 ``missing_type`` as ``missing_info``: null when nothing is missing."""
    raw = pl.col("missing_type")
    return pl.when(raw != 0).then(raw).cast(pl.Int8)


def _alloc_collection() -> pl.Expr:
    raw = pl.col("alloc_collection_id")
    return pl.when(raw != NO_ALLOC_COLLECTION).then(raw)


def _alloc_index() -> pl.Expr:
    raw = pl.col("alloc_instance_index")
    return pl.when(raw != NO_ALLOC_INDEX).then(raw)


def instance_transitions(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Convert parsed instance events into ``transitions`` rows."""
    return frame.select(
        *_time_columns(),
        pl.col("collection_id").alias("group_id"),
        pl.col("instance_index").alias("process_index"),
        _event("type", GOOGLE_2019_EVENTS).cast(EVENT_DTYPE).alias("event"),
        pl.col("type").cast(pl.Int16).alias("source_code"),
        _missing_info().alias("missing_info"),
        _machine().alias("cell_id"),
        pl.col("priority").cast(pl.Int16),
        pl.col("scheduling_class").cast(pl.Int8),
        pl.col("resource_request_cpus").alias("cpu_request"),
        pl.col("resource_request_memory").alias("memory_request"),
        pl.lit(None, dtype=pl.Float64).alias("disk_request"),
        pl.lit(None, dtype=pl.Boolean).alias("different_cells"),
        *_source(file_index),
    ).cast(dict(schema.TRANSITIONS))


def instance_details(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Return the v3 fields of instance events kept beside ``transitions``."""
    return frame.select(
        *_source(file_index),
        pl.col("collection_type").cast(pl.Int8),
        _alloc_collection().alias("alloc_collection_id"),
        _alloc_index().alias("alloc_instance_index"),
        (pl.col("machine_id") == DEDICATED_MACHINE)
        .fill_null(value=False)
        .alias("dedicated_machine"),
        pl.col("constraint").alias("constraints"),
    ).cast(dict(INSTANCE_DETAILS))


def collection_transitions(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Convert parsed collection events into ``group_transitions`` rows."""
    return frame.select(
        *_time_columns(),
        pl.col("collection_id").alias("group_id"),
        _event("type", GOOGLE_2019_EVENTS).cast(EVENT_DTYPE).alias("event"),
        pl.col("type").cast(pl.Int16).alias("source_code"),
        _missing_info().alias("missing_info"),
        pl.col("user"),
        pl.col("scheduling_class").cast(pl.Int8),
        pl.col("collection_name").alias("name"),
        pl.col("collection_logical_name").alias("logical_name"),
        *_source(file_index),
    ).cast(dict(schema.GROUP_TRANSITIONS))


def collection_details(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Return the v3 fields of collection events kept beside ``group_transitions``."""
    parent = pl.col("parent_collection_id")
    return frame.select(
        *_source(file_index),
        pl.col("collection_id").alias("group_id"),
        pl.col("collection_type").cast(pl.Int8),
        pl.col("priority").cast(pl.Int16),
        _alloc_collection().alias("alloc_collection_id"),
        pl.when(parent != 0).then(parent).alias("parent_collection_id"),
        pl.col("max_per_machine").cast(pl.Int32),
        pl.col("max_per_switch").cast(pl.Int32),
        pl.col("vertical_scaling").cast(pl.Int8),
        pl.col("scheduler").cast(pl.Int8),
    ).cast(dict(COLLECTION_DETAILS))


def collection_dependencies(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the ``start_after`` and ``parent`` edges of parsed collection events."""
    start_after = (
        frame.select(
            pl.col("collection_id").alias("group_id"),
            pl.col("start_after_collection_ids").alias("depends_on_group_id"),
        )
        .explode("depends_on_group_id")
        .drop_nulls()
        .with_columns(pl.lit("start_after").alias("kind"))
    )
    parents = (
        frame.select(
            pl.col("collection_id").alias("group_id"),
            pl.col("parent_collection_id").alias("depends_on_group_id"),
        )
        .filter(pl.col("depends_on_group_id") != 0)
        .with_columns(pl.lit("parent").alias("kind"))
    )
    return pl.concat([start_after, parents]).cast(dict(schema.GROUP_DEPENDENCIES))


def machine_cell_events(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Convert parsed machine events into ``cell_events`` rows."""
    return frame.select(
        *_time_columns(),
        pl.col("machine_id").alias("cell_id"),
        _event("type", GOOGLE_2019_CELL_EVENTS).cast(CELL_EVENT_DTYPE).alias("event"),
        pl.col("type").cast(pl.Int16).alias("source_code"),
        pl.col("platform_id").alias("platform"),
        pl.col("switch_id").alias("domain"),
        pl.col("capacity_cpus").alias("cpu_capacity"),
        pl.col("capacity_memory").alias("memory_capacity"),
        *_source(file_index),
    ).cast(dict(schema.CELL_EVENTS))


def machine_attributes(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Convert parsed machine attributes into ``cell_attributes`` rows."""
    del file_index
    return frame.select(
        *_time_columns(),
        pl.col("machine_id").alias("cell_id"),
        pl.col("name"),
        pl.col("value"),
        pl.col("deleted").fill_null(value=False),
    ).cast(dict(CELL_ATTRIBUTES))


def instance_usage(frame: pl.DataFrame, file_index: int) -> pl.DataFrame:
    """Convert parsed usage windows into ``usage`` rows (without the flags)."""
    del file_index
    nothing = pl.lit(None, dtype=pl.Float64)
    return frame.select(
        pl.col("start_time").alias("start_time_us"),
        pl.col("end_time").alias("end_time_us"),
        pl.col("collection_id").alias("group_id"),
        pl.col("instance_index").alias("process_index"),
        _machine().alias("cell_id"),
        pl.col("average_usage_cpus").alias("cpu_usage"),
        pl.col("average_usage_memory").alias("memory_usage"),
        pl.col("assigned_memory"),
        nothing.alias("unmapped_page_cache"),
        pl.col("page_cache_memory").alias("total_page_cache"),
        pl.col("maximum_usage_memory").alias("max_memory_usage"),
        nothing.alias("disk_io_time"),
        nothing.alias("local_disk_usage"),
        pl.col("maximum_usage_cpus").alias("max_cpu_usage"),
        nothing.alias("max_disk_io_time"),
        pl.col("cycles_per_instruction"),
        pl.col("memory_accesses_per_instruction"),
        nothing.alias("sample_portion"),
        pl.lit(None, dtype=pl.Boolean).alias("aggregated"),
        pl.col("random_sample_usage_cpus").alias("sampled_cpu_usage"),
        pl.col("cpu_usage_distribution")
        .cast(schema.USAGE["cpu_usage_percentiles"])
        .alias("cpu_usage_percentiles"),
        pl.col("tail_cpu_usage_distribution")
        .cast(schema.USAGE["cpu_usage_tail_percentiles"])
        .alias("cpu_usage_tail_percentiles"),
    )


@dataclass(frozen=True)
class _Output:
    table: str
    convert: Callable[[pl.DataFrame, int], pl.DataFrame]


_OUTPUTS: dict[str, tuple[_Output, ...]] = {
    "machine_events": (_Output("cell_events", machine_cell_events),),
    "machine_attributes": (_Output("cell_attributes", machine_attributes),),
    "collection_events": (
        _Output("group_transitions", collection_transitions),
        _Output("collection_details", collection_details),
        _Output("group_dependencies", lambda f, _: collection_dependencies(f)),
    ),
    "instance_events": (
        _Output("transitions", instance_transitions),
        _Output("instance_details", instance_details),
    ),
    "instance_usage": (_Output("usage", instance_usage),),
}


def find_tables(trace_dir: Path) -> dict[str, list[Path]]:
    """List the export files of each v3 table in ``trace_dir``.

    A file belongs to a table when its name starts with the table's name and ends in
    an export suffix (``.json``, ``.json.gz``, ``.csv``, ``.csv.gz``, ``.parquet``);
    it may lie in ``trace_dir`` or in ``trace_dir/<table>/``.

    Raises
    ------
    TraceNotFoundError
        If the folder does not exist or contains no export file of any table.
    """
    if not trace_dir.is_dir():
        raise TraceNotFoundError(
            f"trace folder not found: {trace_dir}; pass the folder that contains the "
            "exported tables, e.g. machine_events-000000000000.json.gz"
        )
    found: dict[str, list[Path]] = {}
    for spec in TABLE_SPECS:
        candidates = list(trace_dir.glob(f"{spec.name}*"))
        folder = trace_dir / spec.name
        if folder.is_dir():
            candidates.extend(folder.glob(f"{spec.name}*"))
        files = sorted(
            p for p in candidates if p.is_file() and export_format(p) is not None
        )
        if files:
            found[spec.name] = files
    if not found:
        raise TraceNotFoundError(
            f"{trace_dir} contains no Google 2019 export file; expected files named "
            f"after a table ({', '.join(s.name for s in TABLE_SPECS)}) ending in "
            ".json.gz, .json, .csv.gz, .csv or .parquet"
        )
    return found


def ingest_google_2019(
    trace_dir: str | Path,
    store_path: str | Path,
    *,
    max_rejected_fraction: float = 0.01,
    progress: bool = False,
) -> TraceStore:
    """Read exported Google 2019 (v3) tables into a canonical trace store.

    Parameters
    ----------
    trace_dir
        Folder with the export files (see :func:`find_tables`); any subset of the
        five tables may be present.
    store_path
        Destination store folder; an existing store there is replaced only when the
        new one is complete.
    max_rejected_fraction
        Largest share of invalid records accepted in one file before the file is
        considered the wrong table or format and ingestion stops with an error.
    progress
        Show a progress bar on standard error.

    Returns
    -------
    TraceStore
        The new store. Besides the canonical tables it has ``cell_attributes``,
        ``collection_details`` and ``instance_details`` (v3 fields without a
        canonical column) and ``group_dependencies``.

    Raises
    ------
    TraceNotFoundError
        If the folder has no export file.
    TraceFormatError
        If a file cannot be read or has too many invalid records.
    """
    trace_dir = Path(trace_dir)
    if not 0 <= max_rejected_fraction <= 1:
        raise ParameterError(
            "max_rejected_fraction must be between 0 and 1, got "
            f"{max_rejected_fraction!r}"
        )
    tables = find_tables(trace_dir)
    jobs = [(spec, path) for spec in TABLE_SPECS for path in tables.get(spec.name, [])]
    with StoreWriter(store_path, FORMAT, inputs=[trace_dir]) as writer:
        writer.manifest["source"].update(
            {
                "path": str(trace_dir.resolve()),
                "trace": "Google Borg cluster trace clusterdata_2019 (format v3)",
                "licence": "CC-BY 4.0 (Google cluster-usage traces v3, Wilkes, 2020)",
            }
        )
        writer.manifest["clock"] = {
            "unit": "microsecond",
            "trace_start_us": TRACE_START_US,
            "origin": "600 s before the trace start, 2019-05-01 00:00 US Pacific",
        }
        writer.manifest["units"] = {
            "cpu": "normalized compute units (NCU): GCUs divided by the largest "
            "machine's GCU capacity",
            "memory": "bytes normalized to the largest machine (1.0)",
            "disk": "not in this trace",
        }
        writer.manifest["priority_bands"] = {
            "free": "0-99",
            "middle": "100-119 (mid-SLO)",
            "production": "120-200",
            "monitoring": "201 and above",
            "source": "Google cluster-usage traces v3, version of 2020-04-01",
        }
        _read_tables(writer, trace_dir, jobs, max_rejected_fraction, progress)
        derive.derive_all(writer, band=google_2019_band, progress=progress)
    return TraceStore(store_path)


def _read_tables(
    writer: StoreWriter,
    trace_dir: Path,
    jobs: list[tuple[RecordSpec, Path]],
    max_rejected_fraction: float,
    progress: bool,
) -> None:
    table_counts: dict[str, dict[str, int]] = {}
    bar = tqdm(jobs, desc="reading exports", unit="file", disable=not progress)
    for spec, path in bar:
        label = str(path.relative_to(trace_dir))
        bar.set_postfix_str(label, refresh=False)
        raw = read_export(path, spec, label=label)
        result = validate_records(raw, spec, label)
        check_rejected_share(label, result, max_rejected_fraction)
        file_index = len(writer.manifest["files"])
        if file_index > 65535:
            raise TraceFormatError(
                label, "more than 65,536 files in one store; ingest fewer files"
            )
        for output in _OUTPUTS[spec.name]:
            canonical = output.convert(result.accepted, file_index)
            if output.table == "usage":
                canonical = derive.flag_over_capacity(
                    canonical, writer.scan("cell_events")
                )
            writer.write_part(output.table, canonical)
        if result.rejected.height:
            writer.write_part("quarantine", result.rejected)
        writer.manifest["files"].append(
            {
                "table": spec.name,
                "path": label,
                "format": export_format(path),
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
                "rows_read": result.rows_read,
                "rows_accepted": result.accepted.height,
                "rows_rejected": result.rejected.height,
            }
        )
        counts = table_counts.setdefault(
            spec.name, {"rows_read": 0, "rows_accepted": 0, "rows_rejected": 0}
        )
        counts["rows_read"] += result.rows_read
        counts["rows_accepted"] += result.accepted.height
        counts["rows_rejected"] += result.rejected.height
        logger.info(
            "%s: %d records read, %d rejected",
            label,
            result.rows_read,
            result.rejected.height,
        )
    writer.manifest["source_tables"] = table_counts
