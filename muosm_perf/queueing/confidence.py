"""Confidence intervals for simulation output by replications or batch means.

Both use Student's t interval on means that are assumed independent and roughly
normal. These are the means of independent runs, or the means of consecutive
batches of one long run. Batch means are nearly independent when each batch is much
longer than the output's correlation time (Law, *Simulation Modeling and
Analysis*, 5th ed., 2015, ch. 9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

from muosm_perf.errors import ParameterError


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    Attributes
    ----------
    mean
        The average of the ``samples`` replication or batch means.
    half_width
        Half the width of the interval (NaN with fewer than 2 samples).
    confidence
        Confidence level, for example 0.99.
    samples
        Number of independent means the interval is built from.
    """

    mean: float
    half_width: float
    confidence: float
    samples: int

    @property
    def low(self) -> float:
        """Lower end of the interval."""
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        """Upper end of the interval."""
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        """Return whether ``value`` lies inside the interval."""
        return self.low <= value <= self.high

    def as_dict(self) -> dict:
        """Return the estimate as a JSON-ready dictionary."""
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "samples": self.samples,
        }


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")


def replication_estimate(values: object, confidence: float = 0.99) -> Estimate:
    """Return the t interval of the mean of independent replication results.

    Parameters
    ----------
    values
        One result per independent replication (for example each run's mean wait).
    confidence
        Confidence level in (0, 1).
    """
    _check_confidence(confidence)
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ParameterError("no replication results to estimate from")
    count = array.size
    mean = float(array.mean())
    if count < 2:
        return Estimate(mean, math.nan, confidence, count)
    t_value = scipy.stats.t.ppf(0.5 + confidence / 2.0, count - 1)
    half = float(t_value * array.std(ddof=1) / math.sqrt(count))
    return Estimate(mean, half, confidence, count)


def batch_means_estimate(
    series: object, batches: int = 20, confidence: float = 0.99
) -> Estimate:
    """Return the batch-means t interval of the mean of one correlated series.

    Parameters
    ----------
    series
        Output in order, warm-up already removed (for example each customer's wait).
    batches
        Number of equal consecutive batches, >= 2; a remainder at the end is
        dropped so that every batch has the same length.
    confidence
        Confidence level in (0, 1).
    """
    array = np.asarray(series, dtype=np.float64).ravel()
    if batches < 2 or array.size < batches:
        raise ParameterError(
            f"batch means need at least 2 batches and one value per batch, got "
            f"{batches} batches for {array.size} values"
        )
    size = array.size // batches
    means = array[: size * batches].reshape(batches, size).mean(axis=1)
    return replication_estimate(means, confidence)
