"""Trace characterization: what a store holds, in μ-OSM terms.

Counts of events, processes, attempts, groups and cells; scheduling delay per
priority band; outcomes per band; machine churn. Every figure comes from the
canonical tables, so two stores of different formats are characterized alike.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.analysis.occupancy import default_grid, occupancy_series
from muosm_perf.model.lifecycle import BAND_LABELS, EVENT_NAMES
from muosm_perf.model.store import TraceStore

logger = logging.getLogger(__name__)

PERCENTILES = (50, 90, 99)
"""Percentiles of every reported distribution (linear interpolation, NumPy's default
method, between order statistics)."""


def distribution_summary(values: np.ndarray) -> dict[str, float | int | None]:
    """Return ``n``, ``mean`` and the :data:`PERCENTILES` of a sample.

    The statistics are null (None) for an empty sample, never 0 or NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    summary: dict[str, float | int | None] = {"n": int(values.size)}
    if values.size == 0:
        summary["mean"] = None
        summary.update({f"p{q}": None for q in PERCENTILES})
        return summary
    summary["mean"] = float(values.mean())
    for q, value in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        summary[f"p{q}"] = float(value)
    return summary


def scheduling_delays(processes: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Return the observed scheduling delay (seconds) of each attempt with a band.

    The delay of an attempt is the time from its SUBMIT to its SCHEDULE. Attempts
    whose SUBMIT was before the window, or that were never scheduled inside it, have
    no delay and are left out.
    """
    return (
        processes.lazy()
        .filter(pl.col("scheduling_delay_us").is_not_null())
        .select(
            pl.col("band"),
            (pl.col("scheduling_delay_us") / 1e6).alias("delay_s"),
        )
        .collect()
    )


def delay_by_band(delays: pl.DataFrame) -> dict[str, dict[str, float | int | None]]:
    """Summarize delays (a frame with ``band`` and ``delay_s``) per band.

    The keys are the bands ``free``, ``middle`` and ``production``, always present.
    ``monitoring``, and ``unbanded`` for attempts without a priority (SWF and
    Alibaba traces have none), are present when they have delays. ``all`` pools
    every attempt with a delay, whatever its band.
    """
    result = {}
    for band in BAND_LABELS:
        sample = delays.filter(pl.col("band") == band)["delay_s"].to_numpy()
        if sample.size or band != "monitoring":
            result[band] = distribution_summary(sample)
    unbanded = delays.filter(pl.col("band").is_null())["delay_s"].to_numpy()
    if unbanded.size:
        result["unbanded"] = distribution_summary(unbanded)
    result["all"] = distribution_summary(delays["delay_s"].to_numpy())
    return result


def outcomes_by_band(processes: pl.LazyFrame) -> dict[str, dict[str, int]]:
    """Count attempt outcomes per band: end states, still running, end unknown."""
    outcome = (
        pl.when(pl.col("end_state").is_not_null() & ~pl.col("end_after_window"))
        .then(pl.col("end_state").cast(pl.String))
        .when(pl.col("end_after_window"))
        .then(pl.lit("running_at_end"))
        .otherwise(pl.lit("end_unknown"))
    )
    counts = (
        processes.select(pl.col("band").cast(pl.String), outcome.alias("outcome"))
        .group_by("band", "outcome")
        .len()
        .collect()
    )
    result: dict[str, dict[str, int]] = {}
    for row in counts.sort("band", "outcome").iter_rows(named=True):
        band = row["band"] or "unknown"
        result.setdefault(band, {})[row["outcome"]] = int(row["len"])
    return result


def machine_churn(cells: pl.LazyFrame) -> dict[str, Any]:
    """Return the number of machines and the share removed at least once."""
    row = (
        cells.select(
            pl.len().alias("machines"),
            (pl.col("removes") > 0).sum().alias("removed"),
            pl.col("cpu_capacity").is_null().sum().alias("unknown_capacity"),
        )
        .collect()
        .row(0, named=True)
    )
    machines = int(row["machines"])
    removed = int(row["removed"])
    return {
        "machines": machines,
        "machines_removed": removed,
        "machines_removed_share": removed / machines if machines else None,
        "machines_unknown_capacity": int(row["unknown_capacity"]),
    }


def characterize(store: TraceStore) -> dict[str, Any]:
    """Characterize a trace store.

    Returns
    -------
    dict
        JSON-serializable: ``events_by_type`` (canonical event → count),
        ``processes`` (distinct processes), ``attempts``, ``groups`` (distinct
        group IDs), ``cells`` (distinct machines), ``scheduling_delay_s`` (band →
        ``n``, ``mean``, ``p50``, ``p90``, ``p99``, seconds), ``outcomes_by_band``,
        ``churn``, ``occupancy`` (running attempts and requested utilization:
        time averages and the series itself, utilization as a fraction of the
        alive capacity),
        ``fault_cells`` (:func:`muosm_perf.analysis.faults.fault_cell_summary`),
        ``window_s``, ``rows_quarantined`` and ``anomalies``.
    """
    transitions = store.scan("transitions")
    processes = store.scan("processes")

    event_counts = transitions.group_by("event").len().collect()
    by_type = {name: 0 for name in EVENT_NAMES}
    for row in event_counts.iter_rows(named=True):
        by_type[str(row["event"])] = int(row["len"])
    by_type = {name: count for name, count in by_type.items() if count}

    counts = processes.select(
        pl.struct("group_id", "process_index").n_unique().alias("processes"),
        pl.len().alias("attempts"),
    ).collect()
    groups = store.scan("groups").select(pl.col("group_id").n_unique()).collect().item()
    churn = machine_churn(store.scan("cells"))

    window = store.manifest.get("window_us")
    result: dict[str, Any] = {
        "source_format": store.source_format,
        "window_s": None
        if window is None
        else {"start": window["start"] / 1e6, "end": window["end"] / 1e6},
        "events_by_type": by_type,
        "processes": int(counts["processes"].item()),
        "attempts": int(counts["attempts"].item()),
        "groups": int(groups),
        "cells": churn["machines"],
        "scheduling_delay_s": delay_by_band(scheduling_delays(processes)),
        "outcomes_by_band": outcomes_by_band(processes),
        "churn": churn,
        "fault_cells": _fault_cells(store),
        "rows_quarantined": store.scan("quarantine").select(pl.len()).collect().item(),
        "anomalies": store.manifest.get("anomalies", {}),
    }
    if window is not None:
        series = occupancy(store)
        result["occupancy"] = {
            "grid_step_s": float(np.diff(series["time_us"].to_numpy()[:2] / 1e6)[0])
            if series.height > 1
            else None,
            "mean_running": float(series["running"].mean()),
            "max_running": int(series["running"].max()),
            "mean_cpu_utilization": series["cpu_utilization"].mean(),
            "mean_memory_utilization": series["memory_utilization"].mean(),
            "series": {
                "time_s": (series["time_us"] / 1e6).to_list(),
                "running": series["running"].to_list(),
                "alive_machines": series["alive"].to_list(),
                "cpu_utilization": series["cpu_utilization"].to_list(),
                "memory_utilization": series["memory_utilization"].to_list(),
            },
        }
    return result


def _fault_cells(store: TraceStore) -> dict[str, Any] | None:
    # Imported here because the fault analysis reuses distribution_summary above.
    from muosm_perf.analysis.faults import fault_cell_summary  # noqa: PLC0415

    if store.scan("cell_events").select(pl.len()).collect().item() == 0:
        return None
    return fault_cell_summary(store)


def occupancy(store: TraceStore, *, step_s: float | None = None) -> pl.DataFrame:
    """Return the observed occupancy series of a store over its window.

    See :func:`muosm_perf.analysis.occupancy.occupancy_series` for the columns.
    """
    window = store.manifest["window_us"]
    grid = default_grid(window["start"], window["end"], step_s=step_s)
    processes = store.read(
        "processes",
        [
            "schedule_time_us",
            "schedule_before_window",
            "end_time_us",
            "end_after_window",
            "cpu_request",
            "memory_request",
            "band",
        ],
    )
    return occupancy_series(processes, store.read("cell_events"), grid, window["start"])
