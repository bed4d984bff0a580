"""Failure history of fault cells: MTBF, MTTR, survival, fits, bursts and causes.

A fault cell is the boundary inside which a failure is contained. The levels are the
machine, the failure domain above it where the trace has one (``domain``: the switch
in Google v3), the platform (machines of one microarchitecture) and the whole cell.
Every REMOVE of a machine counts as a failure and the following ADD as its repair.

Mean times use the exposure estimator: time at risk divided by the number of events,
with censored spans counted as time at risk. The up time of a machine before its
first REMOVE therefore counts toward the MTBF even though its start is unknown, and
so does the up time after its last ADD. A machine still down at the end adds its
downtime to the MTTR's exposure without a repair. Two intervals are given: the
chi-square interval (exponential times) and a bootstrap over machines (no
distributional assumption). See ``docs/fault-cells.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.analysis import bursts as bursts_module
from muosm_perf.analysis.censored_fits import fit_censored_durations
from muosm_perf.analysis.characterize import distribution_summary, machine_churn
from muosm_perf.analysis.failure_causes import DEFAULT_TOLERANCE_S, cause_summary
from muosm_perf.analysis.outages import (
    ObservationWindow,
    cell_intervals,
    machine_summary,
    observation_window,
    removal_times,
)
from muosm_perf.analysis.survival import (
    SurvivalCurve,
    kaplan_meier,
    mean_time_bootstrap,
    mean_time_chi_square,
)
from muosm_perf.errors import ParameterError
from muosm_perf.fitting import fit_durations
from muosm_perf.model.store import TraceStore

logger = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP_SAMPLES = 1000
"""Bootstrap draws over machines for the MTBF and MTTR intervals."""

MIN_ALL_FAMILIES = 10
"""Fewest uncensored durations for which every family of the generic fitting is
fitted."""

DURATION_SAMPLES = (
    "uptime",
    "downtime",
    "machine_time_between_removals",
    "cell_time_between_removals",
)
"""Duration samples described by :func:`duration_samples`."""


@dataclass(frozen=True)
class FaultHistory:
    """Up and down intervals of every machine of a store, and derived tables.

    Attributes
    ----------
    window
        Observation window of the fault cells.
    intervals
        One row per up or down interval (:data:`outages.INTERVALS`).
    machines
        One row per machine (:func:`outages.machine_summary`).
    removals
        REMOVE instants inside the window (:func:`outages.removal_times`).
    levels
        Group columns with data: ``platform``, and ``domain`` where the trace has
        failure domains.
    """

    window: ObservationWindow
    intervals: pl.DataFrame
    machines: pl.DataFrame
    removals: pl.DataFrame
    levels: tuple[str, ...]


def load_fault_history(
    store: TraceStore, *, start_us: int | None = None, end_us: int | None = None
) -> FaultHistory:
    """Build the fault history of a store over its observation window.

    ``start_us`` and ``end_us`` override the window (see
    :func:`outages.observation_window`).
    """
    window = observation_window(store, start_us=start_us, end_us=end_us)
    cells = store.read("cells")
    intervals = cell_intervals(store.read("cell_events"), cells, window)
    machines = machine_summary(intervals, window)
    levels = tuple(
        column
        for column in ("platform", "domain")
        if machines.height and machines[column].null_count() < machines.height
    )
    return FaultHistory(window, intervals, machines, removal_times(intervals), levels)


def mean_times(
    machines: pl.DataFrame,
    *,
    confidence: float = 0.95,
    bootstrap_samples: int = 0,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """Estimate MTBF, MTTR and availability over a set of machines.

    Parameters
    ----------
    machines
        Rows of :func:`outages.machine_summary`.
    confidence
        Level of the intervals.
    bootstrap_samples
        Draws of the bootstrap over machines; 0 gives the chi-square interval only.
    rng
        Random generator; required when ``bootstrap_samples`` > 0.

    Returns
    -------
    dict
        ``machines``, ``machines_removed``, ``machines_removed_share``,
        ``removals``, ``repairs``, ``machines_down_at_end``, ``mtbf`` and
        ``mttr`` (each a :meth:`MeanTimeEstimate.as_dict`, plus ``bootstrap``
        when computed), ``availability`` (up time over observed time).
    """
    up_s = machines["up_s"].to_numpy()
    down_s = machines["down_s"].to_numpy()
    repair_s = machines["repair_exposure_s"].to_numpy()
    removals = machines["removals"].to_numpy().astype(np.int64)
    repairs = machines["repairs"].to_numpy().astype(np.int64)
    count = machines.height
    removed = int((removals > 0).sum())
    mtbf = mean_time_chi_square(
        float(up_s.sum()), int(removals.sum()), confidence=confidence
    ).as_dict()
    mttr = mean_time_chi_square(
        float(repair_s.sum()), int(repairs.sum()), confidence=confidence
    ).as_dict()
    if bootstrap_samples and rng is not None:
        for target, exposure, events in (
            (mtbf, up_s, removals),
            (mttr, repair_s, repairs),
        ):
            drawn = mean_time_bootstrap(
                exposure,
                events,
                rng=rng,
                samples=bootstrap_samples,
                confidence=confidence,
            )
            target["bootstrap"] = {
                "ci_s": [drawn.lower_s, drawn.upper_s],
                "method": drawn.method,
            }
    observed = float(up_s.sum() + down_s.sum())
    return {
        "machines": count,
        "machines_removed": removed,
        "machines_removed_share": removed / count if count else None,
        "removals": int(removals.sum()),
        "repairs": int(repairs.sum()),
        "machines_down_at_end": int(machines["down_at_end"].sum()),
        "mtbf": mtbf,
        "mttr": mttr,
        "availability": float(up_s.sum()) / observed if observed > 0 else None,
    }


def level_summaries(
    history: FaultHistory, column: str, *, confidence: float = 0.95
) -> list[dict[str, Any]]:
    """Return :func:`mean_times` (chi-square intervals) for each group of a level.

    Groups are sorted by number of machines, largest first; machines with a null
    group value form the group ``None``.
    """
    result = []
    groups = history.machines.partition_by(column, as_dict=True, maintain_order=True)
    for (key,), machines in groups.items():
        row = mean_times(machines, confidence=confidence)
        result.append({"key": key, **row})
    result.sort(key=lambda row: (-row["machines"], str(row["key"])))
    return result


def duration_samples(
    history: FaultHistory,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Return the duration samples of the fault history, with censoring.

    Each value is ``(durations_s, right_censored, censor_limits_s)``:

    ``uptime``
        ADD to the next REMOVE of a machine. Up intervals already going on at
        the window start are left out: their start is unknown, and the ones
        covering a fixed instant are longer than average (length bias).
    ``downtime``
        REMOVE to the next ADD of a machine.
    ``machine_time_between_removals``
        REMOVE to the next REMOVE of the same machine (repair and up time); the
        last REMOVE of a machine is censored at the window end.
    ``cell_time_between_removals``
        Gaps between consecutive removals anywhere in the cell; the gap after
        the last removal is censored at the window end.
    """
    intervals = history.intervals
    end_us = history.window.end_us

    def sample(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            frame["duration_s"].to_numpy(),
            frame["right_censored"].to_numpy(),
            frame["censor_limit_s"].to_numpy(),
        )

    up = intervals.filter((pl.col("state") == "up") & ~pl.col("left_censored"))
    down = intervals.filter((pl.col("state") == "down") & ~pl.col("left_censored"))

    per_machine = history.removals.sort("cell_id", "time_us").with_columns(
        pl.col("time_us").shift(-1).over("cell_id").alias("_next")
    )
    machine_gaps = per_machine.select(
        ((pl.col("_next").fill_null(end_us) - pl.col("time_us")) / 1e6).alias(
            "duration_s"
        ),
        pl.col("_next").is_null().alias("right_censored"),
        ((end_us - pl.col("time_us")) / 1e6).alias("censor_limit_s"),
    )
    times = history.removals["time_us"].to_numpy()
    following = np.append(times[1:], end_us)
    cell_gaps = pl.DataFrame(
        {
            "duration_s": (following - times) / 1e6,
            "right_censored": np.arange(times.size) == times.size - 1,
            "censor_limit_s": (end_us - times) / 1e6,
        }
    )
    return {
        "uptime": sample(up),
        "downtime": sample(down),
        "machine_time_between_removals": sample(machine_gaps),
        "cell_time_between_removals": sample(cell_gaps),
    }


