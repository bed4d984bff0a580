"""The hyperexponential distribution and its maximum-likelihood fit by EM.

A k-phase hyperexponential draws phase j with probability p_j and then an
exponential time of rate λ_j: f(x) = Σ_j p_j λ_j e^{-λ_j x}. Its squared coefficient
of variation is at least 1, which makes it the usual model of bursty inter-arrival
times and of heavy mixes of short and long jobs. The fit is the
expectation-maximization algorithm for a finite mixture of exponentials (Dempster,
Laird and Rubin, J. R. Statist. Soc. B 39, 1977), computed in log space.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.special

from muosm_perf.errors import ParameterError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hyperexponential:
    """A mixture of exponentials with the methods of a frozen SciPy distribution.

    Parameters
    ----------
    probabilities
        Phase probabilities p_j, positive and summing to 1.
    rates
        Phase rates λ_j, positive, per unit time.
    """

    probabilities: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        p = np.asarray(self.probabilities, dtype=float)
        rates = np.asarray(self.rates, dtype=float)
        if p.ndim != 1 or p.shape != rates.shape or p.size == 0:
            raise ParameterError(
                "probabilities and rates must be 1-D with one entry per phase, got "
                f"{self.probabilities!r} and {self.rates!r}"
            )
        if (p <= 0).any() or abs(p.sum() - 1.0) > 1e-9 or (rates <= 0).any():
            raise ParameterError(
                f"phase probabilities {p.tolist()} must be positive and sum to 1, "
                f"and rates {rates.tolist()} positive"
            )

    @property
    def _p(self) -> np.ndarray:
        return np.asarray(self.probabilities, dtype=float)

    @property
    def _rates(self) -> np.ndarray:
        return np.asarray(self.rates, dtype=float)

    def mean(self) -> float:
        """Return Σ p_j / λ_j."""
        return float((self._p / self._rates).sum())

    def var(self) -> float:
        """Return 2 Σ p_j / λ_j² - mean²."""
        return float(2.0 * (self._p / self._rates**2).sum() - self.mean() ** 2)

    def logpdf(self, x: object) -> np.ndarray:
        """Return log f(x); -inf for x < 0."""
        values = np.asarray(x, dtype=float)[..., None]
        terms = np.log(self._p) + np.log(self._rates) - self._rates * values
        result = scipy.special.logsumexp(terms, axis=-1)
        return np.where(values[..., 0] < 0, -np.inf, result)

    def pdf(self, x: object) -> np.ndarray:
        """Return f(x)."""
        return np.exp(self.logpdf(x))

    def sf(self, x: object) -> np.ndarray:
        """Return P(X > x) = Σ p_j e^{-λ_j x}."""
        values = np.maximum(np.asarray(x, dtype=float), 0.0)[..., None]
        return (self._p * np.exp(-self._rates * values)).sum(axis=-1)

    def logsf(self, x: object) -> np.ndarray:
        """Return log P(X > x), accurate far in the tail."""
        values = np.maximum(np.asarray(x, dtype=float), 0.0)[..., None]
        return scipy.special.logsumexp(np.log(self._p) - self._rates * values, axis=-1)

    def cdf(self, x: object) -> np.ndarray:
        """Return P(X <= x)."""
        values = np.asarray(x, dtype=float)
        return np.where(values < 0, 0.0, -np.expm1(self.logsf(values)))

    def logcdf(self, x: object) -> np.ndarray:
        """Return log P(X <= x)."""
        with np.errstate(divide="ignore"):
            return np.log(self.cdf(x))

    def ppf(self, q: object) -> np.ndarray:
        """Return the quantile function, by bracketing root finding per level."""
        levels = np.atleast_1d(np.asarray(q, dtype=float))
        out = np.empty(levels.shape)
        slowest = float(self._rates.min())
        for index, level in np.ndenumerate(levels):
            if level <= 0:
                out[index] = 0.0
            elif level >= 1:
                out[index] = np.inf
            else:
                # P(X > x) <= e^{-λ_min x}, so the level is reached by this point.
                upper = -np.log1p(-level) / slowest + 1.0 / slowest
                out[index] = scipy.optimize.brentq(
                    lambda x, level=level: float(self.cdf(x)) - level,
                    0.0,
                    upper,
                    xtol=1e-14 * upper,
                )
        return out if np.ndim(q) else out[0]

    def rvs(self, size: int, random_state: np.random.Generator) -> np.ndarray:
        """Draw ``size`` values with the generator ``random_state``."""
        phases = random_state.choice(self._p.size, size=size, p=self._p)
        return random_state.standard_exponential(size) / self._rates[phases]


def fit_hyperexponential(
    sample: object,
    phases: int = 2,
    *,
    max_iterations: int = 2000,
    tolerance: float = 1e-10,
) -> tuple[Hyperexponential, float]:
    """Fit a ``phases``-phase hyperexponential by EM; return it and its log-likelihood.

    The start splits the sorted sample into ``phases`` equal groups, one phase per
    group with the group's mean, which is deterministic and separates short from
    long values. Iteration stops when the log-likelihood gains less than
    ``tolerance`` times its magnitude, or after ``max_iterations``.

    Parameters
    ----------
    sample
        Positive durations.
    phases
        Number of exponential phases k >= 1.

    Raises
    ------
    ParameterError
        If the sample has fewer values than phases or a value <= 0.
    """
    values = np.sort(np.asarray(sample, dtype=float).ravel())
    if phases < 1 or values.size < phases:
        raise ParameterError(
            f"a {phases}-phase hyperexponential needs at least {phases} values, got "
            f"{values.size}"
        )
    if values[0] <= 0 or not np.isfinite(values[-1]):
        raise ParameterError("hyperexponential fitting needs finite positive values")

    groups = np.array_split(values, phases)
    log_p = np.full(phases, -np.log(phases))
    rates = np.array([1.0 / group.mean() for group in groups])
    previous = -np.inf
    log_likelihood = -np.inf
    for iteration in range(max_iterations):
        log_terms = log_p + np.log(rates) - np.outer(values, rates)
        log_density = scipy.special.logsumexp(log_terms, axis=1)
        log_likelihood = float(log_density.sum())
        responsibilities = np.exp(log_terms - log_density[:, None])
        weights = responsibilities.sum(axis=0)
        # A phase that lost all its weight is dropped from further updates.
        weights = np.maximum(weights, 1e-300)
        log_p = np.log(weights / values.size)
        rates = weights / (responsibilities * values[:, None]).sum(axis=0)
        if log_likelihood - previous <= tolerance * abs(log_likelihood):
            logger.debug("hyperexponential EM converged after %d steps", iteration)
            break
        previous = log_likelihood
    probabilities = np.exp(log_p)
    keep = probabilities > 1e-12
    probabilities = probabilities[keep] / probabilities[keep].sum()
    order = np.argsort(-rates[keep])
    distribution = Hyperexponential(
        tuple(probabilities[order].tolist()), tuple(rates[keep][order].tolist())
    )
    return distribution, float(distribution.logpdf(values).sum())
