"""Kaplan-Meier curves and mean-time estimates against exact values."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from muosm_perf.analysis.survival import (
    kaplan_meier,
    mean_time_bootstrap,
    mean_time_chi_square,
)
from muosm_perf.errors import ParameterError


def reference_kaplan_meier(durations, censored):
    """Product-limit estimate by the definition, with exact fractions."""
    times = sorted({d for d, c in zip(durations, censored, strict=True) if not c})
    survival = Fraction(1)
    result = []
    for t in times:
        at_risk = sum(1 for d in durations if d >= t)
        events = sum(
            1 for d, c in zip(durations, censored, strict=True) if d == t and not c
        )
        survival *= Fraction(at_risk - events, at_risk)
        result.append((t, survival, at_risk, events))
    return result


def test_kaplan_meier_hand_example():
    # A censored duration at an event time (2) is still at risk at that time.
    curve = kaplan_meier(
        np.array([1, 2, 2, 3, 4, 5.0]), np.array([0, 0, 1, 0, 1, 0], dtype=bool)
    )
    assert curve.time_s.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert curve.survival == pytest.approx([5 / 6, 4 / 6, 4 / 9, 0.0])
    assert curve.at_risk.tolist() == [6, 5, 3, 1]
    assert curve.events.tolist() == [1, 1, 1, 1]
    assert curve.observations == 6
    assert curve.censored == 2
    assert curve.quantile_s(0.5) == 3.0


def test_kaplan_meier_log_log_band():
    curve = kaplan_meier(
        np.array([1, 2, 2, 3, 4, 5.0]), np.array([0, 0, 1, 0, 1, 0], dtype=bool)
    )
    z = stats.norm.ppf(0.975)
    # Greenwood: Var(log S) = sum d / (n (n - d)); log(-log S) scale.
    greenwood = 0.0
    for index, (n, d) in enumerate([(6, 1), (5, 1), (3, 1)]):
        greenwood += d / (n * (n - d))
        s = curve.survival[index]
        spread = z * math.sqrt(greenwood) / abs(math.log(s))
        assert curve.lower[index] == pytest.approx(s ** math.exp(spread))
        assert curve.upper[index] == pytest.approx(s ** math.exp(-spread))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.booleans()), min_size=1, max_size=25))
def test_kaplan_meier_matches_reference(pairs):
    durations = [float(d) for d, _ in pairs]
    censored = [c for _, c in pairs]
    curve = kaplan_meier(np.array(durations), np.array(censored, dtype=bool))
    expected = reference_kaplan_meier(durations, censored)
    assert curve.time_s.tolist() == [row[0] for row in expected]
    assert curve.survival == pytest.approx([float(row[1]) for row in expected])
    assert curve.at_risk.tolist() == [row[2] for row in expected]
    assert curve.events.tolist() == [row[3] for row in expected]


def test_kaplan_meier_all_censored_is_empty():
    curve = kaplan_meier(np.array([3.0, 4.0]), np.array([True, True]))
    assert curve.time_s.size == 0
    assert curve.censored == 2
    assert curve.quantile_s(0.5) is None


def test_kaplan_meier_one_row():
    curve = kaplan_meier(np.array([7.0]), np.array([False]))
    assert curve.survival.tolist() == [0.0]
    assert curve.survival_at(np.array([6.9, 7.0])).tolist() == [1.0, 0.0]


def test_kaplan_meier_rejects_negative():
    with pytest.raises(ParameterError, match=r"durations_s\[1\] is -1.0"):
        kaplan_meier(np.array([1.0, -1.0]), np.array([False, False]))


def test_chi_square_interval_is_exact_poisson():
    exposure, events = 5000.0, 7
    estimate = mean_time_chi_square(exposure, events, confidence=0.9)
    assert estimate.mean_s == pytest.approx(exposure / events)
    # The bounds are the means at which observing at most (at least) r events in
    # time T has probability a/2 (time-terminated test).
    assert stats.poisson.cdf(events, exposure / estimate.lower_s) == pytest.approx(0.05)
    assert stats.poisson.sf(events - 1, exposure / estimate.upper_s) == pytest.approx(
        0.05
    )


def test_chi_square_without_events_is_unbounded():
    estimate = mean_time_chi_square(1000.0, 0)
    assert estimate.mean_s is None
    assert estimate.upper_s is None
    # No event in T: the lower bound solves exp(-T / m) = a / 2.
    assert estimate.lower_s == pytest.approx(1000.0 / -math.log(0.025))


def test_chi_square_rejects_negative_exposure():
    with pytest.raises(ParameterError, match="exposure_s must be finite"):
        mean_time_chi_square(-1.0, 3)


def test_bootstrap_identical_units_collapse():
    estimate = mean_time_bootstrap(
        np.full(50, 100.0), np.full(50, 2), rng=np.random.default_rng(1), samples=200
    )
    assert estimate.mean_s == pytest.approx(50.0)
    assert estimate.lower_s == pytest.approx(50.0)
    assert estimate.upper_s == pytest.approx(50.0)


def test_bootstrap_interval_brackets_estimate():
    rng = np.random.default_rng(7)
    exposure = rng.exponential(1000.0, size=400)
    events = rng.poisson(2.0, size=400)
    estimate = mean_time_bootstrap(exposure, events, rng=rng, samples=500)
    assert estimate.lower_s < estimate.mean_s < estimate.upper_s
    assert estimate.events == int(events.sum())


def test_bootstrap_seed_reproducible():
    exposure = np.arange(1.0, 21.0)
    events = np.arange(20) % 3
    first = mean_time_bootstrap(
        exposure, events, rng=np.random.default_rng(3), samples=100
    )
    second = mean_time_bootstrap(
        exposure, events, rng=np.random.default_rng(3), samples=100
    )
    assert first == second


def test_bootstrap_without_events_unbounded():
    estimate = mean_time_bootstrap(
        np.ones(5), np.zeros(5), rng=np.random.default_rng(0), samples=20
    )
    assert estimate.mean_s is None
    assert estimate.upper_s is None


def test_bootstrap_rejects_mismatched_lengths():
    with pytest.raises(ParameterError, match="equal length"):
        mean_time_bootstrap(
            np.ones(3), np.ones(4), rng=np.random.default_rng(0), samples=10
        )
