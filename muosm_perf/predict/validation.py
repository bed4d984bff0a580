"""Predicted against observed: scheduling delay per band and utilization over time."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy import stats

from muosm_perf.analysis.characterize import distribution_summary

REPORTED_BANDS = ("free", "middle", "production")
"""Bands every validation table has a row for, even when a side has no delays."""

STATISTICS = ("n", "mean", "p50", "p90", "p99")
"""Delay statistics per side (``n`` attempts, the others in seconds)."""


def ks_distance(observed: np.ndarray, predicted: np.ndarray) -> float | None:
    """Return the two-sample Kolmogorov-Smirnov statistic, or None for an empty side.

    The statistic is the largest distance between the two empirical distribution
    functions (``scipy.stats.ks_2samp``).
    """
    if observed.size == 0 or predicted.size == 0:
        return None
    return float(stats.ks_2samp(observed, predicted).statistic)


def delay_validation(attempts: pl.DataFrame) -> pl.DataFrame:
    """Compare observed and predicted scheduling delays per band.

    Parameters
    ----------
    attempts
        One row per attempt with ``band``, ``observed_delay_s`` and
        ``predicted_delay_s`` (seconds, null where the side has no delay).

    Returns
    -------
    polars.DataFrame
        One row per band: ``observed_`` and ``predicted_`` :data:`STATISTICS`
        (seconds), and ``ks_distance``.
    """
    bands = list(REPORTED_BANDS)
    for band in attempts["band"].drop_nulls().unique().sort().to_list():
        if band not in bands:
            bands.append(band)
    rows = []
    for band in bands:
        of_band = attempts.filter(pl.col("band") == band)
        observed = of_band["observed_delay_s"].drop_nulls().to_numpy()
        predicted = of_band["predicted_delay_s"].drop_nulls().to_numpy()
        row: dict[str, object] = {"band": band}
        for side, sample in (("observed", observed), ("predicted", predicted)):
            summary = distribution_summary(sample)
            for statistic in STATISTICS:
                suffix = "" if statistic == "n" else "_s"
                row[f"{side}_{statistic}{suffix}"] = summary[statistic]
        row["ks_distance"] = ks_distance(observed, predicted)
        rows.append(row)
    schema = {"band": pl.String}
    for side in ("observed", "predicted"):
        schema[f"{side}_n"] = pl.Int64
        for statistic in STATISTICS[1:]:
            schema[f"{side}_{statistic}_s"] = pl.Float64
    schema["ks_distance"] = pl.Float64
    return pl.DataFrame(rows, schema=schema, orient="row")


def utilization_mae(observed: pl.DataFrame, predicted: pl.DataFrame) -> dict:
    """Return the mean absolute error of CPU and memory utilization in points.

    Both frames are occupancy series on the same grid with ``cpu_utilization`` and
    ``memory_utilization`` fractions; grid times where either side is null are left
    out. The error is ``mean(|predicted - observed|) * 100`` percentage points, None
    when no grid time has both.
    """
    result: dict[str, float | None] = {}
    for resource in ("cpu", "memory"):
        column = f"{resource}_utilization"
        pairs = pl.DataFrame(
            {"observed": observed[column], "predicted": predicted[column]}
        ).drop_nulls()
        if pairs.height == 0:
            result[resource] = None
            continue
        error = (pairs["predicted"] - pairs["observed"]).abs().mean()
        result[resource] = None if error is None else 100.0 * float(error)
    return result


def json_number(value: object) -> object:
    """Return ``value`` with NaN and infinities replaced by None, for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
