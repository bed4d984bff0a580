"""Kingman's approximation of the mean wait in a G/G/1 queue.

Renewal arrivals with squared coefficient of variation c_a² of the inter-arrival time,
independent service times with mean E[S] and c_s², one FCFS server, ρ = λ E[S]:

    E[W] ≈ ρ / (1 - ρ) · (c_a² + c_s²) / 2 · E[S]

(J. F. C. Kingman, "The single server queue in heavy traffic", Proc. Cambridge
Philos. Soc. 57, 1961). It is exact for M/G/1 (c_a² = 1, the Pollaczek-Khinchine
formula) and becomes exact for any G/G/1 as ρ → 1; away from heavy traffic it is an
approximation whose error depends on the distributions' shapes, not only their
first two moments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from muosm_perf.queueing._checks import (
    as_output,
    non_negative,
    positive,
    require_stable,
)


@dataclass(frozen=True)
class KingmanQueue:
    """Kingman's G/G/1 mean-wait approximation.

    Parameters
    ----------
    arrival_rate
        λ, arrivals per unit time, > 0.
    mean_service_time
        E[S] in the same time unit, > 0.
    arrival_scv
        c_a², squared coefficient of variation of inter-arrival times (1 for
        Poisson arrivals), >= 0.
    service_scv
        c_s², squared coefficient of variation of service times, >= 0.

    Raises
    ------
    UnstableSystemError
        If ρ = λ E[S] >= 1.
    """

    arrival_rate: float | np.ndarray
    mean_service_time: float | np.ndarray
    arrival_scv: float | np.ndarray = 1.0
    service_scv: float | np.ndarray = 1.0

    def __post_init__(self) -> None:
        arrival = positive("arrival_rate", self.arrival_rate)
        service = positive("mean_service_time", self.mean_service_time)
        ca2 = non_negative("arrival_scv", self.arrival_scv)
        cs2 = non_negative("service_scv", self.service_scv)
        require_stable(arrival * service, "G/G/1 queue", "lower arrival_rate")
        object.__setattr__(self, "_arrival", arrival)
        object.__setattr__(self, "_service", service)
        object.__setattr__(self, "_ca2", ca2)
        object.__setattr__(self, "_cs2", cs2)

    @property
    def utilization(self) -> float | np.ndarray:
        """ρ = λ E[S], also the fraction of time the server is busy."""
        return as_output(self._arrival * self._service)

    @property
    def mean_wait(self) -> float | np.ndarray:
        """Approximate E[W]."""
        rho = self._arrival * self._service
        variability = (self._ca2 + self._cs2) / 2.0
        return as_output(rho / (1.0 - rho) * variability * self._service)

    @property
    def mean_sojourn(self) -> float | np.ndarray:
        """Approximate E[T] = E[W] + E[S]."""
        return as_output(np.asarray(self.mean_wait) + self._service)

    @property
    def mean_queue_length(self) -> float | np.ndarray:
        """Approximate L_q = λ E[W] (Little's law)."""
        return as_output(self._arrival * np.asarray(self.mean_wait))

    def summary(self) -> dict:
        """Return the scalar figures as a JSON-ready dictionary."""
        return {
            "model": "G/G/1 (Kingman)",
            "arrival_rate": float(self._arrival),
            "mean_service_time": float(self._service),
            "arrival_scv": float(self._ca2),
            "service_scv": float(self._cs2),
            "utilization": float(self.utilization),
            "mean_wait": float(self.mean_wait),
            "mean_sojourn": float(self.mean_sojourn),
            "mean_queue_length": float(self.mean_queue_length),
        }
