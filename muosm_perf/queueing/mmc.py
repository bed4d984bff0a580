"""The M/M/c queue: Poisson arrivals, exponential service, c servers, FCFS.

All figures are exact steady-state results (Kleinrock, *Queueing Systems* vol. 1,
1975, §3.5; Gross, Shortle, Thompson and Harris, *Fundamentals of Queueing Theory*,
4th ed., 2008, §2.3). With offered load A = λ / μ, utilization ρ = A / c and the
Erlang C probability C = C(c, A):

- P(W > t) = C exp(-(c μ - λ) t) for t >= 0, so E[W] = C / (c μ - λ);
- the sojourn time T = W + S with S ~ Exp(μ) independent of W;
- L_q = λ E[W] and L = λ E[T] (Little's law).

Rates are per unit of time and times are in the same unit (seconds if the rates are
per second). Scalars and NumPy arrays broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from muosm_perf.queueing._checks import (
    as_output,
    non_negative,
    positive,
    probability_levels,
    require_stable,
    server_count,
)
from muosm_perf.queueing.erlang import erlang_c


@dataclass(frozen=True)
class MMcQueue:
    """Steady-state figures of an M/M/c queue.

    Parameters
    ----------
    arrival_rate
        λ, arrivals per unit time, > 0.
    service_rate
        μ, completions per unit time of one busy server, > 0.
    servers
        c, a whole number >= 1.

    Raises
    ------
    UnstableSystemError
        If λ >= c μ, because the queue then grows without bound.
    """

    arrival_rate: float | np.ndarray
    service_rate: float | np.ndarray
    servers: int | np.ndarray

    def __post_init__(self) -> None:
        arrival = positive("arrival_rate", self.arrival_rate)
        service = positive("service_rate", self.service_rate)
        servers = server_count("servers", self.servers)
        name = "M/M/1 queue" if (servers == 1).all() else "M/M/c queue"
        require_stable(arrival / (servers * service), name, "lower arrival_rate")
        object.__setattr__(self, "_arrival", arrival)
        object.__setattr__(self, "_service", service)
        object.__setattr__(self, "_servers", servers)

    @property
    def offered_load(self) -> float | np.ndarray:
        """A = λ / μ in Erlangs."""
        return as_output(self._arrival / self._service)

    @property
    def utilization(self) -> float | np.ndarray:
        """ρ = λ / (c μ), the long-run fraction of time a server is busy."""
        return as_output(self._arrival / (self._servers * self._service))

    @property
    def p_wait(self) -> float | np.ndarray:
        """Erlang C: probability that an arrival finds every server busy."""
        return erlang_c(self._servers, self._arrival / self._service)

    @property
    def _decay_rate(self) -> np.ndarray:
        return self._servers * self._service - self._arrival

    @property
    def mean_wait(self) -> float | np.ndarray:
        """E[W], mean time in queue before service starts."""
        return as_output(np.asarray(self.p_wait) / self._decay_rate)

    @property
    def mean_sojourn(self) -> float | np.ndarray:
        """E[T] = E[W] + 1 / μ, mean time in the system."""
        return as_output(np.asarray(self.mean_wait) + 1.0 / self._service)

    @property
    def mean_queue_length(self) -> float | np.ndarray:
        """L_q = λ E[W], mean number waiting (Little's law)."""
        return as_output(self._arrival * np.asarray(self.mean_wait))

    @property
    def mean_in_system(self) -> float | np.ndarray:
        """L = λ E[T], mean number in the system (Little's law)."""
        return as_output(self._arrival * np.asarray(self.mean_sojourn))

    def wait_cdf(self, time: object) -> float | np.ndarray:
        """Return P(W <= time) = 1 - C exp(-(c μ - λ) time) for time >= 0."""
        t = non_negative("time", time)
        return as_output(1.0 - np.asarray(self.p_wait) * np.exp(-self._decay_rate * t))

    def wait_percentile(self, level: object) -> float | np.ndarray:
        """Return the ``level`` quantile of the waiting time (0.99 → 99th percentile).

        It is 0 when ``level`` <= 1 - C, and ln(C / (1 - level)) / (c μ - λ) above.
        """
        q = probability_levels("level", level)
        p_wait = np.asarray(self.p_wait)
        with np.errstate(divide="ignore"):
            tail = np.log(p_wait / (1.0 - q)) / self._decay_rate
        return as_output(np.where(q <= 1.0 - p_wait, 0.0, tail))

    def sojourn_cdf(self, time: object) -> float | np.ndarray:
        """Return P(T <= time) for the sojourn time T = W + S.

        With δ = c μ - λ - μ, P(T > t) = e^{-μ t} (1 + C μ (1 - e^{-δ t}) / δ), and
        1 + C μ t in place of the bracket when δ = 0 (convolution of the waiting
        time with Exp(μ); Gross et al. 2008, §2.3).
        """
        t = non_negative("time", time)
        mu = self._service
        p_wait = np.asarray(self.p_wait)
        delta = self._decay_rate - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            bracket = np.where(
                np.abs(delta * t) < 1e-9,
                1.0 + p_wait * mu * t * (1.0 - 0.5 * delta * t),
                1.0 - p_wait * mu * np.expm1(-delta * t) / delta,
            )
        return as_output(1.0 - np.exp(-mu * t) * bracket)

    def sojourn_percentile(self, level: float) -> float:
        """Return the ``level`` quantile of the sojourn time (scalar queues only)."""
        q = float(probability_levels("level", level))
        if q == 0.0:
            return 0.0
        upper = 1.0 / float(self._service)
        while float(self.sojourn_cdf(upper)) < q:
            upper *= 2.0
        return float(
            scipy.optimize.brentq(
                lambda t: float(self.sojourn_cdf(t)) - q, 0.0, upper, xtol=1e-14
            )
        )

    def summary(self, levels: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict:
        """Return the scalar figures as a JSON-ready dictionary."""
        result = {
            "model": "M/M/1" if int(self._servers) == 1 else "M/M/c",
            "arrival_rate": float(self._arrival),
            "service_rate": float(self._service),
            "servers": int(self._servers),
            "offered_load": float(self.offered_load),
            "utilization": float(self.utilization),
            "p_wait": float(self.p_wait),
            "mean_wait": float(self.mean_wait),
            "mean_sojourn": float(self.mean_sojourn),
            "mean_queue_length": float(self.mean_queue_length),
            "mean_in_system": float(self.mean_in_system),
        }
        result["wait_percentiles"] = {
            f"p{100 * q:g}": float(self.wait_percentile(q)) for q in levels
        }
        result["sojourn_percentiles"] = {
            f"p{100 * q:g}": self.sojourn_percentile(q) for q in levels
        }
        return result
