"""The scheduler view of a store: delay per band, queue length and utilization.

The queue contains the attempts that were submitted and not yet placed. An attempt
is pending from its SUBMIT (the window start if it was submitted before the window)
until its SCHEDULE. If it ended while pending, it is pending until its end, and if
it was still pending at the window end, until then. Attempts whose submit or
schedule instant the trace does not record are left out and counted, never taken
as pending for 0 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from muosm_perf.analysis.characterize import (
    delay_by_band,
    distribution_summary,
    occupancy,
    scheduling_delays,
)
from muosm_perf.model.store import TraceStore


def pending_intervals(
    processes: pl.DataFrame, window_start_us: int
) -> tuple[pl.DataFrame, int]:
    """Return the pending interval of every attempt, and how many are unknown.

    Returns
    -------
    tuple of (polars.DataFrame, int)
        ``start_us`` and ``end_us`` (null: still pending at the window end), and
        the number of attempts left out because an instant is unknown.
    """
    start = (
        pl.when(pl.col("submit_before_window"))
        .then(pl.lit(window_start_us))
        .otherwise(pl.col("submit_time_us"))
    )
    ended_pending = (
        pl.col("schedule_time_us").is_null()
        & ~pl.col("schedule_before_window")
        & pl.col("end_state").is_not_null()
        & pl.col("end_time_us").is_not_null()
        & pl.col("run_time_us").is_null()
    )
    still_pending = (
        pl.col("schedule_time_us").is_null()
        & ~pl.col("schedule_before_window")
        & pl.col("end_state").is_null()
        & pl.col("end_after_window")
    )
    end = (
        pl.when(pl.col("schedule_time_us").is_not_null())
        .then(pl.col("schedule_time_us"))
        .when(ended_pending)
        .then(pl.col("end_time_us"))
    )
    known = start.is_not_null() & (
        pl.col("schedule_time_us").is_not_null() | ended_pending | still_pending
    )
    relevant = processes.filter(~pl.col("schedule_before_window"))
    intervals = relevant.filter(known).select(
        start.alias("start_us"), end.alias("end_us")
    )
    return intervals, relevant.height - intervals.height


def open_intervals(
    starts_us: np.ndarray,
    ends_us: np.ndarray,
    window_start_us: int,
    window_end_us: int,
    weights: np.ndarray | None = None,
) -> tuple[float | None, float | None]:
    """Return the time average and the maximum of the weight of open intervals.

    Intervals are half-open, ``[start, end)``; an end of NaN (or an end past the
    window) is open until the window end. The average is exact: the integral over
    the window of the summed weights of the open intervals, divided by the
    window's length. With no weights every interval weighs 1 (a count).

    Returns
    -------
    tuple of (float or None, float or None)
        None for both when there is no interval or the window is empty.
    """
    starts = np.asarray(starts_us, dtype=np.float64)
    ends = np.asarray(ends_us, dtype=np.float64)
    ends = np.where(np.isnan(ends), window_end_us, ends)
    weight = np.ones_like(starts) if weights is None else np.asarray(weights, float)
    span = window_end_us - window_start_us
    if starts.size == 0 or span <= 0:
        return None, None
    overlap = np.clip(
        np.minimum(ends, window_end_us) - np.maximum(starts, window_start_us), 0, None
    )
    average = float((weight * overlap).sum() / span)

    # Sweep: at equal times an interval ends before another starts ([s, e)).
    times = np.concatenate([starts, ends])
    changes = np.concatenate([weight, -weight])
    order = np.lexsort((changes, times))
    level = np.cumsum(changes[order])
    return average, float(level.max())


def average_load(
    starts_us: np.ndarray,
    ends_us: np.ndarray,
    weights: np.ndarray,
    edges_us: np.ndarray,
) -> np.ndarray:
    """Return the time-averaged weight of open intervals in each bin of ``edges``.

    Intervals are ``[start, end)``. The average over a bin is exact: the integral
    of the summed weights of the open intervals over the bin, divided by its
    width. The integral up to ``t`` is ``sum(w * (t - start))`` over started
    intervals minus ``sum(w * (t - end))`` over ended ones, computed from sorted
    running sums.
    """
    starts = np.asarray(starts_us, dtype=np.float64)
    ends = np.asarray(ends_us, dtype=np.float64)
    weight = np.asarray(weights, dtype=np.float64)
    edges = np.asarray(edges_us, dtype=np.float64)

    def integral_of(times: np.ndarray) -> np.ndarray:
        order = np.argsort(times, kind="stable")
        sorted_times = times[order]
        total = np.concatenate(([0.0], np.cumsum(weight[order])))
        moments = np.concatenate(([0.0], np.cumsum(weight[order] * sorted_times)))
        count = np.searchsorted(sorted_times, edges, side="right")
        return edges * total[count] - moments[count]

    cumulative = integral_of(starts) - integral_of(ends)
    widths = np.diff(edges)
    return np.diff(cumulative) / np.where(widths > 0, widths, np.nan)


def instants_known_share(processes: pl.DataFrame) -> float | None:
    """Return the share of attempts that ran whose SCHEDULE instant is known.

    An attempt ran when its schedule instant or its run time is known; the share
    is None when no attempt ran. Utilization is only observable where it is 1.
    """
    placed = pl.col("schedule_time_us").is_not_null() | pl.col("schedule_before_window")
    ran = processes.filter(placed | pl.col("run_time_us").is_not_null())
    if ran.height == 0:
        return None
    return float(ran.select(placed.mean()).item())


def scheduler_summary(store: TraceStore) -> dict[str, Any]:
    """Summarize the scheduler of a store.

    Returns
    -------
    dict
        ``delay_s`` (band → ``n``, ``mean``, ``p50``, ``p90``, ``p99``, and
        ``all`` bands together), ``queue`` (``mean``, ``max`` and the attempts left
        out; the mean is exact over the window), ``utilization`` (time-averaged
        CPU and memory utilization of the
        requests of running attempts, None where schedule instants are unknown)
        and ``instants_known_share``.
    """
    processes = store.read("processes")
    delays = scheduling_delays(processes)
    by_band = delay_by_band(delays)
    by_band["all"] = distribution_summary(delays["delay_s"].to_numpy())
    result: dict[str, Any] = {
        "delay_s": by_band,
        "queue": {"mean": None, "max": None, "attempts_unknown": None},
        "utilization": {"cpu": None, "memory": None},
        "instants_known_share": instants_known_share(processes),
    }
    window = store.manifest.get("window_us")
    if window is None:
        return result
    intervals, unknown = pending_intervals(processes, window["start"])
    mean, peak = open_intervals(
        intervals["start_us"].to_numpy(),
        intervals["end_us"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        window["start"],
        window["end"],
    )
    result["queue"] = {
        "mean": mean,
        "max": None if peak is None else int(peak),
        "attempts_unknown": unknown,
    }
    if result["instants_known_share"]:
        series = occupancy(store)
        result["utilization"] = {
            "cpu": series["cpu_utilization"].mean(),
            "memory": series["memory_utilization"].mean(),
        }
    return result
