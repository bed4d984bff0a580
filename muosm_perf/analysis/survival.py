"""Survival estimates for right-censored durations: Kaplan-Meier and mean times.

Durations here are lengths of time in seconds (an up time, a downtime, a time between
failures). A right-censored duration is one still going on when observation stopped,
so its true length is at least the value given.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from muosm_perf.errors import ParameterError

logger = logging.getLogger(__name__)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ParameterError(
            f"confidence must be between 0 and 1 (exclusive), got {confidence!r}; "
            "pass for example 0.95"
        )


def check_durations(
    durations_s: np.ndarray, censored: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Convert durations and censoring flags to arrays and validate them.

    Raises
    ------
    ParameterError
        If the lengths differ, or a duration is negative, NaN or infinite.
    """
    durations = np.ascontiguousarray(durations_s, dtype=np.float64)
    flags = np.ascontiguousarray(censored, dtype=np.bool_)
    if durations.shape != flags.shape or durations.ndim != 1:
        raise ParameterError(
            f"durations_s (shape {durations.shape}) and censored (shape "
            f"{flags.shape}) must be one-dimensional and of equal length"
        )
    bad = ~np.isfinite(durations) | (durations < 0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ParameterError(
            f"durations_s[{index}] is {float(durations[index])!r}; durations must be "
            "finite and non-negative seconds"
        )
    return durations, flags


@dataclass(frozen=True)
class SurvivalCurve:
    """A Kaplan-Meier estimate of the survival function S(t) = P(T > t).

    Attributes
    ----------
    time_s
        Distinct times (seconds) at which at least one uncensored duration ends.
    survival
        S(t) just after each of those times.
    lower, upper
        Pointwise confidence band, from Greenwood's variance on the log(-log S)
        scale (SciPy's ``log-log`` method); NaN where it is undefined.
    at_risk
        Durations still going on just before each time (censored ones at the same
        time count as at risk, the usual convention).
    events
        Uncensored durations ending at each time.
    observations, censored
        Number of durations, and how many of them are right-censored.
    confidence
        Confidence level of the band.
    """

    time_s: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    observations: int
    censored: int
    confidence: float

    def survival_at(self, time_s: float | np.ndarray) -> np.ndarray:
        """Evaluate the step function S(t) at ``time_s`` (1 before the first event)."""
        index = np.searchsorted(self.time_s, np.asarray(time_s, dtype=float), "right")
        padded = np.concatenate([[1.0], self.survival])
        return padded[index]

    def quantile_s(self, probability: float) -> float | None:
        """Return the smallest t with S(t) <= 1 - ``probability``, or None if none.

        ``quantile_s(0.5)`` is the median duration. It is None when censoring stops
        the curve above ``1 - probability``.
        """
        reached = np.flatnonzero(self.survival <= 1 - probability + 1e-12)
        return float(self.time_s[reached[0]]) if reached.size else None

    def to_frame(self) -> pl.DataFrame:
        """Return the curve as a table with one row per event time."""
        return pl.DataFrame(
            {
                "time_s": self.time_s,
                "survival": self.survival,
                "lower": self.lower,
                "upper": self.upper,
                "at_risk": self.at_risk,
                "events": self.events,
            }
        )


def kaplan_meier(
    durations_s: np.ndarray, censored: np.ndarray, *, confidence: float = 0.95
) -> SurvivalCurve:
    """Estimate the survival function of right-censored durations (Kaplan-Meier).

    S(t) = prod over event times t_i <= t of (1 - d_i / n_i), with d_i durations
    ending at t_i and n_i still going on just before t_i (Kaplan and Meier, JASA
    1958). The band uses Greenwood's variance, computed by
    :func:`scipy.stats.ecdf`.

    Parameters
    ----------
    durations_s
        Observed durations in seconds.
    censored
        True where the duration is right-censored.
    confidence
        Level of the pointwise band.

    Returns
    -------
    SurvivalCurve
        Empty arrays when no duration is uncensored.
    """
    _check_confidence(confidence)
    durations, flags = check_durations(durations_s, censored)
    event_times, event_counts = np.unique(durations[~flags], return_counts=True)
    if event_times.size == 0:
        empty = np.empty(0)
        return SurvivalCurve(
            empty,
            empty,
            empty,
            empty,
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            int(durations.size),
            int(flags.sum()),
            confidence,
        )

    ordered = np.sort(durations)
    at_risk = ordered.size - np.searchsorted(ordered, event_times, side="left")
    data = stats.CensoredData(uncensored=durations[~flags], right=durations[flags])
    estimate = stats.ecdf(data).sf
    survival = estimate.evaluate(event_times)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        # SciPy warns where the band is undefined (S = 0 or 1); those points are NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        band = estimate.confidence_interval(confidence, method="log-log")
        lower = band.low.evaluate(event_times)
        upper = band.high.evaluate(event_times)
    return SurvivalCurve(
        time_s=event_times,
        survival=np.asarray(survival, dtype=float),
        lower=np.asarray(lower, dtype=float),
        upper=np.asarray(upper, dtype=float),
        at_risk=at_risk.astype(np.int64),
        events=event_counts.astype(np.int64),
        observations=int(durations.size),
        censored=int(flags.sum()),
        confidence=confidence,
    )


@dataclass(frozen=True)
class MeanTimeEstimate:
    """A mean time between events, estimated as exposure divided by event count.

    Attributes
    ----------
    mean_s
        ``exposure_s / events`` in seconds; None when no event was seen.
    lower_s, upper_s
        Confidence interval in seconds; ``upper_s`` is None when it is unbounded
        (no event seen).
    events
        Number of events (failures or completed repairs).
    exposure_s
        Total time at risk in seconds, censored spans included.
    confidence
        Confidence level of the interval.
    method
        How the interval was computed.
    """

    mean_s: float | None
    lower_s: float | None
    upper_s: float | None
    events: int
    exposure_s: float
    confidence: float
    method: str

    def as_dict(self) -> dict[str, object]:
        """Return the estimate as JSON-serializable values."""
        return {
            "mean_s": self.mean_s,
            "ci_s": [self.lower_s, self.upper_s],
            "confidence": self.confidence,
            "method": self.method,
            "events": self.events,
            "exposure_s": self.exposure_s,
        }


CHI_SQUARE_METHOD = (
    "chi-square, time-terminated test: lower 2T/chi2(1-a/2, 2r+2), "
    "upper 2T/chi2(a/2, 2r); assumes exponential times"
)


def mean_time_chi_square(
    exposure_s: float, events: int, *, confidence: float = 0.95
) -> MeanTimeEstimate:
    """Estimate a mean time between events with the chi-square interval.

    The point estimate T/r (T the exposure, r the events) is the maximum-likelihood
    mean of exponential times under right-censoring: censored spans add to T but not
    to r. The interval is the conservative one for a test stopped at a fixed time:
    lower 2T / chi2_{1-a/2}(2r + 2), upper 2T / chi2_{a/2}(2r), a = 1 - confidence,
    where chi2_p(k) is the p-quantile with k degrees of freedom. With r = 0 the
    upper bound is unbounded (None). It assumes exponential times and independent
    units: heterogeneous units make it too narrow, so compare with
    :func:`mean_time_bootstrap`.

    Raises
    ------
    ParameterError
        If the exposure is negative or not finite, or ``events`` is negative.
    """
    _check_confidence(confidence)
    if not math.isfinite(exposure_s) or exposure_s < 0:
        raise ParameterError(
            f"exposure_s must be finite and non-negative seconds, got {exposure_s!r}"
        )
    if events < 0:
        raise ParameterError(f"events must be non-negative, got {events!r}")
    alpha = 1 - confidence
    two_t = 2.0 * exposure_s
    lower = two_t / stats.chi2.ppf(1 - alpha / 2, 2 * events + 2)
    upper = two_t / stats.chi2.ppf(alpha / 2, 2 * events) if events else None
    return MeanTimeEstimate(
        mean_s=exposure_s / events if events else None,
        lower_s=float(lower),
        upper_s=None if upper is None else float(upper),
        events=int(events),
        exposure_s=float(exposure_s),
        confidence=confidence,
        method=CHI_SQUARE_METHOD,
    )


def mean_time_bootstrap(
    exposure_s: np.ndarray,
    events: np.ndarray,
    *,
    rng: np.random.Generator,
    samples: int = 1000,
    confidence: float = 0.95,
    chunk: int = 50,
) -> MeanTimeEstimate:
    """Estimate a mean time between events with a bootstrap over units.

    Units (machines) are drawn with replacement, keeping each unit's whole history,
    and the ratio sum(exposure) / sum(events) is recomputed for each draw. The
    interval is the percentile interval of those ratios (Efron and Tibshirani, An
    Introduction to the Bootstrap, 1993, ch. 13). It makes no assumption on the
    distribution of times and keeps the differences between units, unlike
    :func:`mean_time_chi_square`.

    Parameters
    ----------
    exposure_s, events
        Per unit: time at risk in seconds, and number of events.
    rng
        Random generator, for reproducible draws.
    samples
        Number of bootstrap draws.
    confidence
        Confidence level.
    chunk
        Draws computed at once (memory grows with ``chunk`` times the units).

    Returns
    -------
    MeanTimeEstimate
        Draws with no event are unbounded; when more than ``(1 - confidence) / 2``
        of them are, the upper bound is None.
    """
    _check_confidence(confidence)
    if samples < 1:
        raise ParameterError(f"samples must be at least 1, got {samples!r}")
    exposure = np.ascontiguousarray(exposure_s, dtype=np.float64)
    counts = np.ascontiguousarray(events, dtype=np.float64)
    if exposure.shape != counts.shape or exposure.ndim != 1:
        raise ParameterError(
            f"exposure_s (shape {exposure.shape}) and events (shape {counts.shape}) "
            "must be one-dimensional and of equal length"
        )
    total_exposure = float(exposure.sum())
    total_events = int(counts.sum())
    method = f"bootstrap over {exposure.size} units, {samples} draws, percentile"
    if exposure.size == 0:
        return MeanTimeEstimate(None, None, None, 0, 0.0, confidence, method)

    ratios = np.empty(samples)
    units = exposure.size
    for first in range(0, samples, chunk):
        size = min(chunk, samples - first)
        weights = rng.multinomial(units, np.full(units, 1.0 / units), size=size)
        drawn_events = weights @ counts
        drawn_exposure = weights @ exposure
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[first : first + size] = np.where(
                drawn_events > 0, drawn_exposure / drawn_events, np.inf
            )
    alpha = 1 - confidence
    # Order statistics without interpolation, because draws may be infinite.
    lower, upper = np.quantile(
        ratios, [alpha / 2, 1 - alpha / 2], method="inverted_cdf"
    )
    return MeanTimeEstimate(
        mean_s=total_exposure / total_events if total_events else None,
        lower_s=float(lower) if np.isfinite(lower) else None,
        upper_s=float(upper) if np.isfinite(upper) else None,
        events=total_events,
        exposure_s=total_exposure,
        confidence=confidence,
        method=method,
    )
