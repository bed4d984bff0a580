"""Bursts of removals in time, and their concentration on a platform."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from muosm_perf.analysis.bursts import (
    burst_summary,
    bursts,
    dispersion_index,
    label_bursts,
    poisson_expected_bursts,
    same_group_share,
)
from muosm_perf.errors import ParameterError


def removals(times_s, platforms=None, cells=None):
    count = len(times_s)
    return pl.DataFrame(
        {
            "time_us": [round(t * 1e6) for t in times_s],
            "cell_id": list(range(count)) if cells is None else cells,
            "platform": ["p"] * count if platforms is None else platforms,
            "domain": [None] * count,
        },
        schema={
            "time_us": pl.Int64,
            "cell_id": pl.Int64,
            "platform": pl.String,
            "domain": pl.String,
        },
    )


def test_labels_join_gap_equal_to_window():
    times = np.array([0, 10_000_000, 20_000_001, 20_000_002, 100_000_000])
    assert label_bursts(times, 10.0).tolist() == [0, 0, 1, 1, 2]


def test_labels_empty_and_one():
    assert label_bursts(np.array([], dtype=np.int64), 5.0).tolist() == []
    assert label_bursts(np.array([42]), 5.0).tolist() == [0]


def test_labels_reject_unsorted():
    with pytest.raises(ParameterError, match="sorted ascending"):
        label_bursts(np.array([5, 3]), 1.0)


def test_labels_reject_negative_window():
    with pytest.raises(ParameterError, match="window_s must be finite"):
        label_bursts(np.array([1]), -1.0)


def test_bursts_table():
    table = bursts(
        removals([0, 1, 2, 50, 51, 200], platforms=["a", "a", "b", "b", "b", "a"]),
        window_s=5.0,
    )
    assert table["removals"].to_list() == [3, 2, 1]
    assert table["span_s"].to_list() == [2.0, 1.0, 0.0]
    assert table["top_platform"].to_list() == ["a", "b", "a"]
    assert table["top_platform_share"].to_list() == pytest.approx([2 / 3, 1.0, 1.0])
    assert table["platforms"].to_list() == [2, 1, 1]
    assert table["domains"].to_list() == [0, 0, 0]


def test_poisson_expected_formula():
    p = 1 - math.exp(-0.1 * 2.0)
    assert poisson_expected_bursts(1000, 0.1, 2.0, 3) == pytest.approx(
        1000 * (1 - p) * p**2
    )


def test_poisson_expected_matches_simulation():
    rng = np.random.default_rng(12)
    rate, window, removals_count, size = 0.05, 5.0, 4000, 2
    counts = []
    for _ in range(200):
        gaps = rng.exponential(1 / rate, size=removals_count)
        times = np.round(np.cumsum(gaps) * 1e6).astype(np.int64)
        labels = label_bursts(times, window)
        counts.append(int((np.bincount(labels) >= size).sum()))
    expected = poisson_expected_bursts(removals_count, rate, window, size)
    # The mean of 200 draws has a standard error near sqrt(expected / 200) < 1.
    assert np.mean(counts) == pytest.approx(expected, abs=3.0)


def test_same_group_share_exact():
    table = removals(
        [0, 1, 2, 100, 101], platforms=["a", "a", "b", "b", "b"], cells=[1, 2, 3, 4, 4]
    )
    platform = same_group_share(table, "platform", window_s=5.0)
    assert platform["close_pairs"] == 3
    assert platform["same_group"] == 2
    assert platform["share"] == pytest.approx(2 / 3)
    assert platform["expected_share"] == pytest.approx((2 / 5) ** 2 + (3 / 5) ** 2)
    machine = same_group_share(table, "cell_id", window_s=5.0)
    assert machine["same_group"] == 1


def test_same_group_share_without_pairs():
    result = same_group_share(removals([0, 100]), "platform", window_s=1.0)
    assert result["close_pairs"] == 0
    assert result["share"] is None
    assert result["ratio"] is None


def test_dispersion_index_even_counts_is_zero():
    times = [h * 3600 + 10 for h in range(10)]
    assert dispersion_index(removals(times), 0, 36_000_000_000) == pytest.approx(0.0)


def test_dispersion_index_exact():
    # Counts per hour 3, 0, 1, 0: mean 1, variance (4 + 1 + 0 + 1) / 4.
    times = [10, 20, 30, 2 * 3600 + 5]
    assert dispersion_index(removals(times), 0, 4 * 3_600_000_000) == pytest.approx(1.5)


def test_burst_summary_counts():
    times = [0, 1, 2, 3, 1000, 1001, 1002, 5000]
    summary = burst_summary(removals(times), 0, 10_000_000_000, window_s=5.0)
    assert summary["bursts"] == 2
    assert summary["removals_in_bursts"] == 7
    assert summary["size_counts"] == {"3": 1, "4": 1}
    assert summary["largest"][0]["removals"] == 4
    assert summary["bursts_per_day"] == pytest.approx(2 / (10_000 / 86_400))
    windows = [row["window_s"] for row in summary["sensitivity"]]
    assert windows == [1.0, 10.0, 60.0, 300.0]
