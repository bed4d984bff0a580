"""Matplotlib figures of a trace store and of its replay.

Every function draws one figure, saves it as PNG and closes it, so a long report
does not keep figures in memory. The Agg backend is used: no display is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

logger = logging.getLogger(__name__)

BAND_COLOURS = {
    "free": "#4c72b0",
    "middle": "#dd8452",
    "production": "#55a868",
    "monitoring": "#8172b3",
}
DPI = 110


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    logger.debug("wrote figure %s", path)
    return path


def _hours(time_us: np.ndarray) -> np.ndarray:
    return np.asarray(time_us, dtype=np.float64) / 3.6e9


def delay_cdf(
    observed: pl.DataFrame, predicted: pl.DataFrame | None, path: Path
) -> Path:
    """Plot the CDF of scheduling delay per band, observed (solid) and predicted.

    Parameters
    ----------
    observed, predicted
        Frames with ``band`` and ``delay_s`` (seconds); ``predicted`` may be None.
    path
        PNG file to write.
    """
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    drawn = False
    for band, colour in BAND_COLOURS.items():
        for frame, style, label in (
            (observed, "-", "observed"),
            (predicted, "--", "predicted"),
        ):
            if frame is None:
                continue
            sample = np.sort(frame.filter(pl.col("band") == band)["delay_s"].to_numpy())
            if sample.size == 0:
                continue
            # Delays of 0 s are common (SUBMIT and SCHEDULE in one instant): plot
            # them at 1 ms so the logarithmic axis keeps them.
            x = np.maximum(sample, 1e-3)
            y = np.arange(1, sample.size + 1) / sample.size
            axis.step(
                x,
                y,
                where="post",
                linestyle=style,
                color=colour,
                label=f"{band}, {label} (n={sample.size:,})",
            )
            drawn = True
    axis.set_xscale("log")
    axis.set_xlabel("scheduling delay, SUBMIT to SCHEDULE (s; 0 s drawn at 1 ms)")
    axis.set_ylabel("fraction of attempts")
    axis.set_ylim(0, 1.01)
    axis.grid(visible=True, which="both", alpha=0.3)
    if drawn:
        axis.legend(fontsize=8, loc="lower right")
    else:
        axis.text(
            0.5,
            0.5,
            "no scheduling delays observed",
            ha="center",
            transform=axis.transAxes,
        )
    axis.set_title("Scheduling delay per priority band")
    return _save(figure, path)


def occupancy_over_time(
    observed: pl.DataFrame, predicted: pl.DataFrame | None, path: Path
) -> Path:
    """Plot running attempts and CPU and memory utilization over trace time.

    Parameters
    ----------
    observed, predicted
        Occupancy series (see :func:`muosm_perf.analysis.occupancy.occupancy_series`);
        ``predicted`` may be None.
    path
        PNG file to write.
    """
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True)
    for frame, style, label in (
        (observed, "-", "observed"),
        (predicted, "--", "predicted"),
    ):
        if frame is None:
            continue
        hours = _hours(frame["time_us"].to_numpy())
        top.plot(
            hours,
            frame["running"].to_numpy(),
            style,
            color="#333333",
            label=f"running, {label}",
        )
        for column, colour in (
            ("cpu_utilization", "#c44e52"),
            ("memory_utilization", "#4c72b0"),
        ):
            values = frame[column].cast(pl.Float64).to_numpy()
            bottom.plot(
                hours,
                100 * values,
                style,
                color=colour,
                label=f"{column.split('_')[0]}, {label}",
            )
    top.set_ylabel("running attempts")
    top.legend(fontsize=8)
    top.grid(visible=True, alpha=0.3)
    bottom.set_ylabel("requested / alive capacity (%)")
    bottom.set_xlabel("trace time (h)")
    bottom.legend(fontsize=8)
    bottom.grid(visible=True, alpha=0.3)
    top.set_title("Running attempts and requested utilization")
    return _save(figure, path)


def event_mix(events_by_type: Mapping[str, int], path: Path) -> Path:
    """Plot the number of lifecycle events of each canonical type (log scale)."""
    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    names = list(events_by_type)
    counts = [events_by_type[name] for name in names]
    bars = axis.bar(names, counts, color="#4c72b0")
    axis.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=7)
    if counts and max(counts) > 0:
        axis.set_yscale("log")
    axis.set_ylabel("events")
    axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    axis.set_title("Lifecycle events on the message bus")
    return _save(figure, path)


def machine_churn(
    cell_events: pl.DataFrame, window_us: Mapping[str, int] | None, path: Path
) -> Path:
    """Plot machine ADD, REMOVE and UPDATE events over time, in at most 150 bins.

    Events before the window (the initial machine set) are left out; the task
    window is shaded.
    """
    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    timed = cell_events.filter(pl.col("time_us").is_not_null())
    if timed.height:
        hours = _hours(timed["time_us"].to_numpy())
        first, last = np.floor(hours.min()), np.ceil(hours.max())
        bin_hours = max(1.0, np.ceil((last - first) / 150))
        edges = np.arange(first, last + bin_hours, bin_hours)
        if edges.size < 2:
            edges = np.array([first, first + bin_hours])
        for kind, colour in (
            ("ADD", "#55a868"),
            ("REMOVE", "#c44e52"),
            ("UPDATE", "#8172b3"),
        ):
            sample = hours[(timed["event"] == kind).to_numpy()]
            counts, _ = np.histogram(sample, bins=edges)
            axis.step(edges[:-1], counts, where="post", color=colour, label=kind)
        axis.legend(fontsize=8)
        axis.set_ylabel(f"machine events per {bin_hours:g} h")
    if window_us is not None:
        axis.axvspan(
            window_us["start"] / 3.6e9,
            window_us["end"] / 3.6e9,
            color="#cccccc",
            alpha=0.5,
            label="task window",
        )
    axis.set_xlabel("trace time (h)")
    axis.grid(visible=True, alpha=0.3)
    axis.set_title("Machine churn (task window shaded)")
    return _save(figure, path)
