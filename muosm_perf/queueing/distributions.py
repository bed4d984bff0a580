"""Service and inter-arrival distributions for the simulation drivers.

The drivers accept any object with SciPy's frozen-distribution methods
``rvs(size=..., random_state=...)``, ``mean()`` and ``var()``: a frozen
``scipy.stats`` distribution, a fitted distribution from :mod:`muosm_perf.fitting`,
or :class:`Deterministic` below, which SciPy lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.stats

from muosm_perf.queueing._checks import positive


class Distribution(Protocol):
    """The methods that a simulation driver calls on a distribution."""

    def rvs(self, size: int, random_state: np.random.Generator) -> np.ndarray:
        """Draw ``size`` values."""

    def mean(self) -> float:
        """Return the mean."""

    def var(self) -> float:
        """Return the variance."""


@dataclass(frozen=True)
class Deterministic:
    """A constant ``value`` > 0, as a distribution with zero variance."""

    value: float

    def __post_init__(self) -> None:
        positive("value", self.value)

    def rvs(
        self, size: int, random_state: np.random.Generator | None = None
    ) -> np.ndarray:
        """Return ``size`` copies of the value (``random_state`` is not used)."""
        return np.full(size, float(self.value))

    def mean(self) -> float:
        """Return the value."""
        return float(self.value)

    def var(self) -> float:
        """Return 0."""
        return 0.0

    def cdf(self, x: object) -> np.ndarray:
        """Return 1 where x >= value and 0 below."""
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def ppf(self, q: object) -> np.ndarray:
        """Return the value for every level."""
        return np.full(np.shape(q), float(self.value))


@dataclass(frozen=True)
class Exponential:
    """The exponential distribution with ``rate`` events per unit time.

    It draws with ``Generator.standard_exponential`` and one in-place scaling,
    about twice as fast as a frozen ``scipy.stats.expon``, and delegates the
    other methods to SciPy.
    """

    rate: float

    def __post_init__(self) -> None:
        positive("rate", self.rate)

    def rvs(self, size: int, random_state: np.random.Generator) -> np.ndarray:
        """Draw ``size`` values from the generator ``random_state``."""
        values = random_state.standard_exponential(size)
        values *= 1.0 / self.rate
        return values

    def mean(self) -> float:
        """Return 1 / rate."""
        return 1.0 / self.rate

    def var(self) -> float:
        """Return 1 / rate²."""
        return 1.0 / self.rate**2

    def cdf(self, x: object) -> np.ndarray:
        """Return P(X <= x)."""
        return scipy.stats.expon(scale=1.0 / self.rate).cdf(x)

    def ppf(self, q: object) -> np.ndarray:
        """Return the quantile function at levels ``q``."""
        return scipy.stats.expon(scale=1.0 / self.rate).ppf(q)


def exponential(rate: float) -> Exponential:
    """Return the exponential distribution with ``rate`` events per unit time."""
    return Exponential(float(rate))


def squared_coefficient_of_variation(distribution: Distribution) -> float:
    """Return Var / mean², the c² that the approximations take."""
    mean = float(distribution.mean())
    return float(distribution.var()) / (mean * mean)
