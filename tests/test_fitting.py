import numpy as np
import polars as pl
import pytest
import scipy.stats

from muosm_perf.errors import ParameterError
from muosm_perf.fitting import (
    FAMILIES,
    Hyperexponential,
    fit_durations,
    fit_hyperexponential,
)
from muosm_perf.fitting.bands import band_durations, fit_bands
from muosm_perf.fitting.goodness import anderson_darling
from muosm_perf.model.lifecycle import BAND_DTYPE
from muosm_perf.report.qq import draw_fit_qq_plots

SIZE = 20_000


def _sample(distribution, seed):
    return distribution.rvs(size=SIZE, random_state=np.random.default_rng(seed))


@pytest.mark.parametrize(
    ("distribution", "family"),
    [
        (scipy.stats.expon(scale=2.0), "exponential"),
        (scipy.stats.lognorm(1.2, scale=2.0), "lognormal"),
        (scipy.stats.weibull_min(0.6, scale=3.0), "weibull"),
        (scipy.stats.gamma(3.0, scale=0.5), "gamma"),
        (scipy.stats.pareto(2.5, scale=1.0), "pareto"),
        (Hyperexponential((0.3, 0.7), (0.1, 4.0)), "hyperexponential"),
    ],
)
def test_fit_durations_chooses_generating_family(distribution, family):
    fit = fit_durations(_sample(distribution, 1))
    assert fit.best.family == family
    assert [c.family for c in fit.candidates] == list(FAMILIES)


def test_exponential_fit_recovers_scale():
    fit = fit_durations(_sample(scipy.stats.expon(scale=2.0), 2), ("exponential",))
    # The standard error of the mean of 20,000 exponentials is 2 / √20000 ≈ 0.014.
    assert fit.best.parameters["scale"] == pytest.approx(2.0, abs=0.06)


def test_lognormal_and_weibull_fits_recover_parameters():
    lognormal = fit_durations(_sample(scipy.stats.lognorm(0.8, scale=np.e), 3))
    by_family = {c.family: c for c in lognormal.candidates}
    assert by_family["lognormal"].parameters["sigma"] == pytest.approx(0.8, abs=0.02)
    assert by_family["lognormal"].parameters["mu"] == pytest.approx(1.0, abs=0.02)
    weibull = fit_durations(_sample(scipy.stats.weibull_min(0.6, scale=3.0), 4))
    by_family = {c.family: c for c in weibull.candidates}
    assert by_family["weibull"].parameters["shape"] == pytest.approx(0.6, abs=0.02)
    assert by_family["weibull"].parameters["scale"] == pytest.approx(3.0, rel=0.05)


def test_hyperexponential_em_recovers_phases():
    truth = Hyperexponential((0.3, 0.7), (0.1, 4.0))
    fitted, log_likelihood = fit_hyperexponential(_sample(truth, 5))
    # Phases are sorted fastest first.
    assert fitted.rates[0] == pytest.approx(4.0, rel=0.05)
    assert fitted.rates[1] == pytest.approx(0.1, rel=0.05)
    assert fitted.probabilities[0] == pytest.approx(0.7, abs=0.02)
    assert log_likelihood < 0


def test_hyperexponential_one_phase_is_exponential_mle():
    sample = _sample(scipy.stats.expon(scale=3.0), 6)
    fitted, _ = fit_hyperexponential(sample, phases=1)
    assert fitted.rates[0] == pytest.approx(1 / sample.mean(), rel=1e-12)


def test_hyperexponential_distribution_functions():
    h = Hyperexponential((0.25, 0.75), (0.5, 3.0))
    assert h.mean() == pytest.approx(0.25 / 0.5 + 0.75 / 3.0)
    assert h.var() == pytest.approx(2 * (0.25 / 0.25 + 0.75 / 9.0) - h.mean() ** 2)
    levels = np.array([0.01, 0.5, 0.9, 0.999])
    assert h.cdf(h.ppf(levels)) == pytest.approx(levels, abs=1e-10)
    x = np.array([0.0, 0.3, 2.0, 40.0])
    assert h.cdf(x) + h.sf(x) == pytest.approx(np.ones(4))
    assert h.logsf(400.0) == pytest.approx(np.log(0.25) - 0.5 * 400.0)
    draws = h.rvs(200_000, np.random.default_rng(7))
    # Standard error of the mean: √(var / n) ≈ 0.003.
    assert draws.mean() == pytest.approx(h.mean(), abs=0.015)


def test_hyperexponential_rejects_bad_phases():
    with pytest.raises(ParameterError, match="must be positive and sum to 1"):
        Hyperexponential((0.5, 0.6), (1.0, 2.0))
    with pytest.raises(ParameterError, match="one entry per phase"):
        Hyperexponential((1.0,), (1.0, 2.0))


