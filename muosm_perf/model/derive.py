"""Derived canonical tables: processes, groups and cells from the event tables.

Readers write the event tables (``transitions``, ``group_transitions``,
``cell_events``); this module derives the rest the same way for every format.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import polars as pl
from tqdm import tqdm

from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.lifecycle import ANOMALIES, derive_attempts
from muosm_perf.model import schema
from muosm_perf.model.lifecycle import EVENT_NAMES
from muosm_perf.model.store import StoreWriter

logger = logging.getLogger(__name__)

BandMapping = Callable[[pl.Expr], pl.Expr]

ROWS_PER_BUCKET = 4_000_000
"""Transitions sorted in memory at once while deriving attempts (about 0.4 GB)."""


def time_class() -> pl.Expr:
    """Return 0 before the window, 1 inside it, 2 after it, from the window flags."""
    return (
        pl.when(pl.col("before_window"))
        .then(pl.lit(0, dtype=pl.Int8))
        .when(pl.col("after_window"))
        .then(pl.lit(2, dtype=pl.Int8))
        .otherwise(pl.lit(1, dtype=pl.Int8))
    )


def _nullable(values: np.ndarray) -> pl.Series:
    """Turn a kernel int64 array into a Series with nulls where it contains NULL_INT."""
    series = pl.Series(values)
    return series.set(series == NULL_INT, None) if len(series) else series


def attempts_from_events(
    events: pl.DataFrame, band: BandMapping, key: tuple[str, str]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Run the lifecycle kernel on the events of some processes.

    Parameters
    ----------
    events
        Transitions (or group transitions with a constant ``process_index``) of whole
        processes: every event of a process must be in the frame.
    band
        Maps the priority column to the band Enum.
    key
        Names of the two key columns, e.g. ``("group_id", "process_index")``.

    Returns
    -------
    tuple of (polars.DataFrame, dict)
        One row per attempt with the PROCESSES columns, and anomaly counts.
    """
    first, second = key
    ordered = events.with_columns(time_class().alias("_class")).sort(
        [first, second, "_class", "time_us", "source_file", "source_line"],
        nulls_last=True,
    )
    keys = ordered.select(first, second)
    boundary = (
        (pl.col(first) != pl.col(first).shift(1))
        | (pl.col(second) != pl.col(second).shift(1))
    ).fill_null(value=True)
    starts = keys.select(pl.arg_where(boundary)).to_series().to_numpy()
    process_starts = np.append(starts, ordered.height).astype(np.int64)

    def ints(column: str) -> np.ndarray:
        return ordered[column].cast(pl.Int64).fill_null(NULL_INT).to_numpy()

    def floats(column: str) -> np.ndarray:
        return ordered[column].cast(pl.Float64).fill_null(np.nan).to_numpy()

    attempts, anomalies = derive_attempts(
        process_starts,
        ordered["_class"].to_numpy(),
        ints("time_us"),
        ordered["event"].to_physical().cast(pl.Int8).to_numpy(),
        ints("cell_id"),
        ints("priority"),
        ints("scheduling_class"),
        floats("cpu_request"),
        floats("memory_request"),
        floats("disk_request"),
    )
    first_rows = process_starts[:-1][attempts["process"]]
    key_values = keys[first_rows]
    submit_class = attempts["submit_class"]
    schedule_class = attempts["schedule_class"]
    end_class = attempts["end_class"]
    end_event = attempts["end_event"].astype(np.int64)

    frame = pl.DataFrame(
        {
            first: key_values[first],
            second: key_values[second],
            "attempt": attempts["attempt"],
            "submit_time_us": _nullable(attempts["submit_time_us"]),
            "submit_before_window": submit_class == 0,
            "schedule_time_us": _nullable(attempts["schedule_time_us"]),
            "schedule_before_window": schedule_class == 0,
            "end_time_us": _nullable(attempts["end_time_us"]),
            # Open at the end of the data (-1) or ended at the after-window sentinel.
            "end_after_window": (end_class == -1) | (end_class == 2),
            "end_state": pl.Series(
                [EVENT_NAMES[e] if e >= 0 else None for e in end_event],
                dtype=pl.String,
            ),
            "missing_submit": attempts["missing_submit"],
            "cell_id": _nullable(attempts["cell"]),
            "priority": _nullable(attempts["priority"]),
            "scheduling_class": _nullable(attempts["scheduling_class"]),
            "cpu_request": pl.Series(attempts["cpu"]).fill_nan(None),
            "memory_request": pl.Series(attempts["memory"]).fill_nan(None),
            "disk_request": pl.Series(attempts["disk"]).fill_nan(None),
        }
    )
    frame = frame.with_columns(
        band(pl.col("priority")).alias("band"),
        (pl.col("schedule_time_us") - pl.col("submit_time_us")).alias(
            "scheduling_delay_us"
        ),
        (pl.col("end_time_us") - pl.col("schedule_time_us")).alias("run_time_us"),
    )
    return frame, anomalies


