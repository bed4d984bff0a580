"""Matplotlib figures that put several systems side by side.

Each function draws one figure with one line per system, saves it as PNG through
the store report's saver and closes it. ``colours`` maps every system to its
colour, so that a system keeps its colour in every figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from muosm_perf.report.figures import _save

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
"""Line colour of the n-th system (cycled)."""


def system_colours(labels: Sequence[str]) -> dict[str, str]:
    """Give each system, in order, a colour of :data:`COLOURS`."""
    return {label: COLOURS[i % len(COLOURS)] for i, label in enumerate(labels)}


def _cdf(axis, sample: np.ndarray, colour: str, style: str, label: str) -> bool:
    sample = np.sort(np.asarray(sample, dtype=np.float64))
    if sample.size == 0:
        return False
    # Zero durations are common; draw them at 1 ms so the log axis keeps them.
    x = np.maximum(sample, 1e-3)
    y = np.arange(1, sample.size + 1) / sample.size
    axis.step(x, y, where="post", color=colour, linestyle=style, label=label)
    return True


def _finish_cdf(axis, drawn: bool, xlabel: str, title: str, empty: str) -> None:
    axis.set_xscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("fraction of attempts")
    axis.set_ylim(0, 1.01)
    axis.grid(visible=True, which="both", alpha=0.3)
    if drawn:
        axis.legend(fontsize=8, loc="lower right")
    else:
        axis.text(0.5, 0.5, empty, ha="center", transform=axis.transAxes)
    axis.set_title(title)


def run_time_cdf(
    samples: Mapping[str, np.ndarray], colours: Mapping[str, str], path: Path
) -> Path:
    """Plot the CDF of attempt run times (seconds) of each system."""
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    drawn = False
    for label, sample in samples.items():
        drawn |= _cdf(axis, sample, colours[label], "-", f"{label} (n={len(sample):,})")
    _finish_cdf(
        axis,
        drawn,
        "run time, SCHEDULE to end (s; 0 s drawn at 1 ms)",
        "Process durations",
        "no run times recorded",
    )
    return _save(figure, path)


def delay_cdf(
    observed: Mapping[str, np.ndarray],
    predicted: Mapping[str, np.ndarray],
    colours: Mapping[str, str],
    path: Path,
) -> Path:
    """Plot scheduling delay CDFs: observed (solid) and replay-predicted (dashed)."""
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    drawn = False
    for label in colours:
        colour = colours[label]
        if label in observed:
            sample = observed[label]
            drawn |= _cdf(
                axis, sample, colour, "-", f"{label}, observed (n={len(sample):,})"
            )
        if label in predicted:
            sample = predicted[label]
            drawn |= _cdf(
                axis, sample, colour, "--", f"{label}, predicted (n={len(sample):,})"
            )
    _finish_cdf(
        axis,
        drawn,
        "scheduling delay, SUBMIT to SCHEDULE (s; 0 s drawn at 1 ms)",
        "Scheduling delay, all bands",
        "no scheduling delay observed or predicted",
    )
    return _save(figure, path)


def dispersion(
    indexes: Mapping[str, Mapping[str, float | None]],
    colours: Mapping[str, str],
    path: Path,
) -> Path:
    """Plot the index of dispersion of event counts against the bin width."""
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    drawn = False
    for label, by_width in indexes.items():
        points = [(float(w), v) for w, v in by_width.items() if v is not None and v > 0]
        if not points:
            continue
        widths, values = zip(*sorted(points), strict=True)
        axis.plot(widths, values, "o-", color=colours[label], label=label)
        drawn = True
    axis.axhline(1.0, color="#888888", linestyle=":", label="Poisson (IDC = 1)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("bin width T (s)")
    axis.set_ylabel("index of dispersion of counts")
    axis.grid(visible=True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    if not drawn:
        axis.text(0.5, 0.5, "no timed events", ha="center", transform=axis.transAxes)
    axis.set_title("Burstiness of the message bus")
    return _save(figure, path)


def utilization(
    series: Mapping[str, tuple[np.ndarray, np.ndarray, str]],
    colours: Mapping[str, str],
    path: Path,
) -> Path:
    """Plot CPU utilization over the fraction of each system's window elapsed.

    ``series`` maps a system to (fraction of window, utilization, ``observed`` or
    ``predicted``); predicted series are dashed.
    """
    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    for label, (fraction, values, kind) in series.items():
        if len(fraction) == 0:
            continue
        style = "-" if kind == "observed" else "--"
        axis.plot(
            fraction,
            100 * np.asarray(values, dtype=np.float64),
            style,
            color=colours[label],
            label=f"{label}, {kind}",
        )
        drawn = True
    axis.set_xlabel("fraction of the trace window")
    axis.set_ylabel("requested CPU / capacity (%)")
    axis.grid(visible=True, alpha=0.3)
    if drawn:
        axis.legend(fontsize=8)
    else:
        axis.text(
            0.5, 0.5, "no utilization known", ha="center", transform=axis.transAxes
        )
    axis.set_title("CPU utilization by requests")
    return _save(figure, path)