def survival_curves(
    history: FaultHistory, state: str = "up", *, by: str | None = None
) -> dict[str, SurvivalCurve]:
    """Return Kaplan-Meier curves of up or down durations, overall or per group.

    Parameters
    ----------
    history
        The fault history.
    state
        ``up`` (time to failure) or ``down`` (time to repair).
    by
        A level column (``platform``, ``domain``) for one curve per group; None
        for one curve keyed ``all``.
    """
    chosen = history.intervals.filter(
        (pl.col("state") == state) & ~pl.col("left_censored")
    )
    if by is None:
        return {
            "all": kaplan_meier(
                chosen["duration_s"].to_numpy(), chosen["right_censored"].to_numpy()
            )
        }
    curves = {}
    for (key,), part in chosen.partition_by(by, as_dict=True).items():
        curves[str(key)] = kaplan_meier(
            part["duration_s"].to_numpy(), part["right_censored"].to_numpy()
        )
    return curves


def machines_down_series(history: FaultHistory, *, step_s: float) -> pl.DataFrame:
    """Return the number of machines down at each point of a regular time grid.

    Columns: ``time_us`` (grid point), ``machines_down`` (down intervals covering
    it) and ``removals`` (REMOVE events since the previous grid point).
    """
    start, end = history.window.start_us, history.window.end_us
    grid = np.arange(start, end + 1, int(step_s * 1e6), dtype=np.int64)
    down = history.intervals.filter(pl.col("state") == "down")
    starts = np.sort(down["start_us"].to_numpy())
    ends = np.sort(down["end_us"].to_numpy())
    began = np.searchsorted(starts, grid, side="right")
    # A right-censored interval ends at the window end and is still down there.
    ended = np.searchsorted(ends, grid, side="right")
    still_down_at_end = int(down["right_censored"].sum())
    ended[grid >= end] -= still_down_at_end
    removal_index = np.searchsorted(
        history.removals["time_us"].to_numpy(), grid, side="right"
    )
    return pl.DataFrame(
        {
            "time_us": grid,
            "machines_down": began - ended,
            "removals": np.diff(removal_index, prepend=0),
        }
    )


