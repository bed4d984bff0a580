"""Maximum-likelihood fits of duration distributions to right-censored samples.

Up times of machines are often still going on when a trace ends, so a fit that
dropped them, or treated them as complete, would bias every figure that follows.
Here each censored duration adds log S(t) to the likelihood instead of log f(t)
(SciPy's :class:`scipy.stats.CensoredData`).

Goodness of fit is the Kolmogorov-Smirnov distance between the fitted survival
function and the Kaplan-Meier estimate, which is the usual KS statistic when nothing
is censored. Its p-value comes from a parametric bootstrap that refits every draw
and censors it as the data were censored, because the textbook KS p-value is wrong
once parameters are estimated from the same sample. The Anderson-Darling statistic
is given for samples without censoring.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from muosm_perf.analysis.survival import check_durations, kaplan_meier
from muosm_perf.errors import ParameterError
from muosm_perf.fitting.goodness import anderson_darling

logger = logging.getLogger(__name__)

FAMILIES = ("weibull", "exponential", "lognormal")
"""Distribution families fitted by default, all with location 0."""


@dataclass(frozen=True)
class CensoredFit:
    """One distribution fitted to a right-censored sample of durations.

    Attributes
    ----------
    family
        ``weibull``, ``exponential`` or ``lognormal``.
    parameters
        Weibull: ``shape`` and ``scale_s``; exponential: ``scale_s`` (the mean);
        lognormal: ``sigma`` (of the log) and ``scale_s`` (the median, e^mu).
    log_likelihood
        Maximized log-likelihood, densities in 1/s.
    aic
        Akaike information criterion, 2k - 2 log L; lower is better.
    ks_distance
        sup_t |S_KM(t) - S_fit(t)| up to the longest observed duration.
    ks_p_value
        Parametric-bootstrap p-value of ``ks_distance``; None if not computed.
    anderson_darling
        A^2 of the fitted CDF; None when the sample has censored durations.
    """

    family: str
    parameters: dict[str, float]
    log_likelihood: float
    aic: float
    ks_distance: float
    ks_p_value: float | None = None
    anderson_darling: float | None = None

    def distribution(self) -> stats.rv_continuous:
        """Return the fitted SciPy distribution (frozen, location 0)."""
        return _frozen(self.family, self.parameters)

    @property
    def mean_s(self) -> float:
        """Mean of the fitted distribution in seconds."""
        return float(self.distribution().mean())

    @property
    def median_s(self) -> float:
        """Median of the fitted distribution in seconds."""
        return float(self.distribution().median())

    def as_dict(self) -> dict[str, object]:
        """Return the fit as JSON-serializable values."""
        return {
            "family": self.family,
            "parameters": self.parameters,
            "mean_s": self.mean_s,
            "median_s": self.median_s,
            "log_likelihood": self.log_likelihood,
            "aic": self.aic,
            "ks_distance": self.ks_distance,
            "ks_p_value": self.ks_p_value,
            "anderson_darling": self.anderson_darling,
        }


@dataclass(frozen=True)
class FitComparison:
    """Fits of several families to one sample, best (lowest AIC) first.

    Attributes
    ----------
    fits
        One :class:`CensoredFit` per family, sorted by AIC.
    observations
        Durations fitted (positive ones).
    censored
        How many of them are right-censored.
    excluded_nonpositive
        Durations of zero left out: no family here has mass at zero.
    bootstrap_samples
        Draws behind each ``ks_p_value`` (0 when not computed).
    """

    fits: list[CensoredFit] = field(default_factory=list)
    observations: int = 0
    censored: int = 0
    excluded_nonpositive: int = 0
    bootstrap_samples: int = 0

    @property
    def best(self) -> CensoredFit | None:
        """The fit with the lowest AIC, or None if nothing was fitted."""
        return self.fits[0] if self.fits else None

    def as_dict(self) -> dict[str, object]:
        """Return the comparison as JSON-serializable values."""
        return {
            "observations": self.observations,
            "censored": self.censored,
            "excluded_nonpositive": self.excluded_nonpositive,
            "bootstrap_samples": self.bootstrap_samples,
            "best": None if self.best is None else self.best.family,
            "fits": [fit.as_dict() for fit in self.fits],
        }


def _frozen(family: str, parameters: dict[str, float]) -> stats.rv_continuous:
    if family == "weibull":
        return stats.weibull_min(parameters["shape"], scale=parameters["scale_s"])
    if family == "exponential":
        return stats.expon(scale=parameters["scale_s"])
    if family == "lognormal":
        return stats.lognorm(parameters["sigma"], scale=parameters["scale_s"])
    raise ParameterError(
        f"unknown distribution family {family!r}; choose from {', '.join(FAMILIES)}"
    )


_PARAMETER_COUNT = {"weibull": 2, "exponential": 1, "lognormal": 2}


def _maximize(
    family: str, durations: np.ndarray, censored: np.ndarray
) -> dict[str, float]:
    """Return maximum-likelihood parameters (location fixed at 0)."""
    events = int((~censored).sum())
    if family == "exponential":
        # Closed form: total time at risk over the number of uncensored durations.
        return {"scale_s": float(durations.sum() / events)}

    # Fit in units of the sample mean, so that the optimizer works on values near 1.
    unit = float(durations.mean())
    scaled = durations / unit
    data = stats.CensoredData(uncensored=scaled[~censored], right=scaled[censored])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if family == "weibull":
            shape, _, scale = stats.weibull_min.fit(data, floc=0)
            return {"shape": float(shape), "scale_s": float(scale * unit)}
        sigma, _, scale = stats.lognorm.fit(data, floc=0)
    return {"sigma": float(sigma), "scale_s": float(scale * unit)}


def _log_likelihood(
    distribution: stats.rv_continuous, durations: np.ndarray, censored: np.ndarray
) -> float:
    return float(
        distribution.logpdf(durations[~censored]).sum()
        + distribution.logsf(durations[censored]).sum()
    )


def ks_distance_to_km(
    distribution: stats.rv_continuous, durations: np.ndarray, censored: np.ndarray
) -> float:
    """Return sup_t |S_KM(t) - S_fit(t)| over 0 <= t <= the longest duration.

    Between two event times the Kaplan-Meier curve is flat and S_fit decreases, so
    the supremum is reached at an event time, just before one, or at the longest
    duration. Without censoring this is the one-sample KS statistic.
    """
    curve = kaplan_meier(durations, censored)
    if curve.time_s.size == 0:
        return float("nan")
    fitted = distribution.sf(curve.time_s)
    before = np.concatenate([[1.0], curve.survival[:-1]])
    distance = max(np.abs(curve.survival - fitted).max(), np.abs(before - fitted).max())
    tail = abs(curve.survival[-1] - distribution.sf(durations.max()))
    return float(max(distance, tail))


def _fit_one(
    family: str, durations: np.ndarray, censored: np.ndarray
) -> tuple[dict[str, float], stats.rv_continuous]:
    parameters = _maximize(family, durations, censored)
    return parameters, _frozen(family, parameters)


def _bootstrap_p_value(
    family: str,
    distribution: stats.rv_continuous,
    observed_distance: float,
    limits: np.ndarray,
    rng: np.random.Generator,
    samples: int,
) -> float:
    """Return (1 + #{D* >= D}) / (draws + 1) from refitted, re-censored draws.

    A draw in which every duration is censored cannot be fitted and is not counted.
    """
    exceed = 0
    draws = 0
    for _ in range(samples):
        draw = distribution.rvs(size=limits.size, random_state=rng)
        draw = np.maximum(draw, np.finfo(float).tiny)
        censored = draw > limits
        observed = np.where(censored, limits, draw)
        if censored.all():
            continue
        draws += 1
        _, refitted = _fit_one(family, observed, censored)
        if ks_distance_to_km(refitted, observed, censored) >= observed_distance:
            exceed += 1
    return (1 + exceed) / (draws + 1)


def fit_censored_durations(
    durations_s: np.ndarray,
    censored: np.ndarray | None = None,
    *,
    families: tuple[str, ...] = FAMILIES,
    censor_limits_s: np.ndarray | None = None,
    bootstrap_samples: int = 0,
    rng: np.random.Generator | None = None,
) -> FitComparison:
    """Fit distribution families to durations, right-censored where flagged.

    Parameters
    ----------
    durations_s
        Observed durations in seconds (non-negative; zeros are left out).
    censored
        True where a duration is right-censored; None means none is.
    families
        Families to fit, from :data:`FAMILIES`.
    censor_limits_s
        For every duration, the longest value it could have shown before
        observation stopped (seconds; ``inf`` when unlimited). Needed for the
        bootstrap p-value of a censored sample, so that draws are censored alike.
    bootstrap_samples
        Parametric-bootstrap draws per family for the KS p-value; 0 skips it.
        Each draw refits the family, so the cost grows linearly.
    rng
        Random generator for the bootstrap; required when ``bootstrap_samples`` > 0.

    Returns
    -------
    FitComparison
        Empty when no positive uncensored duration exists.

    Raises
    ------
    ParameterError
        On an unknown family, invalid durations, or a bootstrap requested without
        ``rng`` or, for a censored sample, without ``censor_limits_s``.
    """
    durations = np.ascontiguousarray(durations_s, dtype=np.float64)
    flags = np.zeros(durations.shape, dtype=np.bool_) if censored is None else censored
    durations, flags = check_durations(durations, flags)
    for family in families:
        if family not in _PARAMETER_COUNT:
            raise ParameterError(
                f"unknown distribution family {family!r}; choose from "
                f"{', '.join(FAMILIES)}"
            )
    if bootstrap_samples < 0:
        raise ParameterError(
            f"bootstrap_samples must be non-negative, got {bootstrap_samples!r}"
        )
    if bootstrap_samples and rng is None:
        raise ParameterError(
            "bootstrap_samples > 0 needs rng, e.g. numpy.random.default_rng(seed)"
        )

    positive = durations > 0
    limits = (
        np.full(durations.shape, np.inf)
        if censor_limits_s is None
        else np.ascontiguousarray(censor_limits_s, dtype=np.float64)
    )
    if limits.shape != durations.shape:
        raise ParameterError(
            f"censor_limits_s has shape {limits.shape} but durations_s has "
            f"{durations.shape}; give one limit per duration"
        )
    if bootstrap_samples and censor_limits_s is None and flags.any():
        raise ParameterError(
            "a bootstrap p-value of a censored sample needs censor_limits_s, the "
            "longest value each duration could have shown"
        )
    excluded = int((~positive).sum())
    durations, flags, limits = durations[positive], flags[positive], limits[positive]
    result = FitComparison(
        observations=int(durations.size),
        censored=int(flags.sum()),
        excluded_nonpositive=excluded,
        bootstrap_samples=bootstrap_samples,
    )
    if (~flags).sum() == 0:
        return result

    for family in families:
        parameters, distribution = _fit_one(family, durations, flags)
        log_likelihood = _log_likelihood(distribution, durations, flags)
        distance = ks_distance_to_km(distribution, durations, flags)
        p_value = None
        if bootstrap_samples:
            p_value = _bootstrap_p_value(
                family, distribution, distance, limits, rng, bootstrap_samples
            )
        result.fits.append(
            CensoredFit(
                family=family,
                parameters=parameters,
                log_likelihood=log_likelihood,
                aic=2 * _PARAMETER_COUNT[family] - 2 * log_likelihood,
                ks_distance=distance,
                ks_p_value=p_value,
                anderson_darling=None
                if flags.any()
                else anderson_darling(np.sort(durations), distribution),
            )
        )
    result.fits.sort(key=lambda fit: fit.aic)
    logger.debug(
        "fitted %d durations (%d censored): best %s",
        result.observations,
        result.censored,
        result.best.family,
    )
    return result