def _process_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(schema.PROCESSES.names()).cast(dict(schema.PROCESSES))


def derive_processes(
    writer: StoreWriter, band: BandMapping, *, progress: bool = False
) -> dict[str, int]:
    """Write the ``processes`` table from ``transitions``; return anomaly counts.

    Processes are split into hash buckets of their group ID so that no more than
    about :data:`ROWS_PER_BUCKET` transitions are sorted in memory at once.
    """
    transitions = writer.scan("transitions")
    total = transitions.select(pl.len()).collect().item()
    buckets = max(1, math.ceil(total / ROWS_PER_BUCKET))
    columns = [
        "time_us",
        "before_window",
        "after_window",
        "group_id",
        "process_index",
        "event",
        "cell_id",
        "priority",
        "scheduling_class",
        "cpu_request",
        "memory_request",
        "disk_request",
        "source_file",
        "source_line",
    ]
    anomalies = dict.fromkeys(ANOMALIES, 0)
    for bucket in tqdm(
        range(buckets), desc="deriving attempts", disable=not progress or buckets == 1
    ):
        part = transitions.select(columns)
        if buckets > 1:
            part = part.filter(pl.col("group_id").hash(seed=0) % buckets == bucket)
        events = part.collect()
        if events.height == 0:
            continue
        frame, counts = attempts_from_events(
            events, band, ("group_id", "process_index")
        )
        writer.write_part("processes", _process_frame(frame))
        for name, count in counts.items():
            anomalies[name] += count
    return anomalies


def derive_groups(writer: StoreWriter) -> dict[str, int]:
    """Write the ``groups`` table: one row per incarnation of each group.

    A group's ID reused after the group ended (a SUBMIT after a terminal event) starts
    a new incarnation; each attempt of a process counts towards the incarnation of
    its group that was last submitted at or before the attempt's first known time.
    Groups seen only in ``transitions`` get one row with null lifecycle fields.
    """
    events = writer.scan("group_transitions").collect()
    incarnation_columns = {
        "cell_id": pl.lit(None, dtype=pl.Int64),
        "priority": pl.lit(None, dtype=pl.Int64),
        "cpu_request": pl.lit(None, dtype=pl.Float64),
        "memory_request": pl.lit(None, dtype=pl.Float64),
        "disk_request": pl.lit(None, dtype=pl.Float64),
        "process_index": pl.lit(0, dtype=pl.Int64),
    }
    anomalies: dict[str, int] = {}
    if events.height:
        incarnations, anomalies = attempts_from_events(
            events.with_columns(**incarnation_columns),
            lambda _: pl.lit(None, dtype=schema.PROCESSES["band"]),
            ("group_id", "process_index"),
        )
    else:
        incarnations = pl.DataFrame(
            schema={"group_id": pl.Int64, "attempt": pl.Int32}
        ).with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in schema.GROUPS.items()
            if name
            not in (
                "group_id",
                "incarnation",
                "processes",
                "attempts",
                "user",
                "name",
                "logical_name",
            )
        )
    labels = events.group_by("group_id").agg(
        pl.col("user").drop_nulls().first(),
        pl.col("name").drop_nulls().first(),
        pl.col("logical_name").drop_nulls().first(),
    )
    incarnations = incarnations.rename({"attempt": "incarnation"})
    sizes = _sizes_per_incarnation(writer.scan("processes"), incarnations)
    groups = (
        incarnations.join(labels, on="group_id", how="left")
        .join(sizes, on=["group_id", "incarnation"], how="full", coalesce=True)
        .with_columns(
            pl.col("processes").fill_null(0),
            pl.col("attempts").fill_null(0),
            pl.col("submit_before_window").fill_null(value=False),
            pl.col("schedule_before_window").fill_null(value=False),
            pl.col("end_after_window").fill_null(value=False),
        )
        .sort("group_id", "incarnation")
    )
    process_groups = writer.scan("transitions").select("group_id").unique().collect()
    only_in_transitions = process_groups.join(events, on="group_id", how="anti")
    # Groups whose only events are lifecycle anomalies have no attempts; they still
    # get a row.
    missing = only_in_transitions.join(groups, on="group_id", how="anti")
    if missing.height:
        groups = (
            pl.concat(
                [
                    groups,
                    missing.with_columns(
                        pl.lit(1, dtype=pl.Int32).alias("incarnation")
                    ),
                ],
                how="diagonal_relaxed",
            )
            .with_columns(
                pl.col("processes").fill_null(0),
                pl.col("attempts").fill_null(0),
                pl.col("submit_before_window").fill_null(value=False),
                pl.col("schedule_before_window").fill_null(value=False),
                pl.col("end_after_window").fill_null(value=False),
            )
            .sort("group_id", "incarnation")
        )
    writer.write_part(
        "groups", groups.select(schema.GROUPS.names()).cast(dict(schema.GROUPS))
    )
    anomalies = {f"group_{name}": count for name, count in anomalies.items()}
    anomalies["groups_without_group_events"] = only_in_transitions.height
    return anomalies


