"""First-order impact of a failure scenario, with the observed placement kept.

Every attempt stays on the machine and at the times the trace observed. A REMOVE of
the scenario kills the attempts running on its machine at that instant, and the
work they did since their start (requested CPU times run time) is lost. Nothing is
rescheduled, so the figures are the direct damage of the removals, before any
recovery: killed attempts (each a resubmission for the scheduler under a
restart-at-once supervisor), lost work and capacity down. The replay adds
rescheduling, delays and supervision on top of this.

The scenario's availability, MTBF and MTTR cover the whole observation window of
the machines; the damage to processes only the task window.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.analysis.faults import mean_times
from muosm_perf.analysis.outages import (
    ObservationWindow,
    cell_intervals,
    machine_summary,
    removal_times,
)
from muosm_perf.errors import ParameterError
from muosm_perf.model.store import TraceStore
from muosm_perf.whatif.fault_scenarios import fail_fault_cell, scale_failure_rate

logger = logging.getLogger(__name__)


def killed_attempts(
    processes: pl.DataFrame, removals: pl.DataFrame, window_start_us: int
) -> pl.DataFrame:
    """Find the attempts that a set of removals kills under the observed placement.

    An attempt is killed by the first REMOVE of its machine at or after its start
    and before its end (or at any later time if it was still running at the window
    end). Attempts with no machine, or never scheduled, are not killed.

    Parameters
    ----------
    processes
        The store's ``processes`` table.
    removals
        Removal instants with ``time_us`` and ``cell_id``.
    window_start_us
        Start of the task window; attempts scheduled before it count from it.

    Returns
    -------
    polars.DataFrame
        One row per killed attempt: ``group_id``, ``process_index``, ``attempt``,
        ``cell_id``, ``killed_us``, ``run_s`` (from the start, or the window start,
        to the kill) and ``cpu_core_s`` (``run_s`` times the requested CPU).
    """
    start = (
        pl.when(pl.col("schedule_before_window"))
        .then(pl.lit(window_start_us, dtype=pl.Int64))
        .otherwise(pl.col("schedule_time_us"))
    )
    placed = processes.filter(pl.col("cell_id").is_not_null()).with_columns(
        start.alias("_start")
    )
    placed = placed.filter(pl.col("_start").is_not_null())
    instants = removals.select("cell_id", pl.col("time_us").alias("killed_us")).sort(
        "killed_us"
    )
    # The first REMOVE at or after the start: a forward as-of join per machine.
    joined = placed.sort("_start").join_asof(
        instants,
        left_on="_start",
        right_on="killed_us",
        by="cell_id",
        strategy="forward",
        check_sortedness=False,
    )
    running = pl.col("end_after_window") | pl.col("end_time_us").is_null()
    killed = joined.filter(
        pl.col("killed_us").is_not_null()
        & (running | (pl.col("killed_us") <= pl.col("end_time_us")))
    )
    run_s = (pl.col("killed_us") - pl.col("_start")) / 1e6
    return killed.select(
        "group_id",
        "process_index",
        "attempt",
        "cell_id",
        "killed_us",
        run_s.alias("run_s"),
        (run_s * pl.col("cpu_request").fill_null(0.0)).alias("cpu_core_s"),
    ).sort("group_id", "process_index", "attempt")


def _machine_figures(
    cell_events: pl.DataFrame, cells: pl.DataFrame, window: ObservationWindow
) -> tuple[dict[str, Any], pl.DataFrame]:
    intervals = cell_intervals(cell_events, cells, window)
    figures = mean_times(machine_summary(intervals, window))
    return figures, removal_times(intervals)


def _damage(
    processes: pl.DataFrame,
    removals: pl.DataFrame,
    task_window: dict[str, int],
) -> dict[str, Any]:
    inside = removals.filter(
        pl.col("time_us").is_between(task_window["start"], task_window["end"])
    )
    killed = killed_attempts(processes, inside, task_window["start"])
    hours = (task_window["end"] - task_window["start"]) / 3.6e9
    return {
        "removals_in_task_window": inside.height,
        "killed_attempts": killed.height,
        "resubmissions_per_hour": killed.height / hours if hours > 0 else None,
        "lost_cpu_core_s": float(killed["cpu_core_s"].sum()),
    }


def static_impact(
    processes: pl.DataFrame,
    cells: pl.DataFrame,
    observed_events: pl.DataFrame,
    scenario_events: pl.DataFrame,
    window: ObservationWindow,
    task_window: dict[str, int],
) -> dict[str, Any]:
    """Compare a failure scenario with the observed history, placement kept.

    Parameters
    ----------
    processes, cells
        The store's tables.
    observed_events, scenario_events
        ``cell_events`` as observed and as rewritten by a scenario of
        :mod:`muosm_perf.whatif.fault_scenarios`.
    window
        Observation window of the machines.
    task_window
        ``{"start": ..., "end": ...}`` of the process events (microseconds).

    Returns
    -------
    dict
        ``baseline`` and ``scenario``, each with ``availability``, ``mtbf_s``,
        ``mttr_s``, ``removals``, ``removals_in_task_window``,
        ``killed_attempts``, ``resubmissions_per_hour`` and ``lost_cpu_core_s``
        (core-seconds, cores normalized to the largest machine), and ``change``
        (scenario minus baseline for each number).
    """
    result: dict[str, Any] = {}
    for name, events in (("baseline", observed_events), ("scenario", scenario_events)):
        figures, removals = _machine_figures(events, cells, window)
        result[name] = {
            "availability": figures["availability"],
            "mtbf_s": figures["mtbf"]["mean_s"],
            "mttr_s": figures["mttr"]["mean_s"],
            "removals": figures["removals"],
            **_damage(processes, removals, task_window),
        }
    result["change"] = {
        key: None
        if result["baseline"][key] is None or result["scenario"][key] is None
        else result["scenario"][key] - result["baseline"][key]
        for key in result["baseline"]
    }
    return result


def scenario_events(
    store: TraceStore,
    window: ObservationWindow,
    *,
    failure_rate_factor: float | None = None,
    fail_level: str | None = None,
    fail_key: str | None = None,
    fail_at_us: int | None = None,
    fail_duration_s: float | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """Build the ``cell_events`` of a scenario: a scaled rate, a failed cell, or both.

    The failure rate is scaled first; the fault cell then fails on top of it.

    Raises
    ------
    ParameterError
        If neither a factor nor a fault cell is given, or a fault cell without
        its time.
    """
    if failure_rate_factor is None and fail_level is None:
        raise ParameterError(
            "no scenario given: pass failure_rate_factor, or fail_level with fail_at_us"
        )
    if fail_level is not None and fail_at_us is None:
        raise ParameterError(
            f"fail_at_us is missing: when should {fail_level} {fail_key!r} fail?"
        )
    events = store.read("cell_events")
    cells = store.read("cells")
    if failure_rate_factor is not None:
        events = scale_failure_rate(
            events,
            cells,
            window,
            failure_rate_factor,
            rng=np.random.default_rng(seed),
        )
    if fail_level is not None:
        events = fail_fault_cell(
            events,
            cells,
            window,
            level=fail_level,
            key=fail_key,
            at_us=fail_at_us,
            duration_s=fail_duration_s,
        )
    return events


def evaluate_scenario(
    store: TraceStore, events: pl.DataFrame, window: ObservationWindow
) -> dict[str, Any]:
    """Return :func:`static_impact` of scenario ``events`` against the store.

    Raises
    ------
    ParameterError
        If the store has no task window (no process events).
    """
    task_window = store.manifest.get("window_us")
    if task_window is None:
        raise ParameterError(
            f"{store.path} has no process events, so the impact on processes is "
            "unknown; ingest a trace with task events"
        )
    return static_impact(
        store.read("processes"),
        store.read("cells"),
        store.read("cell_events"),
        events,
        window,
        task_window,
    )
