"""Tests of the closed forms behind the synthetic trace's arrival rate.

Each closed form is compared with numerical integration (exact to quadrature
precision) or with seeded draws from the job factory, with tolerances of about five
standard errors of the sample.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from muosm_perf.traces._synthetic_workload import (
    JobFactory,
    capped_lognormal_mean,
    mean_task_count,
    run_time_survival,
)


@pytest.mark.parametrize(
    ("median", "sigma", "cap"), [(300.0, 1.2, 259_200.0), (0.025, 0.8, 0.5)]
)
def test_capped_lognormal_mean_matches_quadrature(median, sigma, cap):
    law = stats.lognorm(s=sigma, scale=median)
    below, _ = integrate.quad(lambda x: x * law.pdf(x), 0, cap, limit=200)
    expected = below + cap * law.sf(cap)
    assert capped_lognormal_mean(median, sigma, cap) == pytest.approx(
        expected, rel=1e-7
    )


def test_capped_lognormal_mean_without_cap_effect():
    mean = capped_lognormal_mean(1.0, 0.5, 1e12)
    assert mean == pytest.approx(math.exp(0.125), rel=1e-12)


def test_mean_task_count_matches_draws():
    factory = JobFactory(np.random.default_rng(1), max_tasks=50, users=3)
    draws = np.array([factory.draw_task_count() for _ in range(200_000)])
    standard_error = draws.std() / math.sqrt(draws.size)
    assert abs(draws.mean() - mean_task_count(50)) < 5 * standard_error
    assert draws.min() == 1
    assert draws.max() == 50


def test_run_time_survival_matches_draws():
    factory = JobFactory(np.random.default_rng(2), max_tasks=10, users=3)
    draws = np.array([factory.draw_duration_s() for _ in range(100_000)])
    points = np.array([10.0, 300.0, 1800.0, 20_000.0, 200_000.0])
    expected = run_time_survival(points)
    for point, share in zip(points, expected, strict=True):
        observed = float(np.mean(draws > point))
        # Binomial standard error is at most 0.5 / sqrt(n) = 0.0016.
        assert abs(observed - share) < 0.008, point
    assert run_time_survival(np.array([3 * 86_400.0]))[0] == 0.0
