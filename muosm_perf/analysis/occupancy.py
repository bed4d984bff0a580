"""Running processes, requested resources and alive capacity over time.

The series are sampled on a time grid: the value at grid time ``g`` is the state after
every event at or before ``g``. An attempt runs from its SCHEDULE (the window start if
it was scheduled before the window) to its end (past the window end if it had not
ended). Utilization is the requested CPU (or memory) of running attempts divided by
the capacity of the machines alive at that time, both in the trace's normalized
units; machines whose capacity the trace does not give add nothing to the capacity
and are counted apart.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError

MAX_GRID_POINTS = 2000
"""Most points :func:`default_grid` returns, so figures stay light."""


def default_grid(
    start_us: int, end_us: int, *, step_s: float | None = None
) -> np.ndarray:
    """Return grid times (int64 µs) covering ``[start_us, end_us]``.

    Parameters
    ----------
    start_us, end_us
        Window bounds in microseconds.
    step_s
        Grid step in seconds; by default the smallest whole minute that keeps the
        grid under :data:`MAX_GRID_POINTS` points.
    """
    if end_us < start_us:
        raise ParameterError(
            f"window end {end_us} µs is before its start {start_us} µs"
        )
    if step_s is None:
        span_min = (end_us - start_us) / 60e6
        step_s = 60.0 * max(1, math.ceil(span_min / (MAX_GRID_POINTS - 1)))
    if step_s <= 0:
        raise ParameterError(f"grid step must be positive, got {step_s} s")
    step_us = round(step_s * 1e6)
    return np.arange(start_us, end_us + 1, step_us, dtype=np.int64)


def running_intervals(processes: pl.DataFrame, window_start_us: int) -> pl.DataFrame:
    """Return the running interval of every attempt that ran, in microseconds.

    ``end_us`` is null for attempts still running at the end of the window. Attempts
    that were never scheduled, or whose end was not recorded although the trace went
    on (a lifecycle anomaly), are left out.
    """
    return (
        processes.filter(
            pl.col("schedule_time_us").is_not_null() | pl.col("schedule_before_window")
        )
        .select(
            pl.col("schedule_time_us").fill_null(window_start_us).alias("start_us"),
            pl.col("end_time_us").alias("end_us"),
            pl.col("end_after_window"),
            pl.col("cpu_request").fill_null(0.0),
            pl.col("memory_request").fill_null(0.0),
            pl.col("band"),
        )
        .filter(pl.col("end_us").is_not_null() | pl.col("end_after_window"))
    )


def _count_at(times: np.ndarray, grid: np.ndarray, weights: np.ndarray | None):
    order = np.argsort(times, kind="stable")
    sorted_times = times[order]
    positions = np.searchsorted(sorted_times, grid, side="right")
    if weights is None:
        return positions.astype(np.int64)
    cumulative = np.concatenate(([0.0], np.cumsum(weights[order])))
    return cumulative[positions]


def _running(intervals: pl.DataFrame, grid: np.ndarray) -> dict[str, np.ndarray]:
    starts = intervals["start_us"].to_numpy()
    ended = intervals.filter(pl.col("end_us").is_not_null())
    ends = ended["end_us"].to_numpy()
    result = {"running": _count_at(starts, grid, None) - _count_at(ends, grid, None)}
    for column, name in (
        ("cpu_request", "cpu_requested"),
        ("memory_request", "memory_requested"),
    ):
        begun = _count_at(starts, grid, intervals[column].to_numpy())
        finished = _count_at(ends, grid, ended[column].to_numpy())
        # Clamp the rounding residue of the difference of two running sums.
        result[name] = np.maximum(begun - finished, 0.0)
    return result


def capacity_series(
    cell_events: pl.DataFrame, grid: np.ndarray, window_start_us: int
) -> dict[str, np.ndarray]:
    """Return alive machines and their CPU and memory capacity at each grid time.

    An ADD or UPDATE sets a machine's capacity, a REMOVE takes it away. Events before
    the window count from the window start.
    """
    if cell_events.height == 0:
        zeros = np.zeros(grid.shape[0])
        return {
            "alive": zeros.astype(np.int64),
            "unknown_capacity": zeros.astype(np.int64),
            "cpu_capacity": zeros,
            "memory_capacity": zeros,
        }
    alive = pl.col("event") != "REMOVE"
    contributions = (
        cell_events.with_columns(
            pl.when(pl.col("before_window"))
            .then(pl.lit(window_start_us))
            .otherwise(pl.col("time_us"))
            .alias("_t")
        )
        .filter(pl.col("_t").is_not_null())
        .sort("_t", "source_file", "source_line", maintain_order=True)
        .with_columns(
            alive.cast(pl.Int64).alias("_alive"),
            (alive & pl.col("cpu_capacity").is_null()).cast(pl.Int64).alias("_unknown"),
            pl.when(alive).then(pl.col("cpu_capacity")).fill_null(0.0).alias("_cpu"),
            pl.when(alive)
            .then(pl.col("memory_capacity"))
            .fill_null(0.0)
            .alias("_memory"),
        )
        .with_columns(
            (pl.col(c) - pl.col(c).shift(1, fill_value=0).over("cell_id")).alias(
                c + "_delta"
            )
            for c in ("_alive", "_unknown", "_cpu", "_memory")
        )
    )
    times = contributions["_t"].to_numpy()
    result = {}
    for column, name in (
        ("_alive_delta", "alive"),
        ("_unknown_delta", "unknown_capacity"),
        ("_cpu_delta", "cpu_capacity"),
        ("_memory_delta", "memory_capacity"),
    ):
        values = _count_at(times, grid, contributions[column].to_numpy().astype(float))
        result[name] = values
    result["alive"] = np.rint(result["alive"]).astype(np.int64)
    result["unknown_capacity"] = np.rint(result["unknown_capacity"]).astype(np.int64)
    return result


def occupancy_series(
    processes: pl.DataFrame,
    cell_events: pl.DataFrame,
    grid_us: np.ndarray,
    window_start_us: int,
) -> pl.DataFrame:
    """Sample running attempts, requested resources and capacity on a grid.

    Parameters
    ----------
    processes
        The store's ``processes`` table (or a subset of its rows).
    cell_events
        The store's ``cell_events`` table.
    grid_us
        Sample times in microseconds, increasing.
    window_start_us
        Start of the trace window; events before the window count from here.

    Returns
    -------
    polars.DataFrame
        ``time_us``, ``running``, ``cpu_requested``, ``memory_requested``,
        ``alive``, ``unknown_capacity``, ``cpu_capacity``, ``memory_capacity``,
        ``cpu_utilization`` and ``memory_utilization`` (fractions, null where the
        capacity is 0).
    """
    grid = np.asarray(grid_us, dtype=np.int64)
    intervals = running_intervals(processes, window_start_us)
    running = _running(intervals, grid)
    capacity = capacity_series(cell_events, grid, window_start_us)
    frame = pl.DataFrame({"time_us": grid, **running, **capacity})
    return frame.with_columns(
        (pl.col("cpu_requested") / pl.col("cpu_capacity"))
        .fill_nan(None)
        .alias("cpu_utilization"),
        (pl.col("memory_requested") / pl.col("memory_capacity"))
        .fill_nan(None)
        .alias("memory_utilization"),
    ).with_columns(
        pl.when(pl.col("cpu_capacity") > 0).then(pl.col("cpu_utilization")),
        pl.when(pl.col("memory_capacity") > 0).then(pl.col("memory_utilization")),
    )