def fault_cell_summary(store: TraceStore, *, confidence: float = 0.95) -> dict:
    """Return the headline fault-cell figures of a store, for ``muosm analyze``.

    Returns
    -------
    dict
        ``machines``, ``machines_removed``, ``machines_removed_share``,
        ``removals``, ``mtbf_s``, ``mtbf_ci_s``, ``mttr_s``, ``mttr_ci_s``,
        ``ci_method`` (chi-square), ``availability`` and ``observation_s``.
    """
    history = load_fault_history(store)
    times = mean_times(history.machines, confidence=confidence)
    return {
        "machines": times["machines"],
        "machines_removed": times["machines_removed"],
        "machines_removed_share": times["machines_removed_share"],
        "removals": times["removals"],
        "mtbf_s": times["mtbf"]["mean_s"],
        "mtbf_ci_s": times["mtbf"]["ci_s"],
        "mttr_s": times["mttr"]["mean_s"],
        "mttr_ci_s": times["mttr"]["ci_s"],
        "ci_method": times["mtbf"]["method"],
        "availability": times["availability"],
        "observation_s": history.window.as_dict(),
    }


def analyze_faults(
    store: TraceStore,
    *,
    confidence: float = 0.95,
    bootstrap_samples: int = DEFAULT_BOOTSTRAP_SAMPLES,
    fit_bootstrap_samples: int = 0,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    burst_window_s: float = bursts_module.DEFAULT_WINDOW_S,
    min_burst_size: int = bursts_module.DEFAULT_MIN_SIZE,
    seed: int = 0,
    start_us: int | None = None,
    end_us: int | None = None,
) -> dict[str, Any]:
    """Analyze the fault cells of a store: history, distributions, bursts, causes.

    Parameters
    ----------
    store
        The trace store.
    confidence
        Level of every interval.
    bootstrap_samples
        Draws of the bootstrap over machines for MTBF and MTTR; 0 skips it.
    fit_bootstrap_samples
        Parametric-bootstrap draws for each fit's KS p-value; 0 skips them.
    tolerance_s
        Largest delay from a REMOVE to a process ending attributed to it.
    burst_window_s, min_burst_size
        Burst definition (see :mod:`muosm_perf.analysis.bursts`).
    seed
        Seed of every random draw; recorded in the result.
    start_us, end_us
        Override the observation window.

    Returns
    -------
    dict
        JSON-serializable: ``observation_s``, ``parameters``, ``overall``
        (:func:`mean_times`), ``levels`` (``platform`` and ``domain``: a list of
        groups; ``machine``: the spread of removals over machines; ``cell``),
        ``distributions`` (sample -> Kaplan-Meier median and 90th percentile,
        and ``fitted``: :meth:`FitComparison.as_dict`; the time between removals
        in the cell also has ``all_families``, every family of
        :func:`muosm_perf.fitting.fit_durations`), ``bursts``
        and ``process_outcomes`` (:func:`failure_causes.cause_summary`, over the
        task window only).
    """
    rng = np.random.default_rng(seed)
    history = load_fault_history(store, start_us=start_us, end_us=end_us)
    overall = mean_times(
        history.machines,
        confidence=confidence,
        bootstrap_samples=bootstrap_samples,
        rng=rng,
    )
    levels = {
        column: level_summaries(history, column, confidence=confidence)
        for column in history.levels
    }
    levels["machine"] = _machine_level(history)
    levels["cell"] = [_whole_cell(history)]

    distributions = {}
    for name, (durations, censored, limits) in duration_samples(history).items():
        curve = kaplan_meier(durations, censored, confidence=confidence)
        fits = fit_censored_durations(
            durations,
            censored,
            censor_limits_s=limits,
            bootstrap_samples=fit_bootstrap_samples,
            rng=rng,
        )
        distributions[name] = {
            "observations": curve.observations,
            "censored": curve.censored,
            "km_median_s": curve.quantile_s(0.5),
            "km_p90_s": curve.quantile_s(0.9),
            "fitted": fits.as_dict(),
        }
    distributions["cell_time_between_removals"]["all_families"] = _all_families(
        *duration_samples(history)["cell_time_between_removals"][:2]
    )

    burst = bursts_module.burst_summary(
        history.removals,
        history.window.start_us,
        history.window.end_us,
        window_s=burst_window_s,
        min_size=min_burst_size,
    )
    return {
        "source_format": store.source_format,
        "observation_s": history.window.as_dict(),
        "parameters": {
            "confidence": confidence,
            "bootstrap_samples": bootstrap_samples,
            "fit_bootstrap_samples": fit_bootstrap_samples,
            "tolerance_s": tolerance_s,
            "burst_window_s": burst_window_s,
            "min_burst_size": min_burst_size,
            "seed": seed,
        },
        "overall": overall,
        "levels": levels,
        "distributions": distributions,
        "bursts": burst,
        "process_outcomes": _process_outcomes(store, history, tolerance_s),
    }