def test_anderson_darling_matches_scipy_for_exponential():
    sample = np.sort(_sample(scipy.stats.expon(scale=2.0), 8))
    expected = scipy.stats.anderson(
        sample, dist="expon", method="interpolate"
    ).statistic
    fitted = scipy.stats.expon(scale=sample.mean())
    assert anderson_darling(sample, fitted) == pytest.approx(expected, rel=1e-9)


def test_criteria_can_disagree_but_each_is_minimized():
    fit = fit_durations(_sample(scipy.stats.gamma(2.0), 9), criterion="ks")
    assert fit.best.ks_statistic == min(c.ks_statistic for c in fit.candidates)
    fit = fit_durations(
        _sample(scipy.stats.gamma(2.0), 9), criterion="anderson_darling"
    )
    assert fit.best.anderson_darling == min(c.anderson_darling for c in fit.candidates)


def test_fit_durations_rejects_zeros():
    with pytest.raises(ParameterError, match="durations must be finite and > 0"):
        fit_durations([1.0, 0.0, 2.0])


def test_fit_durations_rejects_unknown_names():
    with pytest.raises(ParameterError, match="unknown families"):
        fit_durations([1.0, 2.0], ("cauchy",))
    with pytest.raises(ParameterError, match="criterion must be one of"):
        fit_durations([1.0, 2.0], criterion="bic")
    with pytest.raises(ParameterError, match="at least 2 durations"):
        fit_durations([1.0])


def test_equal_values_skip_families_without_spread(caplog):
    fit = fit_durations([2.0] * 10, ("exponential", "lognormal", "pareto"))
    assert [c.family for c in fit.candidates] == ["exponential"]
    assert "lognormal failed" in caplog.text


def _processes(rows):
    return pl.DataFrame(
        rows,
        schema={
            "band": BAND_DTYPE,
            "submit_time_us": pl.Int64,
            "run_time_us": pl.Int64,
            "scheduling_delay_us": pl.Int64,
        },
        orient="row",
    )


def test_band_durations_interarrival_per_band():
    table = _processes(
        [
            ("free", 3_000_000, 5_000_000, 0),
            ("free", 1_000_000, None, 2_000_000),
            ("middle", 1_000_000, 1_000_000, 1_000_000),
            ("free", 3_000_000, 2_000_000, None),
            ("middle", 4_500_000, None, None),
            (None, 2_000_000, 1_000_000, 1_000_000),
            ("free", None, 1_000_000, 1_000_000),
        ]
    )
    gaps = band_durations(table, "interarrival")
    # free submissions at 1, 3, 3 s give gaps 2 and 0; middle at 1, 4.5 gives 3.5.
    assert sorted(gaps["free"].tolist()) == [0.0, 2.0]
    assert gaps["middle"].tolist() == [3.5]
    assert "production" not in gaps
    service = band_durations(table, "service")
    assert sorted(service["free"].tolist()) == [1.0, 2.0, 5.0]
    delays = band_durations(table, "scheduling_delay")
    assert sorted(delays["free"].tolist()) == [0.0, 1.0, 2.0]


def test_fit_bands_counts_zeros_and_skips_small_bands():
    rng = np.random.default_rng(10)
    submits = np.cumsum(rng.exponential(2e6, 500)).astype(np.int64)
    submits[100:150] = submits[99]
    rows = [("middle", int(t), int(rng.integers(1, 10**7)), 1) for t in submits]
    rows += [("free", 1, 5, 1), ("free", 2, 6, 1)]
    fits = {f.band: f for f in fit_bands(_processes(rows), "interarrival")}
    assert fits["middle"].count == 499
    assert fits["middle"].zero_fraction == pytest.approx(50 / 499)
    assert fits["middle"].fit is not None
    assert fits["middle"].fit.sample_size == 449
    assert fits["free"].fit is None


def test_fit_bands_on_real_sample(google_2011_store, tmp_path):
    processes = google_2011_store.read("processes")
    fits = fit_bands(processes, "service", ("exponential", "lognormal"))
    expected = {}
    for band, run_time in zip(
        processes["band"].to_list(), processes["run_time_us"].to_list(), strict=True
    ):
        if band is not None and run_time is not None:
            expected[band] = expected.get(band, 0) + 1
    assert {f.band: f.count for f in fits} == expected
    middle = next(f for f in fits if f.band == "middle")
    assert middle.fit.best.family in ("exponential", "lognormal")
    sample = band_durations(processes, "service")["middle"]
    path = draw_fit_qq_plots(
        sample[sample > 0], middle.fit, tmp_path / "qq.png", title="service"
    )
    assert path.stat().st_size > 10_000
