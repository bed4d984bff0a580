"""Reader of the Alibaba cluster trace v2018 (``cluster-trace-v2018``).

Mapping onto μ-OSM:

- a batch *instance* is a distributed process keyed by (task group, instance
  number), with one attempt per ``batch_instance`` row;
- a batch *task* (all instances of one ``task_name`` in one ``job_name``) is a
  process group. The job's DAG, encoded in task names (``M2_1`` is task 2 and waits
  for task 1), becomes ``dag`` edges in ``group_dependencies``;
- an online *container* is a distributed process in the group of its application
  (``app_du``), placed at its first ``container_meta`` row;
- a machine is a fault cell; its two failure domains, joined as
  ``failure_domain_1/failure_domain_2``, are the failure domain above it.

Group IDs are numbered by this reader: batch tasks 1..n in (job name, task name)
order, then applications in name order; ``group_attributes`` gives the names of
every group ID. Machine, container and instance IDs are the numbers in their names
(``m_1932`` is 1932).

CPU is in cores (``plan_cpu`` and ``cpu_request`` divided by 100, as the schema
says 100 is one core; ``cpu_num`` for machines) and memory on the trace's
normalized scale divided by 100, so that 1.0 is the top of its 0-100 range.

The trace records when batch tasks and instances started and ended, never when they
were submitted, so no scheduling delay can be observed. Its machine statuses are
not documented, so no machine is taken as removed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
from tqdm import tqdm

from muosm_perf.errors import ParameterError, TraceFormatError, TraceNotFoundError
from muosm_perf.model import derive
from muosm_perf.model.lifecycle import BAND_DTYPE
from muosm_perf.model.store import StoreWriter, TraceStore
from muosm_perf.traces._csv import check_rejected_share, file_sha256
from muosm_perf.traces._records import (
    RecordResult,
    RecordSpec,
    parsed_schema,
    validate_records,
)
from muosm_perf.traces.alibaba2018_mapping import (
    container_transitions,
    container_usage,
    dag_dependencies,
    instance_transitions,
    machine_cell_events,
    machine_usage,
    number_groups,
    task_group_transitions,
)
from muosm_perf.traces.alibaba2018_tables import (
    BATCH_INSTANCE,
    BATCH_TASK,
    CONTAINER_META,
    CONTAINER_USAGE,
    MACHINE_META,
    MACHINE_USAGE,
    STATUS_CODES,
    TABLE_SPECS,
    read_headerless,
    table_files,
)

logger = logging.getLogger(__name__)

FORMAT = "alibaba-2018"


def _no_band(priority: pl.Expr) -> pl.Expr:
    """Return a null band for every attempt: the trace has no priorities."""
    del priority
    return pl.lit(None, dtype=BAND_DTYPE)


def find_tables(trace_dir: Path) -> dict[str, list[Path]]:
    """List the files of each table present in ``trace_dir``.

    Raises
    ------
    TraceNotFoundError
        If the folder does not exist or contains none of the six tables.
    """
    if not trace_dir.is_dir():
        raise TraceNotFoundError(
            f"trace folder not found: {trace_dir}; pass the folder that contains the "
            "extracted machine_meta.csv, batch_task.csv, ... files"
        )
    found = {
        spec.name: files
        for spec in TABLE_SPECS
        if (files := table_files(trace_dir, spec))
    }
    if not found:
        raise TraceNotFoundError(
            f"{trace_dir} contains no table of the Alibaba 2018 trace; expected "
            + ", ".join(f"{s.name}.csv" for s in TABLE_SPECS)
            + " (extracted from the .tar.gz downloads; .csv.gz also works)"
        )
    return found


class _Reader:
    """Reads, validates and records the files of one ingest."""

    def __init__(
        self, writer: StoreWriter, trace_dir: Path, max_rejected_fraction: float
    ) -> None:
        self.writer = writer
        self.trace_dir = trace_dir
        self.max_rejected_fraction = max_rejected_fraction
        self.counts: dict[str, dict[str, int]] = {}
        self.sentinels: dict[str, int] = {}

    def read(self, spec: RecordSpec, path: Path) -> tuple[RecordResult, int]:
        label = str(path.relative_to(self.trace_dir))
        raw = read_headerless(path, spec, label=label)
        result = validate_records(raw, spec, label)
        check_rejected_share(label, result, self.max_rejected_fraction)

        file_index = len(self.writer.manifest["files"])
        if file_index > 65535:
            raise TraceFormatError(
                label, "more than 65,536 files in one store; ingest fewer parts"
            )
        if result.rejected.height:
            self.writer.write_part("quarantine", result.rejected)

        self.writer.manifest["files"].append(
            {
                "table": spec.name,
                "path": label,
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
                "rows_read": result.rows_read,
                "rows_accepted": result.accepted.height,
                "rows_rejected": result.rejected.height,
            }
        )
        counts = self.counts.setdefault(
            spec.name, {"rows_read": 0, "rows_accepted": 0, "rows_rejected": 0}
        )
        counts["rows_read"] += result.rows_read
        counts["rows_accepted"] += result.accepted.height
        counts["rows_rejected"] += result.rejected.height
        for column, count in result.sentinels.items():
            key = f"{spec.name}.{column}"
            self.sentinels[key] = self.sentinels.get(key, 0) + count
        logger.info(
            "%s: %d rows read, %d rejected",
            label,
            result.rows_read,
            result.rejected.height,
        )
        return result, file_index

    def read_all(self, spec: RecordSpec, paths: list[Path]) -> pl.DataFrame:
        """Read every file of a small table; add ``source_file`` to its rows."""
        frames = []
        for path in paths:
            result, file_index = self.read(spec, path)
            frames.append(
                result.accepted.with_columns(
                    pl.lit(file_index, dtype=pl.UInt16).alias("source_file")
                )
            )
        if not frames:
            return pl.DataFrame(
                schema={**parsed_schema(spec), "source_file": pl.UInt16}
            )
        return pl.concat(frames)


def _status_dictionary(values: pl.Series) -> dict[str, int]:
    """Give undocumented status strings the codes 1..k in sorted order."""
    return {status: code for code, status in enumerate(values.unique().sort(), start=1)}


def _instance_keys(paths: list[Path]) -> pl.DataFrame:
    """Read the distinct (job, task) names of ``batch_instance`` files, unparsed."""
    frames = []
    for path in paths:
        names = [f.name for f in BATCH_INSTANCE.fields]
        frames.append(
            pl.scan_csv(
                path,
                has_header=False,
                schema=dict.fromkeys(names, pl.String),
                quote_char=None,
                truncate_ragged_lines=True,
            )
            .select("job_name", "task_name")
            .drop_nulls()
            .unique()
            .collect()
        )
    if not frames:
        return pl.DataFrame(schema={"job_name": pl.String, "task_name": pl.String})
    return pl.concat(frames).unique()


def ingest_alibaba_2018(
    trace_dir: str | Path,
    store_path: str | Path,
    *,
    max_rejected_fraction: float = 0.01,
    progress: bool = False,
) -> TraceStore:
    """Read Alibaba cluster trace v2018 tables into a canonical trace store.

    Parameters
    ----------
    trace_dir
        Folder with any of ``machine_meta``, ``machine_usage``, ``container_meta``,
        ``container_usage``, ``batch_task`` and ``batch_instance`` as headerless
        ``.csv`` or ``.csv.gz`` files (a table may be split into several files
        named ``<table>*.csv``).
    store_path
        Destination store folder; an existing store there is replaced only when the
        new one is complete.
    max_rejected_fraction
        Largest share of invalid rows accepted in one file before the file is
        considered the wrong table and ingestion stops with an error.
    progress
        Show a progress bar over the ``batch_instance`` and usage files.

    Returns
    -------
    TraceStore
        The new store. Besides the canonical tables it has ``group_attributes``,
        ``group_dependencies`` and ``machine_usage``.

    Raises
    ------
    TraceNotFoundError
        If the folder contains none of the tables.
    TraceFormatError
        If a file cannot be read or has too many invalid rows.
    """
    trace_dir = Path(trace_dir)
    if not 0 <= max_rejected_fraction <= 1:
        raise ParameterError(
            "max_rejected_fraction must be between 0 and 1, got "
            f"{max_rejected_fraction!r}"
        )
    tables = find_tables(trace_dir)
    with StoreWriter(store_path, FORMAT, inputs=[trace_dir]) as writer:
        writer.manifest["source"].update(
            {
                "path": str(trace_dir.resolve()),
                "trace": "Alibaba cluster trace v2018 (cluster-trace-v2018)",
                "licence": "Alibaba Cluster Trace Program: research and study use",
            }
        )
        writer.manifest["clock"] = {
            "unit": "microsecond",
            "origin": "the start of the trace period (0 s)",
            "before_window": "times at or below 0 s",
        }
        writer.manifest["units"] = {
            "cpu": "cores (plan_cpu and cpu_request divided by 100; cpu_num)",
            "memory": "the trace's normalized 0-100 memory divided by 100",
            "disk": "not mapped",
        }
        reader = _Reader(writer, trace_dir, max_rejected_fraction)

        machines = reader.read_all(MACHINE_META, tables.get("machine_meta", []))
        machine_codes = _status_dictionary(machines["status"])
        writer.write_part("cell_events", machine_cell_events(machines, machine_codes))

        containers = reader.read_all(CONTAINER_META, tables.get("container_meta", []))
        container_codes = _status_dictionary(containers["status"])
        tasks = reader.read_all(BATCH_TASK, tables.get("batch_task", []))
        groups = number_groups(
            tasks,
            _instance_keys(tables.get("batch_instance", [])),
            containers["app_du"],
        )
        writer.write_part("group_attributes", groups)
        edges, dangling = dag_dependencies(groups)
        writer.write_part("group_dependencies", edges)
        if containers.height:
            writer.write_part(
                "transitions",
                container_transitions(containers, groups, container_codes),
            )
        for file_index in tasks["source_file"].unique().sort():
            part = tasks.filter(pl.col("source_file") == file_index)
            writer.write_part(
                "group_transitions", task_group_transitions(part, groups, file_index)
            )

        bulky = [
            (spec, path)
            for spec in (BATCH_INSTANCE, MACHINE_USAGE, CONTAINER_USAGE)
            for path in tables.get(spec.name, [])
        ]
        plans = tasks.group_by("job_name", "task_name").agg(
            pl.col("plan_cpu").drop_nulls().last(),
            pl.col("plan_mem").drop_nulls().last(),
        )
        for spec, path in tqdm(
            bulky, desc="reading", unit="file", disable=not progress
        ):
            result, file_index = reader.read(spec, path)
            if spec is BATCH_INSTANCE:
                instances = result.accepted.join(
                    plans, on=["job_name", "task_name"], how="left"
                )
                writer.write_part(
                    "transitions", instance_transitions(instances, groups, file_index)
                )
            elif spec is MACHINE_USAGE:
                writer.write_part("machine_usage", machine_usage(result.accepted))
            else:
                usage = container_usage(result.accepted, containers, groups)
                writer.write_part(
                    "usage",
                    derive.flag_over_capacity(usage, writer.scan("cell_events")),
                )

        writer.manifest["source_tables"] = reader.counts
        writer.manifest["invalid_values"] = reader.sentinels
        writer.manifest["source_codes"] = {
            "batch_task.status": STATUS_CODES,
            "batch_instance.status": STATUS_CODES,
            "machine_meta.status": machine_codes,
            "container_meta.status": container_codes,
        }
        writer.manifest["dangling_dependencies"] = dangling
        derive.derive_all(writer, band=_no_band, progress=progress)
    return TraceStore(store_path)
