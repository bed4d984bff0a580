"""Figures of fault cells: failure timeline, time between failures, survival curves.

Every function takes a :class:`~muosm_perf.analysis.faults.FaultHistory` and returns
a :class:`matplotlib.figure.Figure`, built without pyplot so that no display or
global state is involved. :func:`save_fault_figures` writes all of them as PNG.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from muosm_perf.analysis.bursts import bursts as bursts_table
from muosm_perf.analysis.censored_fits import fit_censored_durations
from muosm_perf.analysis.faults import (
    FaultHistory,
    duration_samples,
    machines_down_series,
    survival_curves,
)
from muosm_perf.analysis.survival import SurvivalCurve, kaplan_meier
from muosm_perf.report.document import Figure as ReportFigure
from muosm_perf.report.document import Section, Table, format_number

logger = logging.getLogger(__name__)

DAY_S = 86_400.0
HOUR_S = 3_600.0
LARGEST_BURSTS_MARKED = 5
"""Bursts (by number of removals) marked on the failure timeline."""


def _short_key(key: object) -> str:
    """Shorten a hashed platform or switch ID to its first characters."""
    text = "—" if key is None else str(key)
    return text if len(text) <= 10 else text[:8] + "…"


def _group_label(key: str, machines: int) -> str:
    """Label a platform or switch in a legend with its number of machines."""
    return f"{_short_key(key)} ({machines:,} machines)"


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
    comparison = fit_censored_durations(durations, censored, censor_limits_s=limits)
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
    # A curve of censored durations only never drops below 1.
    surviving = curve.survival[curve.survival > 0]
    lowest = surviving.min() if surviving.size else 1.0
    axes.set_ylim(max(lowest / 2, 1e-5), 1.05)
    axes.grid(alpha=0.3, which="both")
    if axes.get_legend_handles_labels()[0]:
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
        if axes.get_legend_handles_labels()[0]:
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


def _days(seconds: float | None) -> str:
    return format_number(None if seconds is None else seconds / DAY_S)


def _hours_text(seconds: float | None) -> str:
    return format_number(None if seconds is None else seconds / HOUR_S)


def _interval_text(bounds: list, unit: float) -> str:
    low, high = bounds
    low_text = format_number(None if low is None else low / unit)
    high_text = "∞" if high is None else format_number(high / unit)
    return f"{low_text} to {high_text}"


def _mean_time_rows(overall: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for label, key, unit, show in (
        ("MTBF (days)", "mtbf", DAY_S, _days),
        ("MTTR (hours)", "mttr", HOUR_S, _hours_text),
    ):
        estimate = overall[key]
        bootstrap = estimate.get("bootstrap")
        rows.append(
            [
                label,
                show(estimate["mean_s"]),
                _interval_text(estimate["ci_s"], unit),
                "—" if bootstrap is None else _interval_text(bootstrap["ci_s"], unit),
            ]
        )
    return rows


def _level_rows(groups: list[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            _short_key(group["key"]),
            format_number(group["machines"]),
            format_number(group["machines_removed_share"]),
            format_number(group["removals"]),
            _days(group["mtbf"]["mean_s"]),
            _hours_text(group["mttr"]["mean_s"]),
            format_number(group["availability"], 5),
        ]
        for group in groups
    ]


def _fit_rows(distributions: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, sample in distributions.items():
        fits = sample["fitted"]["fits"]
        best = fits[0] if fits else None
        rows.append(
            [
                name.replace("_", " "),
                format_number(sample["observations"]),
                format_number(sample["censored"]),
                format_number(sample["km_median_s"]),
                "—" if best is None else best["family"],
                "—"
                if best is None
                else ", ".join(
                    f"{k} {format_number(v)}" for k, v in best["parameters"].items()
                ),
                "—" if best is None else format_number(best["ks_distance"]),
            ]
        )
    return rows


def fault_cells_section(
    history: FaultHistory, analysis: Mapping[str, Any], folder: str | Path
) -> Section:
    """Draw the fault-cell figures into ``folder`` and return the report section.

    Parameters
    ----------
    history
        The fault history (:func:`~muosm_perf.analysis.faults.load_fault_history`).
    analysis
        The result of :func:`~muosm_perf.analysis.faults.analyze_faults` on the
        same store.
    folder
        Report folder; the figures are written there as PNG.
    """
    folder = Path(folder)
    table = bursts_table(history.removals, window_s=analysis["bursts"]["window_s"])
    save_fault_figures(history, folder, bursts=table)
    overall = analysis["overall"]
    burst = analysis["bursts"]
    blocks: list[str | Table | ReportFigure] = [
        "A fault cell is the boundary inside which a failure is contained: a "
        "machine, the platform or switch above it, the whole cell. Every REMOVE "
        "of a machine counts as a failure and the following ADD as its repair. "
        "MTBF is the machine up time divided by the removals, and MTTR the "
        "downtime divided by the repairs. Censored time counts as exposure, so "
        "the up time before a machine's first removal and the downtime of a "
        "machine still down at the end are included. The chi-square interval "
        "assumes exponential times. The bootstrap draws whole machines with "
        "replacement, so it keeps the differences between machines.",
        Table(
            [
                "machines",
                "removed at least once",
                "removals",
                "repairs",
                "down at the end",
                "availability",
            ],
            [
                [
                    format_number(overall["machines"]),
                    f"{format_number(overall['machines_removed'])} "
                    f"({format_number(overall['machines_removed_share'])})",
                    format_number(overall["removals"]),
                    format_number(overall["repairs"]),
                    format_number(overall["machines_down_at_end"]),
                    format_number(overall["availability"], 5),
                ]
            ],
        ),
        Table(
            ["estimate", "value", "chi-square interval", "bootstrap interval"],
            _mean_time_rows(overall),
        ),
    ]
    for level, groups in analysis["levels"].items():
        if level in ("cell", "machine"):
            continue
        blocks.append(
            Table(
                [
                    level,
                    "machines",
                    "removed share",
                    "removals",
                    "MTBF (days)",
                    "MTTR (hours)",
                    "availability",
                ],
                _level_rows(groups),
            )
        )
    machine = analysis["levels"].get("machine")
    if machine is not None:
        spread = machine["removals_per_machine"]
        blocks += [
            f"Removals per machine: median {format_number(spread['p50'])}, 99th "
            f"percentile {format_number(spread['p99'])}, at most "
            f"{format_number(spread['max'])}; "
            f"{format_number(machine['machines_with_10_or_more_removals'])} "
            "machines were removed 10 times or more.",
            Table(
                [
                    "machine",
                    "platform",
                    "removals",
                    "MTBF (hours)",
                    "MTTR (hours)",
                    "availability",
                ],
                [
                    [
                        str(row["cell_id"]),
                        _short_key(row["platform"]),
                        format_number(row["removals"]),
                        _hours_text(row["mtbf_s"]),
                        _hours_text(row["mttr_s"]),
                        format_number(row["availability"], 3),
                    ]
                    for row in machine["most_removed"]
                ],
            ),
        ]
    blocks += [
        ReportFigure(
            "failure-timeline.png",
            "Machine removals per hour (top; the largest bursts are marked with "
            "their size) and machines down (bottom).",
        ),
        "Durations are fitted by maximum likelihood with right-censoring; KS is "
        "the largest distance between the fitted and the Kaplan-Meier survival "
        "functions. Up intervals already going on at the window start are left "
        "out of the distributions, because their start is unknown.",
        Table(
            [
                "sample",
                "n",
                "censored",
                "KM median (s)",
                "best fit (AIC)",
                "parameters",
                "KS",
            ],
            _fit_rows(analysis["distributions"]),
        ),
        ReportFigure(
            "time-between-failures.png",
            "Kaplan-Meier survival functions (black) with the Weibull, "
            "exponential and lognormal fits, on log-log axes.",
        ),
        ReportFigure(
            "survival-curves.png",
            "Kaplan-Meier curves of up time and downtime per platform, with "
            "95% log-log bands.",
        ),
        f"Bursts: {format_number(burst['bursts'])} runs of at least "
        f"{burst['min_size']} removals, each within {burst['window_s']:g} s of "
        f"the previous one ({format_number(burst['bursts_per_day'])} per day), "
        f"against {format_number(burst['poisson_expected'])} expected if "
        "removals were independent at the same rate. The hourly index of "
        f"dispersion is {format_number(burst['dispersion_index_hourly'])} "
        "(1 for a Poisson process).",
        Table(
            [
                "window (s)",
                "bursts",
                "expected if independent",
                "per day",
                "removals in bursts",
            ],
            [
                [
                    format_number(row["window_s"]),
                    format_number(row["bursts"]),
                    format_number(row["poisson_expected"]),
                    format_number(row["bursts_per_day"]),
                    format_number(row["removals_in_bursts"]),
                ]
                for row in burst["sensitivity"]
            ],
        ),
    ]
    outcomes = analysis.get("process_outcomes")
    if outcomes is not None:
        blocks += _outcome_blocks(outcomes)
    return Section("Fault cells", blocks)


def _outcome_blocks(outcomes: Mapping[str, Any]) -> list[str | Table]:
    causes = sorted({c for row in outcomes["by_end_state"].values() for c in row})
    loops = outcomes["crash_loops"]
    lost = outcomes["lost_work"]
    return [
        f"Endings of attempts by cause. An EVICT, LOST or KILL is attributed to a "
        f"machine removal when the attempt was running on the machine at its "
        f"REMOVE and ended at most {outcomes['tolerance_s']:g} s later.",
        Table(
            ["end state", *causes],
            [
                [state, *(format_number(counts.get(c, 0)) for c in causes)]
                for state, counts in outcomes["by_end_state"].items()
            ],
        ),
        Table(
            ["tolerance (s)", "EVICT", "KILL", "LOST"],
            [
                [
                    format_number(row["tolerance_s"]),
                    format_number(row["EVICT"]),
                    format_number(row["KILL"]),
                    format_number(row["LOST"]),
                ]
                for row in outcomes["tolerance_sensitivity"]
            ],
        ),
        f"Crash loops (at least {loops['min_failures']} FAILs in a row, each "
        f"resubmitted): {format_number(loops['loops'])} in "
        f"{format_number(loops['groups'])} process groups, "
        f"{format_number(loops['failed_attempts'])} failed attempts, the longest "
        f"{format_number(loops['longest'])}.",
        Table(
            ["cause", "attempts", "CPU core-seconds lost"],
            [
                [
                    cause,
                    format_number(value["attempts"]),
                    format_number(value["cpu_core_s"]),
                ]
                for cause, value in lost["by_cause"].items()
            ],
        ),
    ]