def _sizes_per_incarnation(
    processes: pl.LazyFrame, incarnations: pl.DataFrame
) -> pl.DataFrame:
    """Count processes and attempts per group incarnation.

    Times before the window, and unknown times, sort first (as -1), so such attempts
    go to the first incarnation.
    """
    starts = incarnations.select(
        "group_id",
        "incarnation",
        pl.coalesce("submit_time_us", "schedule_time_us", pl.lit(-1)).alias("_start"),
    ).sort("_start")
    attempts = (
        processes.select(
            "group_id",
            "process_index",
            pl.coalesce(
                "submit_time_us", "schedule_time_us", "end_time_us", pl.lit(-1)
            ).alias("_time"),
        )
        .sort("_time")
        .collect()
    )
    assigned = attempts.join_asof(
        starts,
        left_on="_time",
        right_on="_start",
        by="group_id",
        strategy="backward",
        check_sortedness=False,
    ).with_columns(pl.col("incarnation").fill_null(1))
    return assigned.group_by("group_id", "incarnation").agg(
        pl.col("process_index").n_unique().cast(pl.UInt32).alias("processes"),
        pl.len().cast(pl.UInt32).alias("attempts"),
    )


def derive_cells(writer: StoreWriter) -> None:
    """Write the ``cells`` table: one row per machine from its event history."""
    events = (
        writer.scan("cell_events")
        .with_columns(time_class().alias("_class"))
        .sort("cell_id", "_class", "time_us", "source_file", "source_line")
        .collect()
    )
    cells = events.group_by("cell_id", maintain_order=True).agg(
        pl.col("platform").drop_nulls().last(),
        pl.col("domain").drop_nulls().last(),
        pl.col("time_us").first().alias("first_seen_us"),
        pl.col("before_window").first().alias("first_seen_before_window"),
        pl.col("cpu_capacity").drop_nulls().last(),
        pl.col("memory_capacity").drop_nulls().last(),
        (pl.col("event") == "ADD").sum().cast(pl.UInt32).alias("adds"),
        (pl.col("event") == "REMOVE").sum().cast(pl.UInt32).alias("removes"),
        (pl.col("event") == "UPDATE").sum().cast(pl.UInt32).alias("updates"),
    )
    writer.write_part(
        "cells", cells.select(schema.CELLS.names()).cast(dict(schema.CELLS))
    )


def flag_over_capacity(usage: pl.DataFrame, cell_events: pl.LazyFrame) -> pl.DataFrame:
    """Add ``over_capacity``: usage above the capacity the machine had at the start.

    Such measurements are real (the trace normalizes capacity, and usage may exceed
    it); they are kept as they are and flagged, never clipped. The flag is null when
    the machine's capacity at that time is unknown.
    """
    capacity = (
        cell_events.filter(pl.col("event") != "REMOVE")
        .select(
            pl.col("cell_id"),
            pl.col("time_us").fill_null(0).alias("_since"),
            pl.col("cpu_capacity").alias("_cpu"),
            pl.col("memory_capacity").alias("_memory"),
        )
        .sort("_since")
        .collect()
    )
    flagged = (
        usage.with_row_index("_row")
        .sort("start_time_us")
        .join_asof(
            capacity,
            left_on="start_time_us",
            right_on="_since",
            by="cell_id",
            strategy="backward",
            check_sortedness=False,
        )
        .sort("_row")
    )
    over = (pl.col("cpu_usage") > pl.col("_cpu")) | (
        pl.col("memory_usage") > pl.col("_memory")
    )
    return (
        flagged.with_columns(over.alias("over_capacity"))
        .select(schema.USAGE.names())
        .cast(dict(schema.USAGE))
    )


def window(writer: StoreWriter) -> dict[str, int] | None:
    """Return the trace window: first and last in-window time of the transitions."""
    bounds = (
        writer.scan("transitions")
        .select(
            pl.col("time_us").min().alias("start"), pl.col("time_us").max().alias("end")
        )
        .collect()
        .row(0, named=True)
    )
    if bounds["start"] is None:
        logger.warning(
            "%s: the trace has no process events in its window; the store contains "
            "machines only, and nothing can be replayed",
            writer.path,
        )
        return None
    return {"start": int(bounds["start"]), "end": int(bounds["end"])}


def derive_all(
    writer: StoreWriter, *, band: BandMapping, progress: bool = False
) -> None:
    """Derive processes, groups and cells and record window and anomalies."""
    anomalies = derive_processes(writer, band, progress=progress)
    anomalies.update(derive_groups(writer))
    derive_cells(writer)
    writer.manifest["window_us"] = window(writer)
    writer.manifest["anomalies"] = anomalies
    for name, count in anomalies.items():
        if count:
            logger.info("lifecycle anomaly %s: %d", name, count)
