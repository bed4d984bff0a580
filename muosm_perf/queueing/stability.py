"""Stability of simulation inputs: reject overloaded models, flag overloaded traces.

A queue whose offered load is at or above capacity has no steady state. Its waits
grow with the run length, so an estimate from one run length, however narrow its
confidence interval, describes nothing beyond that run. Simulations driven by
distributions are rejected before they run (:func:`require_stable_simulation`),
as the formulas reject the same loads. A simulation driven by a trace cannot be
rejected for its data, so the load is estimated from the trace and a result at or
above capacity is logged and marked transient (:func:`warn_if_transient`).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.queueing.distributions import Distribution

logger = logging.getLogger(__name__)


def distribution_mean(name: str, distribution: Distribution) -> float:
    """Return the mean of a distribution of times, checked to be a number >= 0.

    Raises
    ------
    ParameterError
        If the mean is NaN or negative, naming the distribution by ``name``.
    """
    mean = float(distribution.mean())
    if math.isnan(mean) or mean < 0:
        raise ParameterError(
            f"the {name} distribution has mean {mean!r}, so the offered load is "
            "undefined; use a distribution of non-negative times with a finite mean"
        )
    return mean


def require_stable_simulation(
    what: str, utilization: float, formula: str, hint: str
) -> None:
    """Raise UnstableSystemError when ``utilization`` is >= 1 or NaN.

    Parameters
    ----------
    what
        The simulated system, named in the message (for example ``"G/G/1 queue"``).
    utilization
        Offered load per server, ρ.
    formula
        How ρ was computed from the inputs, with their values.
    hint
        What to change, appended to the message.
    """
    if not utilization < 1:
        raise UnstableSystemError(
            f"the {what} has no steady state, so a simulation would only measure "
            f"how fast its queue grows: utilization {formula} = {utilization:.6g}, "
            f"at or above 1; {hint}"
        )


def warn_if_transient(what: str, utilization: float | None) -> bool:
    """Log a warning and return True when a trace's estimated load is >= 1.

    Parameters
    ----------
    what
        The simulated system, named in the warning.
    utilization
        ρ estimated from the trace, or None when it cannot be estimated.
    """
    if utilization is None or utilization < 1:
        return False
    logger.warning(
        "%s: the utilization estimated from the recorded arrivals is %.6g, at or "
        "above 1, so the run has no steady state and its figures grow with the "
        "length of the recording; the result is marked transient",
        what,
        utilization,
    )
    return True


def estimate_trace_utilization(
    arrival_times: np.ndarray, service_times: np.ndarray, servers: int
) -> float | None:
    """Estimate a trace's offered load per server, ρ = λ E[S] / c.

    λ is (n - 1) / (last arrival - first arrival), the rate of the n - 1 gaps, and
    E[S] the mean of the service times. Returns None for fewer than two arrivals,
    and infinity when every arrival is at the same instant and work arrives.
    """
    count = arrival_times.shape[0]
    if count < 2:
        return None
    span = float(arrival_times[-1] - arrival_times[0])
    work = float(service_times.mean()) * (count - 1)
    if span <= 0:
        return math.inf if work > 0 else 0.0
    return work / (span * servers)
