"""The Allen-Cunneen approximation of the mean wait in a G/G/c queue.

Renewal arrivals (c_a²), independent service times with rate μ per server (c_s²), c
FCFS servers, offered load A = λ / μ < c:

    E[W] ≈ C(c, A) / (c μ - λ) · (c_a² + c_s²) / 2

where C(c, A) is the Erlang C probability, used as the approximate probability of
waiting (A. O. Allen, *Probability, Statistics, and Queueing Theory*, 2nd ed., 1990,
§6.4, after Cunneen and Allen's 1970s form). It is exact for M/M/c (c_a² = c_s² = 1)
and reduces to Kingman's formula for c = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from muosm_perf.queueing._checks import (
    as_output,
    non_negative,
    positive,
    require_stable,
    server_count,
)
from muosm_perf.queueing.erlang import erlang_c


@dataclass(frozen=True)
class AllenCunneenQueue:
    """Allen-Cunneen's G/G/c approximation.

    Parameters
    ----------
    arrival_rate
        λ, arrivals per unit time, > 0.
    service_rate
        μ, completions per unit time of one busy server, > 0.
    servers
        c, a whole number >= 1.
    arrival_scv
        c_a², squared coefficient of variation of inter-arrival times, >= 0.
    service_scv
        c_s², squared coefficient of variation of service times, >= 0.

    Raises
    ------
    UnstableSystemError
        If λ >= c μ.
    """

    arrival_rate: float | np.ndarray
    service_rate: float | np.ndarray
    servers: int | np.ndarray
    arrival_scv: float | np.ndarray = 1.0
    service_scv: float | np.ndarray = 1.0

    def __post_init__(self) -> None:
        arrival = positive("arrival_rate", self.arrival_rate)
        service = positive("service_rate", self.service_rate)
        servers = server_count("servers", self.servers)
        ca2 = non_negative("arrival_scv", self.arrival_scv)
        cs2 = non_negative("service_scv", self.service_scv)
        require_stable(
            arrival / (servers * service), "G/G/c queue", "lower arrival_rate"
        )
        object.__setattr__(self, "_arrival", arrival)
        object.__setattr__(self, "_service", service)
        object.__setattr__(self, "_servers", servers)
        object.__setattr__(self, "_ca2", ca2)
        object.__setattr__(self, "_cs2", cs2)

    @property
    def utilization(self) -> float | np.ndarray:
        """ρ = λ / (c μ)."""
        return as_output(self._arrival / (self._servers * self._service))

    @property
    def p_wait(self) -> float | np.ndarray:
        """Erlang C probability, the approximation's probability of waiting."""
        return erlang_c(self._servers, self._arrival / self._service)

    @property
    def mean_wait(self) -> float | np.ndarray:
        """Approximate E[W]."""
        decay = self._servers * self._service - self._arrival
        variability = (self._ca2 + self._cs2) / 2.0
        return as_output(np.asarray(self.p_wait) / decay * variability)

    @property
    def mean_sojourn(self) -> float | np.ndarray:
        """Approximate E[T] = E[W] + 1 / μ."""
        return as_output(np.asarray(self.mean_wait) + 1.0 / self._service)

    @property
    def mean_queue_length(self) -> float | np.ndarray:
        """Approximate L_q = λ E[W] (Little's law)."""
        return as_output(self._arrival * np.asarray(self.mean_wait))

    def summary(self) -> dict:
        """Return the scalar figures as a JSON-ready dictionary."""
        return {
            "model": "G/G/c (Allen-Cunneen)",
            "arrival_rate": float(self._arrival),
            "service_rate": float(self._service),
            "servers": int(self._servers),
            "arrival_scv": float(self._ca2),
            "service_scv": float(self._cs2),
            "utilization": float(self.utilization),
            "p_wait": float(self.p_wait),
            "mean_wait": float(self.mean_wait),
            "mean_sojourn": float(self.mean_sojourn),
            "mean_queue_length": float(self.mean_queue_length),
        }
