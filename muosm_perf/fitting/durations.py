"""Fit candidate distributions to a sample of positive durations and choose one.

The candidates, all with their origin at 0 and fitted by maximum likelihood:

- exponential (closed form: scale = mean);
- lognormal (closed form: the mean and standard deviation of log x);
- Weibull and gamma (SciPy's numerical MLE with ``floc=0``);
- Pareto type I (closed form: scale = min x, shape = n / Σ ln(x / scale));
- hyperexponential with ``phases`` phases (EM, see
  :mod:`muosm_perf.fitting.hyperexponential`).

Each candidate gets its log-likelihood, AIC = 2 k - 2 ln L (k free parameters),
the Kolmogorov-Smirnov statistic and p-value, and the Anderson-Darling statistic;
the best is the smallest value of the chosen criterion.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.stats

from muosm_perf.errors import ParameterError
from muosm_perf.fitting.goodness import anderson_darling, kolmogorov_smirnov
from muosm_perf.fitting.hyperexponential import fit_hyperexponential

logger = logging.getLogger(__name__)

FAMILIES = (
    "exponential",
    "lognormal",
    "weibull",
    "gamma",
    "pareto",
    "hyperexponential",
)
"""Candidate families, in the order they are fitted and reported."""

CRITERIA = ("aic", "ks", "anderson_darling")
"""Criteria for choosing the best candidate; each is minimized."""


@dataclass(frozen=True)
class FittedDistribution:
    """One candidate fitted to a sample.

    Attributes
    ----------
    family
        Name from :data:`FAMILIES`.
    distribution
        Frozen distribution with ``cdf``, ``ppf``, ``rvs``, ``mean`` and ``var``.
    parameters
        The fitted parameters by name, in the sample's time unit.
    log_likelihood, aic, ks_statistic, ks_pvalue, anderson_darling
        Fit statistics; see :mod:`muosm_perf.fitting.goodness` for the caveat on
        p-values.
    """

    family: str
    distribution: object = field(repr=False)
    parameters: dict
    log_likelihood: float
    aic: float
    ks_statistic: float
    ks_pvalue: float
    anderson_darling: float

    def as_dict(self) -> dict:
        """Return the candidate without its distribution object, for JSON."""
        return {
            "family": self.family,
            "parameters": self.parameters,
            "log_likelihood": self.log_likelihood,
            "aic": self.aic,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "anderson_darling": self.anderson_darling,
        }


@dataclass(frozen=True)
class DurationFit:
    """All candidates fitted to one sample, and the chosen one."""

    candidates: list[FittedDistribution]
    criterion: str
    sample_size: int
    sample_mean: float
    sample_scv: float

    @property
    def best(self) -> FittedDistribution:
        """The candidate with the smallest value of the criterion."""
        key = {"aic": "aic", "ks": "ks_statistic"}.get(self.criterion, self.criterion)
        finite = [c for c in self.candidates if math.isfinite(getattr(c, key))]
        return min(finite, key=lambda candidate: getattr(candidate, key))

    def as_dict(self) -> dict:
        """Return the fit as a JSON-ready dictionary."""
        return {
            "criterion": self.criterion,
            "sample_size": self.sample_size,
            "sample_mean": self.sample_mean,
            "sample_scv": self.sample_scv,
            "best": self.best.family,
            "candidates": [c.as_dict() for c in self.candidates],
        }


def _fit_family(family: str, values: np.ndarray, phases: int):
    """Return (frozen distribution, parameters, number of free parameters)."""
    if family == "exponential":
        scale = float(values.mean())
        return scipy.stats.expon(scale=scale), {"scale": scale}, 1
    if family == "lognormal":
        logs = np.log(values)
        sigma, mu = float(logs.std()), float(logs.mean())
        if sigma == 0:
            raise ParameterError("all values are equal; a lognormal has no spread")
        return (
            scipy.stats.lognorm(s=sigma, scale=math.exp(mu)),
            {"sigma": sigma, "mu": mu},
            2,
        )
    if family == "weibull":
        shape, _, scale = scipy.stats.weibull_min.fit(values, floc=0)
        return (
            scipy.stats.weibull_min(shape, scale=scale),
            {"shape": float(shape), "scale": float(scale)},
            2,
        )
    if family == "gamma":
        shape, _, scale = scipy.stats.gamma.fit(values, floc=0)
        return (
            scipy.stats.gamma(shape, scale=scale),
            {"shape": float(shape), "scale": float(scale)},
            2,
        )
    if family == "pareto":
        scale = float(values.min())
        logs = np.log(values / scale).sum()
        if logs == 0:
            raise ParameterError("all values are equal; a Pareto has no tail")
        shape = values.size / float(logs)
        return (
            scipy.stats.pareto(shape, scale=scale),
            {"shape": shape, "scale": scale},
            2,
        )
    if family == "hyperexponential":
        distribution, _ = fit_hyperexponential(values, phases)
        return (
            distribution,
            {
                "probabilities": list(distribution.probabilities),
                "rates": list(distribution.rates),
            },
            2 * len(distribution.rates) - 1,
        )
    raise ParameterError(f"unknown family {family!r}; choose from {FAMILIES}")


def fit_durations(
    sample: object,
    families: tuple[str, ...] = FAMILIES,
    *,
    criterion: str = "aic",
    phases: int = 2,
) -> DurationFit:
    """Fit each family to a sample of positive durations and rank them.

    Parameters
    ----------
    sample
        Durations > 0 in any time unit (the fitted parameters use the same unit).
    families
        Candidate families, a subset of :data:`FAMILIES`.
    criterion
        ``"aic"`` (default), ``"ks"`` or ``"anderson_darling"``: the best candidate
        minimizes it.
    phases
        Phases of the hyperexponential candidate.

    Raises
    ------
    ParameterError
        If the sample has fewer than 2 values, a value <= 0 or not finite, or an
        unknown family or criterion is named. A family whose fit fails on this
        sample (for example a Pareto on equal values) is left out with a warning.
    """
    if criterion not in CRITERIA:
        raise ParameterError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ParameterError(f"unknown families {unknown}; choose from {FAMILIES}")
    values = np.sort(np.asarray(sample, dtype=float).ravel())
    if values.size < 2:
        raise ParameterError(f"need at least 2 durations to fit, got {values.size}")
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ParameterError(
            f"durations must be finite and > 0, but {int(bad.sum())} are not (first "
            f"{float(values[np.argmax(bad)])!r}); drop zeros and censored values first"
        )

    candidates = []
    for family in families:
        try:
            distribution, parameters, free = _fit_family(family, values, phases)
        except (ParameterError, ValueError, RuntimeError) as error:
            logger.warning("fitting %s failed and is skipped: %s", family, error)
            continue
        log_likelihood = float(np.sum(distribution.logpdf(values)))
        ks_statistic, ks_pvalue = kolmogorov_smirnov(values, distribution)
        candidates.append(
            FittedDistribution(
                family=family,
                distribution=distribution,
                parameters=parameters,
                log_likelihood=log_likelihood,
                aic=2.0 * free - 2.0 * log_likelihood,
                ks_statistic=ks_statistic,
                ks_pvalue=ks_pvalue,
                anderson_darling=anderson_darling(values, distribution),
            )
        )
    if not candidates:
        raise ParameterError("no family could be fitted to the sample")
    mean = float(values.mean())
    return DurationFit(
        candidates, criterion, int(values.size), mean, float(values.var() / mean**2)
    )
