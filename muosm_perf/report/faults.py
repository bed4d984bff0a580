"""Figures of fault cells: failure timeline, time between failures, survival curves.

Every function takes a :class:`~muosm_perf.analysis.faults.FaultHistory` and returns
a :class:`matplotlib.figure.Figure`, built without pyplot so that no display or
global state is involved. :func:`save_fault_figures` writes all of them as PNG.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from muosm_perf.analysis.censored_fits import fit_durations
from muosm_perf.analysis.faults import (
    FaultHistory,
    duration_samples,
    machines_down_series,
    survival_curves,
)
from muosm_perf.analysis.survival import SurvivalCurve, kaplan_meier

logger = logging.getLogger(__name__)

DAY_S = 86_400.0
HOUR_S = 3_600.0
LARGEST_BURSTS_MARKED = 5
"""Bursts (by number of removals) marked on the failure timeline."""


def _group_label(key: str, machines: int) -> str:
    """Shorten a hashed platform or switch ID for a legend."""
    short = key if len(key) <= 10 else key[:8] + "…"
    return f"{short} ({machines:,} machines)"


def failure_timeline_figure(
    history: FaultHistory, *, step_s: float = HOUR_S, bursts: pl.DataFrame | None = None
) -> Figure:
    """Draw removals per time step and machines down over the observation window.

    Parameters
    ----------
    history
        The fault history.
    step_s
        Width of a time step in seconds (bars of the upper panel).
    bursts
        Optional table of :func:`muosm_perf.analysis.bursts.bursts`; its largest
        bursts are marked on the upper panel.
    """
    series = machines_down_series(history, step_s=step_s)
    start = history.window.start_us
    days = (series["time_us"].to_numpy() - start) / 1e6 / DAY_S

    figure = Figure(figsize=(9, 5.5), layout="constrained")
    upper, lower = figure.subplots(2, 1, sharex=True)
    # The removals of a grid point are those of the step that ends there.
    upper.bar(
        days - step_s / DAY_S,
        series["removals"].to_numpy(),
        width=step_s / DAY_S,
        align="edge",
        color="tab:red",
    )
    upper.set_ylabel(f"removals per {step_s / HOUR_S:g} h")
    upper.set_title("Machine removals and machines down")
    if bursts is not None and bursts.height:
        largest = bursts.sort("removals", descending=True).head(LARGEST_BURSTS_MARKED)
        for row in largest.iter_rows(named=True):
            at = (row["start_us"] - start) / 1e6 / DAY_S
            upper.axvline(at, color="black", linewidth=0.6, linestyle=":")
            upper.annotate(
                f"{row['removals']}",
                (at, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                ha="center",
                va="bottom",
            )
    lower.step(days, series["machines_down"].to_numpy(), where="post", color="tab:blue")
    lower.set_ylabel("machines down")
    lower.set_xlabel("days since the trace start")
    for axes in (upper, lower):
        axes.grid(alpha=0.3)
    return figure


def _plot_fits(axes, durations, censored, limits, curve: SurvivalCurve) -> None:
    """Draw a Kaplan-Meier curve and the fitted survival functions on log axes."""
    axes.step(curve.time_s, curve.survival, where="post", color="black", label="KM")
    comparison = fit_durations(durations, censored, censor_limits_s=limits)
    positive = curve.time_s[curve.time_s > 0]
    if positive.size == 0:
        return
    grid = np.geomspace(positive.min(), max(durations.max(), positive.max()), 200)
    for fit in comparison.fits:
        axes.plot(
            grid,
            fit.distribution().sf(grid),
            linewidth=1,
            label=f"{fit.family} (KS {fit.ks_distance:.3f})",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_ylim(max(curve.survival[curve.survival > 0].min() / 2, 1e-5), 1.05)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7)


def time_between_failures_figure(history: FaultHistory) -> Figure:
    """Draw the time-between-failure distributions with fitted families.

    Four panels, each the Kaplan-Meier survival function (log-log axes) of one
    sample of :func:`muosm_perf.analysis.faults.duration_samples` with its
    Weibull, exponential and lognormal fits.
    """
    samples = duration_samples(history)
    titles = {
        "uptime": "machine up time (ADD to REMOVE)",
        "downtime": "downtime (REMOVE to ADD)",
        "machine_time_between_removals": "time between removals of a machine",
        "cell_time_between_removals": "time between removals in the cell",
    }
    figure = Figure(figsize=(10, 7.5), layout="constrained")
    grid = figure.subplots(2, 2)
    for axes, (name, (durations, censored, limits)) in zip(
        grid.ravel(), samples.items(), strict=True
    ):
        curve = kaplan_meier(durations, censored)
        axes.set_title(
            f"{titles[name]}\n{durations.size:,} durations, "
            f"{int(censored.sum()):,} censored",
            fontsize=9,
        )
        if curve.time_s.size:
            _plot_fits(axes, durations, censored, limits, curve)
        axes.set_xlabel("seconds")
        axes.set_ylabel("P(duration > t)")
    return figure


def survival_curves_figure(history: FaultHistory, *, by: str | None = None) -> Figure:
    """Draw Kaplan-Meier curves of up time and downtime, per group of a level.

    Parameters
    ----------
    history
        The fault history.
    by
        Level column (``platform`` or ``domain``); defaults to the first level of
        the history, or one curve for all machines if it has none.
    """
    if by is None and history.levels:
        by = history.levels[0]
    machines = (
        {} if by is None else dict(history.machines.group_by(by).len().iter_rows())
    )
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    panels = figure.subplots(1, 2)
    for axes, state, title in (
        (panels[0], "up", "time to failure (up time)"),
        (panels[1], "down", "time to repair (downtime)"),
    ):
        curves = survival_curves(history, state, by=by)
        ordered = sorted(curves.items(), key=lambda item: -machines.get(item[0], 0))
        for key, curve in ordered:
            if curve.time_s.size == 0:
                continue
            label = key if by is None else _group_label(key, machines.get(key, 0))
            line = axes.step(
                curve.time_s / HOUR_S, curve.survival, where="post", label=label
            )[0]
            axes.fill_between(
                curve.time_s / HOUR_S,
                np.nan_to_num(curve.lower, nan=0.0),
                np.nan_to_num(curve.upper, nan=1.0),
                step="post",
                alpha=0.15,
                color=line.get_color(),
            )
        axes.set_xscale("log")
        axes.set_ylim(0, 1.02)
        axes.set_xlabel("hours")
        axes.set_ylabel("survival P(T > t)")
        axes.set_title(f"Kaplan-Meier {title}, 95% band", fontsize=10)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=7)
    return figure


def save_fault_figures(
    history: FaultHistory,
    folder: str | Path,
    *,
    bursts: pl.DataFrame | None = None,
    dpi: int = 120,
) -> list[Path]:
    """Write the three fault-cell figures as PNG files into ``folder``.

    Returns the paths written: ``failure-timeline.png``,
    ``time-between-failures.png`` and ``survival-curves.png``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        "failure-timeline.png": failure_timeline_figure(history, bursts=bursts),
        "time-between-failures.png": time_between_failures_figure(history),
        "survival-curves.png": survival_curves_figure(history),
    }
    paths = []
    for name, figure in figures.items():
        path = folder / name
        figure.savefig(path, dpi=dpi)
        logger.info("wrote %s", path)
        paths.append(path)
    return paths