def _all_families(durations: np.ndarray, censored: np.ndarray) -> dict | None:
    """Fit every family of :mod:`muosm_perf.fitting` to the uncensored durations.

    Only the gap after the last removal of the cell is censored, so leaving it out
    changes the sample by one value in thousands. None with fewer than
    :data:`MIN_ALL_FAMILIES` values, too few to tell six families apart.
    """
    sample = durations[~censored & (durations > 0)]
    if sample.size < MIN_ALL_FAMILIES:
        return None
    return fit_durations(sample).as_dict()


def _machine_level(history: FaultHistory, top: int = 5) -> dict[str, Any]:
    """Spread of removals over machines, and the machines removed most often."""
    machines = history.machines
    removals = machines["removals"].to_numpy()
    worst = machines.sort(["removals", "cell_id"], descending=[True, False]).head(top)
    return {
        "removals_per_machine": {
            **distribution_summary(removals),
            "max": int(removals.max()) if removals.size else None,
        },
        "machines_with_10_or_more_removals": int((removals >= 10).sum()),
        "most_removed": [
            {
                "cell_id": int(row["cell_id"]),
                "platform": row["platform"],
                "domain": row["domain"],
                "removals": int(row["removals"]),
                "mtbf_s": row["mtbf_s"],
                "mttr_s": row["mttr_s"],
                "availability": row["availability"],
            }
            for row in worst.iter_rows(named=True)
        ],
    }


