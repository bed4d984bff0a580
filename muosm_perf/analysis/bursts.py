"""Correlated failures: removals close in time, and on one platform or switch.

A *burst* is a maximal run of removals in which each removal follows the previous
one within ``window_s`` seconds (single-linkage clustering in time). The baseline is
a homogeneous Poisson process with the observed removal rate: its gaps are
independent and exponential, so a gap is at most ``w`` with probability
p = 1 - exp(-rate * w). A burst of ``m`` removals is a long gap, m - 1 short gaps
and another long gap. Among N removals, about N (1 - p)^2 p^(m - 1) bursts have size
``m``, and about N (1 - p) p^(k - 1) have size ``k`` or more. More bursts than that
means removals are correlated in time.

Correlation in space is measured on the pairs of consecutive removals that are
close in time: the share of those on one platform (or switch, or machine) is
compared with the share expected when the two were drawn independently from the
removals' mix, sum_g s_g^2 with s_g the share of removals in group g.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 10.0
"""Default gap (seconds) that joins two removals into one burst."""

DEFAULT_MIN_SIZE = 3
"""Default smallest number of removals counted as a burst."""

SENSITIVITY_WINDOWS_S = (1.0, 10.0, 60.0, 300.0)
"""Windows (seconds) of the sensitivity table in :func:`burst_summary`."""

LEVEL_COLUMNS = {"machine": "cell_id", "platform": "platform", "domain": "domain"}
"""Fault-cell levels below the whole cell, and their column in removal tables."""


def label_bursts(time_us: np.ndarray, window_s: float) -> np.ndarray:
    """Return a burst number for each removal time (sorted ascending).

    Two consecutive removals belong to one burst when the second follows the first
    by at most ``window_s`` seconds.
    """
    if window_s < 0 or not math.isfinite(window_s):
        raise ParameterError(
            f"window_s must be finite and non-negative seconds, got {window_s!r}"
        )
    times = np.ascontiguousarray(time_us, dtype=np.int64)
    if times.size and (np.diff(times) < 0).any():
        raise ParameterError("time_us must be sorted ascending; sort removals first")
    if times.size == 0:
        return np.empty(0, dtype=np.int64)
    # Compare gaps in integer microseconds, so a gap equal to the window joins.
    window_us = math.floor(window_s * 1e6)
    starts = np.concatenate([[True], np.diff(times) > window_us])
    return np.cumsum(starts) - 1


def bursts(
    removals: pl.DataFrame, *, window_s: float = DEFAULT_WINDOW_S
) -> pl.DataFrame:
    """Group removals into bursts and describe each burst.

    Parameters
    ----------
    removals
        Removal instants with ``time_us``, ``cell_id``, ``platform`` and ``domain``
        (as from :func:`muosm_perf.analysis.outages.removal_times`).
    window_s
        Largest gap in seconds between consecutive removals of one burst.

    Returns
    -------
    polars.DataFrame
        One row per burst (single removals included): ``burst``, ``start_us``,
        ``end_us``, ``span_s``, ``removals``, ``machines`` (distinct),
        ``platforms`` and ``domains`` (distinct non-null), ``top_platform`` and
        ``top_platform_share`` (the platform with most removals in the burst).
    """
    ordered = removals.sort("time_us", "cell_id")
    labels = label_bursts(ordered["time_us"].to_numpy(), window_s)
    labelled = ordered.with_columns(pl.Series("burst", labels, dtype=pl.Int64))
    top = (
        labelled.group_by("burst", "platform")
        .len()
        .sort("burst", "len", "platform", descending=[False, True, False])
        .group_by("burst", maintain_order=True)
        .first()
        .select("burst", pl.col("platform").alias("top_platform"), "len")
    )
    return (
        labelled.group_by("burst")
        .agg(
            pl.col("time_us").min().alias("start_us"),
            pl.col("time_us").max().alias("end_us"),
            pl.len().alias("removals"),
            pl.col("cell_id").n_unique().alias("machines"),
            pl.col("platform").drop_nulls().n_unique().alias("platforms"),
            pl.col("domain").drop_nulls().n_unique().alias("domains"),
        )
        .join(top, on="burst")
        .with_columns(
            ((pl.col("end_us") - pl.col("start_us")) / 1e6).alias("span_s"),
            (pl.col("len") / pl.col("removals")).alias("top_platform_share"),
        )
        .drop("len")
        .sort("burst")
    )


def poisson_expected_bursts(
    removals: int, rate_per_s: float, window_s: float, min_size: int
) -> float:
    """Return the expected number of bursts of ``min_size`` or more under Poisson.

    N (1 - p) p^(k - 1) with p = 1 - exp(-rate * window); for k = 1 that is N(1 - p)
    plus the last run, which the formula leaves out, so it is about N(1 - p).
    """
    if min_size < 1:
        raise ParameterError(f"min_size must be at least 1, got {min_size!r}")
    short = -math.expm1(-rate_per_s * window_s)
    return removals * (1 - short) * short ** (min_size - 1)


def same_group_share(
    removals: pl.DataFrame, column: str, *, window_s: float
) -> dict[str, Any]:
    """Compare consecutive close removals in one group with independent draws.

    Parameters
    ----------
    removals
        Removal instants with ``time_us`` and ``column``.
    column
        Group column: ``cell_id``, ``platform`` or ``domain``.
    window_s
        Largest gap in seconds for a pair of consecutive removals to count.

    Returns
    -------
    dict
        ``close_pairs`` (consecutive pairs with both group values known),
        ``same_group`` (pairs in one group), ``share`` (their ratio),
        ``expected_share`` (sum of squared group shares among removals) and
        ``ratio`` (share over expected). Shares are None when there is no pair.
    """
    ordered = removals.sort("time_us", "cell_id").select("time_us", column)
    gaps_us = ordered["time_us"].diff()
    groups = ordered[column]
    close = (gaps_us <= math.floor(window_s * 1e6)) & groups.is_not_null()
    close = close & groups.shift(1).is_not_null()
    same = close & (groups == groups.shift(1))
    close_pairs = int(close.fill_null(value=False).sum())
    same_pairs = int(same.fill_null(value=False).sum())
    known = groups.drop_nulls()
    # Sorted, so that the float sum below is the same on every run.
    counts = known.value_counts().sort(column)["count"].to_numpy()
    shares = counts / max(known.len(), 1)
    expected = float((shares**2).sum()) if known.len() else None
    share = same_pairs / close_pairs if close_pairs else None
    return {
        "close_pairs": close_pairs,
        "same_group": same_pairs,
        "share": share,
        "expected_share": expected,
        "ratio": share / expected if share is not None and expected else None,
    }


def dispersion_index(
    removals: pl.DataFrame, start_us: int, end_us: int, *, bin_s: float = 3600.0
) -> float | None:
    """Return variance over mean of removal counts per ``bin_s`` bin.

    A Poisson process gives 1; clustered removals give more. Only whole bins inside
    the window are counted. None when fewer than two bins fit.
    """
    if bin_s <= 0:
        raise ParameterError(f"bin_s must be positive seconds, got {bin_s!r}")
    bins = int((end_us - start_us) // int(bin_s * 1e6))
    if bins < 2:
        return None
    offsets = (removals["time_us"].to_numpy() - start_us) // int(bin_s * 1e6)
    counts = np.bincount(offsets[(offsets >= 0) & (offsets < bins)], minlength=bins)
    mean = counts.mean()
    return float(counts.var() / mean) if mean > 0 else None


def burst_summary(
    removals: pl.DataFrame,
    start_us: int,
    end_us: int,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    min_size: int = DEFAULT_MIN_SIZE,
    largest: int = 5,
) -> dict[str, Any]:
    """Describe correlated removals in a fault cell.

    Parameters
    ----------
    removals
        Removal instants (see :func:`bursts`).
    start_us, end_us
        Observation window on the trace clock.
    window_s
        Largest gap in seconds inside a burst.
    min_size
        Smallest burst counted.
    largest
        How many of the largest bursts to list.

    Returns
    -------
    dict
        ``window_s``, ``min_size``, ``bursts`` (count of size >= ``min_size``),
        ``bursts_per_day``, ``poisson_expected``, ``removals_in_bursts``,
        ``size_counts`` (size -> bursts), ``largest`` (list of bursts),
        ``same_group`` (level -> :func:`same_group_share`), ``dispersion_index_hourly``
        and ``sensitivity`` (the same counts for :data:`SENSITIVITY_WINDOWS_S`).
    """
    days = (end_us - start_us) / 86_400e6
    rate = removals.height / ((end_us - start_us) / 1e6)

    def count(window: float) -> dict[str, Any]:
        table = bursts(removals, window_s=window)
        big = table.filter(pl.col("removals") >= min_size)
        expected = poisson_expected_bursts(removals.height, rate, window, min_size)
        return {
            "window_s": window,
            "bursts": big.height,
            "bursts_per_day": big.height / days if days > 0 else None,
            "poisson_expected": expected,
            "removals_in_bursts": int(big["removals"].sum()),
            "table": big,
        }

    main = count(window_s)
    table = main.pop("table")
    sizes = table.group_by("removals").len().sort("removals")
    levels = {
        level: same_group_share(removals, column, window_s=window_s)
        for level, column in LEVEL_COLUMNS.items()
        if removals[column].null_count() < removals.height
    }
    sensitivity = []
    for window in SENSITIVITY_WINDOWS_S:
        row = count(window)
        row.pop("table")
        sensitivity.append(row)
    largest_rows = (
        table.sort("removals", "start_us", descending=[True, False])
        .head(largest)
        .select(
            (pl.col("start_us") / 1e6).alias("start_s"),
            "span_s",
            "removals",
            "machines",
            "platforms",
            "domains",
            "top_platform",
            "top_platform_share",
        )
    )
    return {
        "min_size": min_size,
        **main,
        "size_counts": {
            str(row["removals"]): int(row["len"]) for row in sizes.iter_rows(named=True)
        },
        "largest": largest_rows.to_dicts(),
        "same_group": levels,
        "dispersion_index_hourly": dispersion_index(removals, start_us, end_us),
        "sensitivity": sensitivity,
    }
