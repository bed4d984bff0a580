"""Predicted against observed: scheduling delay per band and utilization over time.

Delays are compared on one population: the attempts with an observed delay. On the
predicted side, an attempt the replay never placed before the window closed is
right-censored: its delay is at least the window end minus its submission, and the
comparison counts it as larger than every placed delay. It stays in the sample
size, in the empirical distribution function (which therefore never reaches 1 while
attempts are censored) and in the Kolmogorov-Smirnov distance. A percentile whose
rank falls among the censored attempts is unknown (null), and so is the mean when
any attempt is censored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from muosm_perf.analysis.characterize import PERCENTILES, distribution_summary

REPORTED_BANDS = ("free", "middle", "production")
"""Bands every validation table has a row for, even when a side has no delays."""

STATISTICS = ("n", "mean", "p50", "p90", "p99")
"""Delay statistics per side (``n`` attempts, the others in seconds)."""


def ks_distance(
    observed: np.ndarray, predicted: np.ndarray, censored: int = 0
) -> float | None:
    """Return the two-sample Kolmogorov-Smirnov statistic, or None for an empty side.

    The statistic is the largest distance between the two empirical distribution
    functions. ``censored`` more predicted values are larger than every value of
    both samples: they count in the predicted sample size only. Without censoring
    it equals ``scipy.stats.ks_2samp(observed, predicted).statistic``.
    """
    total = predicted.size + censored
    if observed.size == 0 or total == 0:
        return None
    if censored == 0:
        return float(stats.ks_2samp(observed, predicted).statistic)
    observed = np.sort(observed)
    predicted = np.sort(predicted)
    points = np.concatenate([observed, predicted])
    observed_cdf = np.searchsorted(observed, points, side="right") / observed.size
    predicted_cdf = np.searchsorted(predicted, points, side="right") / total
    # Past every finite value the observed function is 1 and the predicted one
    # is (total - censored) / total.
    tail = censored / total
    return float(max(np.max(np.abs(observed_cdf - predicted_cdf)), tail))


def censored_summary(values: np.ndarray, censored: int) -> dict[str, Any]:
    """Return ``n``, ``mean`` and the percentiles of a sample with censored values.

    ``censored`` values are larger than every value of ``values``. Percentiles use
    linear interpolation between order statistics, as ``numpy.percentile`` does,
    and are None when an order statistic they need is censored. The mean is None
    when any value is censored.
    """
    if censored == 0:
        return distribution_summary(values)
    values = np.sort(np.asarray(values, dtype=np.float64))
    total = values.size + censored
    summary: dict[str, Any] = {"n": total, "mean": None}
    # Any stand-in at or above the largest value leaves the percentiles that do
    # not reach a censored rank unchanged.
    stand_in = values[-1] if values.size else 0.0
    padded = np.concatenate([values, np.full(censored, stand_in)])
    for q in PERCENTILES:
        upper_rank = math.ceil((total - 1) * q / 100)
        if upper_rank >= values.size:
            summary[f"p{q}"] = None
        else:
            summary[f"p{q}"] = float(np.percentile(padded, q))
    return summary


def delay_validation(attempts: pl.DataFrame) -> pl.DataFrame:
    """Compare observed and predicted scheduling delays per band, on one population.

    With a ``predicted_censored`` column, the population is the attempts with an
    observed delay whose predicted side is a delay or censored; attempts whose
    predicted side is missing for another reason leave both sides. Without that
    column (replays that censor nothing, such as the backfilling replay of SWF
    logs, many of which log no wait time), each side is every delay it has.

    Parameters
    ----------
    attempts
        One row per attempt with ``band``, ``observed_delay_s`` and
        ``predicted_delay_s`` (seconds, null where the side has no delay), and
        optionally ``predicted_censored`` (bool: the replay never placed the
        attempt before the window closed).

    Returns
    -------
    polars.DataFrame
        One row per band: ``observed_`` and ``predicted_`` :data:`STATISTICS`
        (seconds), ``predicted_censored`` (attempts censored on the predicted
        side) and ``ks_distance``.
    """
    one_population = "predicted_censored" in attempts.columns
    if not one_population:
        attempts = attempts.with_columns(predicted_censored=pl.lit(value=False))
    censored_flag = pl.col("predicted_censored").fill_null(value=False)
    population = attempts
    if one_population:
        population = attempts.filter(
            pl.col("observed_delay_s").is_not_null()
            & (pl.col("predicted_delay_s").is_not_null() | censored_flag)
        )
    bands = list(REPORTED_BANDS)
    for band in attempts["band"].drop_nulls().unique().sort().to_list():
        if band not in bands:
            bands.append(band)
    rows = []
    for band in bands:
        of_band = population.filter(pl.col("band") == band)
        observed = of_band["observed_delay_s"].drop_nulls().to_numpy()
        placed = of_band.filter(~censored_flag)
        predicted = placed["predicted_delay_s"].drop_nulls().to_numpy()
        censored = of_band.height - placed.height
        row: dict[str, object] = {"band": band}
        sides = (
            ("observed", distribution_summary(observed)),
            ("predicted", censored_summary(predicted, censored)),
        )
        for side, summary in sides:
            for statistic in STATISTICS:
                suffix = "" if statistic == "n" else "_s"
                row[f"{side}_{statistic}{suffix}"] = summary[statistic]
        row["predicted_censored"] = censored
        row["ks_distance"] = ks_distance(observed, predicted, censored)
        rows.append(row)
    schema = {"band": pl.String}
    for side in ("observed", "predicted"):
        schema[f"{side}_n"] = pl.Int64
        for statistic in STATISTICS[1:]:
            schema[f"{side}_{statistic}_s"] = pl.Float64
    schema["predicted_censored"] = pl.Int64
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