def _whole_cell(history: FaultHistory) -> dict[str, Any]:
    """Figures of the whole cell seen as one fault cell."""
    length = history.window.length_s
    removals = history.removals.height
    series = machines_down_series(history, step_s=60.0)
    return {
        "key": "cell",
        "machines": history.machines.height,
        "removals": removals,
        "removals_per_day": removals / (length / 86_400),
        "mean_time_between_removals_s": length / removals if removals else None,
        "machines_down_mean": float(series["machines_down"].mean()),
        "machines_down_max": int(series["machines_down"].max()),
    }


def _process_outcomes(
    store: TraceStore, history: FaultHistory, tolerance_s: float
) -> dict[str, Any] | None:
    """Summarize process endings by cause over the task window, if there is one."""
    window = store.manifest.get("window_us")
    if window is None:
        return None
    summary = cause_summary(
        store.read("processes"),
        history.removals,
        store.read("cells"),
        tolerance_s=tolerance_s,
        window_start_us=window["start"],
    )
    summary["task_window_s"] = {
        "start": window["start"] / 1e6,
        "end": window["end"] / 1e6,
    }
    summary["removals_in_task_window"] = history.removals.filter(
        pl.col("time_us").is_between(window["start"], window["end"])
    ).height
    return summary


def fault_cells(store: TraceStore) -> dict[str, Any]:
    """Summarize a store's fault cells in the terms of a comparison of systems.

    The figures are those of :func:`fault_cell_summary`, in hours and days.

    Returns
    -------
    dict
        ``cells``, ``cells_unknown_capacity``, ``domains`` (distinct failure
        domains above the machines, None where the trace has none), event counts
        (``adds``, ``removes``, ``updates``), ``machines_removed`` and its share,
        ``machine_days`` (total up time), ``mtbf_h`` and ``mttr_h`` (hours, None
        without removals or repairs) and ``removals_per_1000_machine_days``.
    """
    churn = machine_churn(store.scan("cells"))
    domains = store.read("cells", ["domain"])["domain"].drop_nulls().n_unique()
    counts = dict(store.read("cell_events", ["event"]).group_by("event").len().rows())
    result: dict[str, Any] = {
        "cells": churn["machines"],
        "cells_unknown_capacity": churn["machines_unknown_capacity"],
        "domains": int(domains) if domains else None,
        "adds": int(counts.get("ADD", 0)),
        "removes": int(counts.get("REMOVE", 0)),
        "updates": int(counts.get("UPDATE", 0)),
        "machines_removed": churn["machines_removed"],
        "machines_removed_share": churn["machines_removed_share"],
        "machine_days": None,
        "mtbf_h": None,
        "mttr_h": None,
        "removals_per_1000_machine_days": None,
    }
    if sum(counts.values()) == 0:
        return result
    try:
        history = load_fault_history(store)
    except ParameterError as error:
        logger.info("no fault history for %s: %s", store.path, error)
        return result
    times = mean_times(history.machines)
    machine_days = times["mtbf"]["exposure_s"] / 86_400
    mtbf_s, mttr_s = times["mtbf"]["mean_s"], times["mttr"]["mean_s"]
    result["machine_days"] = machine_days
    result["mtbf_h"] = None if mtbf_s is None else mtbf_s / 3_600
    result["mttr_h"] = None if mttr_s is None else mttr_s / 3_600
    if times["removals"] and machine_days > 0:
        result["removals_per_1000_machine_days"] = (
            1000 * times["removals"] / machine_days
        )
    return result
