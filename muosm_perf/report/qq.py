"""Quantile-quantile plots of a sample against a model distribution."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from muosm_perf.errors import ParameterError

PLOTTED_QUANTILES = 400
"""At most this many quantile pairs are drawn, so large samples stay readable."""


def qq_points(
    sample: object, quantile_function: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (model quantiles, sample quantiles) at plotting positions (i - 0.5) / n.

    Parameters
    ----------
    sample
        Observed values.
    quantile_function
        The model's inverse distribution function (for example a frozen SciPy
        distribution's ``ppf``).
    """
    values = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    if values.size == 0:
        raise ParameterError("cannot draw a QQ plot of an empty sample")
    count = min(values.size, PLOTTED_QUANTILES)
    levels = (np.arange(count) + 0.5) / count
    return np.asarray(quantile_function(levels), dtype=float), np.quantile(
        values, levels
    )


def draw_qq_plot(
    sample: object,
    quantile_function: Callable[[np.ndarray], np.ndarray],
    path: str | Path,
    *,
    title: str,
    model_label: str = "model quantile",
    sample_label: str = "sample quantile",
    log_scale: bool = False,
) -> Path:
    """Draw a QQ plot with the identity line and save it as a PNG at ``path``.

    Returns the path written.
    """
    model, observed = qq_points(sample, quantile_function)
    # A bare Figure draws without pyplot's global state or a display backend.
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.plot(model, observed, ".", markersize=3)
    positive = np.concatenate([model, observed])
    positive = positive[np.isfinite(positive)]
    low, high = positive.min(), positive.max()
    if log_scale:
        floor = positive[positive > 0].min() if (positive > 0).any() else 1e-9
        low = max(low, floor)
        axes.set_xscale("log")
        axes.set_yscale("log")
    axes.plot([low, high], [low, high], "k--", linewidth=1, label="identity")
    axes.set_xlabel(model_label)
    axes.set_ylabel(sample_label)
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    return output


def draw_fit_qq_plots(
    sample: object, fit, path: str | Path, *, title: str, columns: int = 3
) -> Path:
    """Draw one QQ panel per fitted candidate (log scales) and save them as a PNG.

    Parameters
    ----------
    sample
        The positive durations that were fitted.
    fit
        A :class:`~muosm_perf.fitting.DurationFit`.
    path
        PNG file to write.
    title
        Figure title; each panel names its family and the best one is marked.
    """
    candidates = fit.candidates
    rows = -(-len(candidates) // columns)
    figure = Figure(figsize=(4 * columns, 4 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    best = fit.best.family
    for panel, candidate in zip(axes.ravel(), candidates, strict=False):
        model, observed = qq_points(sample, candidate.distribution.ppf)
        keep = (model > 0) & (observed > 0) & np.isfinite(model)
        panel.loglog(model[keep], observed[keep], ".", markersize=3)
        both = np.concatenate([model[keep], observed[keep]])
        if both.size:
            panel.plot([both.min(), both.max()], [both.min(), both.max()], "k--", lw=1)
        marker = " (best)" if candidate.family == best else ""
        panel.set_title(f"{candidate.family}{marker}")
        panel.set_xlabel("fitted quantile")
        panel.set_ylabel("empirical quantile")
    for panel in axes.ravel()[len(candidates) :]:
        panel.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=80)
    return output
