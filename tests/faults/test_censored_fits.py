"""Censored maximum-likelihood fits and their goodness of fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from muosm_perf.analysis.censored_fits import (
    fit_censored_durations,
    ks_distance_to_km,
)
from muosm_perf.errors import ParameterError
from muosm_perf.fitting.goodness import anderson_darling


def censored_weibull_sample(rng, size, shape, scale, limit):
    draws = stats.weibull_min.rvs(shape, scale=scale, size=size, random_state=rng)
    limits = rng.uniform(0, limit, size=size)
    censored = draws > limits
    return np.where(censored, limits, draws), censored, limits


def fit_by_family(comparison):
    return {fit.family: fit for fit in comparison.fits}


def test_exponential_closed_form():
    durations = np.array([10.0, 20.0, 30.0, 40.0])
    censored = np.array([False, True, False, True])
    fits = fit_by_family(
        fit_censored_durations(durations, censored, families=("exponential",))
    )
    # Total time at risk over uncensored durations.
    assert fits["exponential"].parameters["scale_s"] == pytest.approx(100.0 / 2)
    expected = stats.expon(scale=50.0)
    log_likelihood = (
        expected.logpdf([10.0, 30.0]).sum() + expected.logsf([20.0, 40.0]).sum()
    )
    assert fits["exponential"].log_likelihood == pytest.approx(log_likelihood)
    assert fits["exponential"].aic == pytest.approx(2 - 2 * log_likelihood)


def test_weibull_matches_direct_maximization():
    rng = np.random.default_rng(11)
    durations, censored, _ = censored_weibull_sample(rng, 400, 0.6, 1000.0, 4000.0)

    def negative_log_likelihood(log_parameters):
        shape, scale = np.exp(log_parameters)
        model = stats.weibull_min(shape, scale=scale)
        return -(
            model.logpdf(durations[~censored]).sum()
            + model.logsf(durations[censored]).sum()
        )

    best = optimize.minimize(
        negative_log_likelihood,
        x0=[0.0, np.log(durations.mean())],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 5000},
    )
    fits = fit_by_family(
        fit_censored_durations(durations, censored, families=("weibull",))
    )
    weibull = fits["weibull"]
    assert weibull.log_likelihood == pytest.approx(-best.fun, abs=1e-4)
    assert weibull.parameters["shape"] == pytest.approx(np.exp(best.x[0]), rel=1e-3)
    assert weibull.parameters["scale_s"] == pytest.approx(np.exp(best.x[1]), rel=1e-3)


def test_weibull_recovers_parameters():
    rng = np.random.default_rng(5)
    durations, censored, _ = censored_weibull_sample(rng, 20_000, 0.7, 500.0, 3000.0)
    weibull = fit_by_family(fit_censored_durations(durations, censored))["weibull"]
    # With 2*10^4 durations (about a third censored) the standard error of the
    # shape is under 0.01 and of the scale under 2%: 5% covers both.
    assert weibull.parameters["shape"] == pytest.approx(0.7, rel=0.05)
    assert weibull.parameters["scale_s"] == pytest.approx(500.0, rel=0.05)


def test_lognormal_recovers_parameters():
    rng = np.random.default_rng(8)
    draws = stats.lognorm.rvs(1.5, scale=200.0, size=20_000, random_state=rng)
    limits = np.full(draws.size, 2000.0)
    censored = draws > limits
    durations = np.where(censored, limits, draws)
    lognormal = fit_by_family(fit_censored_durations(durations, censored))["lognormal"]
    assert lognormal.parameters["sigma"] == pytest.approx(1.5, rel=0.05)
    assert lognormal.parameters["scale_s"] == pytest.approx(200.0, rel=0.05)


def test_ks_distance_equals_kstest_without_censoring():
    rng = np.random.default_rng(2)
    sample = rng.exponential(3.0, size=300)
    model = stats.expon(scale=2.5)
    distance = ks_distance_to_km(model, sample, np.zeros(sample.size, dtype=bool))
    assert distance == pytest.approx(stats.kstest(sample, model.cdf).statistic)


def test_ks_distance_with_ties_equals_kstest():
    sample = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 5.0])
    model = stats.expon(scale=2.0)
    distance = ks_distance_to_km(model, sample, np.zeros(sample.size, dtype=bool))
    assert distance == pytest.approx(stats.kstest(sample, model.cdf).statistic)


def test_anderson_darling_matches_scipy_exponential():
    rng = np.random.default_rng(4)
    sample = rng.exponential(10.0, size=200)
    fits = fit_by_family(fit_censored_durations(sample, families=("exponential",)))
    # SciPy's exponential test fits the scale as the sample mean, as the MLE does.
    expected = stats.anderson(sample, dist="expon", method="interpolate").statistic
    assert fits["exponential"].anderson_darling == pytest.approx(expected)
    assert anderson_darling(
        np.sort(sample), stats.expon(scale=sample.mean())
    ) == pytest.approx(expected)


def test_anderson_darling_absent_when_censored():
    fits = fit_censored_durations(
        np.array([1.0, 2.0, 3.0]), np.array([False, True, False])
    )
    assert all(fit.anderson_darling is None for fit in fits.fits)


def test_fits_sorted_by_aic():
    rng = np.random.default_rng(9)
    sample = stats.weibull_min.rvs(0.5, scale=100, size=3000, random_state=rng)
    comparison = fit_censored_durations(sample)
    aics = [fit.aic for fit in comparison.fits]
    assert aics == sorted(aics)
    assert comparison.best.family == "weibull"


def test_zero_durations_left_out():
    comparison = fit_censored_durations(
        np.array([0.0, 1.0, 2.0, 3.0]), families=("exponential",)
    )
    assert comparison.excluded_nonpositive == 1
    assert comparison.observations == 3
    assert comparison.best.parameters["scale_s"] == pytest.approx(2.0)


def test_all_censored_gives_no_fit():
    comparison = fit_censored_durations(np.array([5.0, 6.0]), np.array([True, True]))
    assert comparison.fits == []
    assert comparison.best is None


def test_empty_sample_gives_no_fit():
    comparison = fit_censored_durations(np.array([]), np.array([], dtype=bool))
    assert comparison.observations == 0
    assert comparison.best is None


def test_bootstrap_accepts_true_family():
    rng = np.random.default_rng(21)
    durations, censored, limits = censored_weibull_sample(rng, 300, 1.0, 50.0, 150.0)
    comparison = fit_censored_durations(
        durations,
        censored,
        families=("exponential",),
        censor_limits_s=limits,
        bootstrap_samples=39,
        rng=np.random.default_rng(1),
    )
    # Exponential data: the p-value is uniform, so below 0.05 in 5% of seeds.
    assert comparison.best.ks_p_value > 0.05


def test_bootstrap_rejects_wrong_family():
    rng = np.random.default_rng(22)
    durations, censored, limits = censored_weibull_sample(rng, 2000, 0.4, 50.0, 500.0)
    comparison = fit_censored_durations(
        durations,
        censored,
        families=("exponential",),
        censor_limits_s=limits,
        bootstrap_samples=19,
        rng=np.random.default_rng(1),
    )
    assert comparison.best.ks_p_value == pytest.approx(1 / 20)


def test_unknown_family_raises():
    with pytest.raises(ParameterError, match="unknown distribution family 'gamma'"):
        fit_censored_durations(np.array([1.0, 2.0]), families=("gamma",))


def test_bootstrap_without_rng_raises():
    with pytest.raises(ParameterError, match="needs rng"):
        fit_censored_durations(np.array([1.0, 2.0]), bootstrap_samples=5)


def test_bootstrap_of_censored_sample_needs_limits():
    with pytest.raises(ParameterError, match="needs censor_limits_s"):
        fit_censored_durations(
            np.array([1.0, 2.0]),
            np.array([False, True]),
            bootstrap_samples=5,
            rng=np.random.default_rng(0),
        )
