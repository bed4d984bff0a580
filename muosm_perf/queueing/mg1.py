"""The M/G/1 queue by the Pollaczek-Khinchine formula, and M/D/1 as its special case.

Poisson arrivals at rate λ, independent service times S with mean E[S] and squared
coefficient of variation c_s² = Var[S] / E[S]², one server, FCFS. With ρ = λ E[S],
the Pollaczek-Khinchine mean-value formula (Pollaczek 1930, Khinchine 1932; Kleinrock,
*Queueing Systems* vol. 1, 1975, ch. 5) gives the exact mean wait

    E[W] = λ E[S²] / (2 (1 - ρ)) = ρ / (1 - ρ) · (1 + c_s²) / 2 · E[S].

An arrival waits with probability ρ (Poisson arrivals see time averages). M/D/1 is
c_s² = 0 and M/M/1 is c_s² = 1. Only means are exact here: the waiting-time
distribution of M/G/1 depends on the whole service distribution.
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
class MG1Queue:
    """Steady-state means of an M/G/1 queue.

    Parameters
    ----------
    arrival_rate
        λ, arrivals per unit time, > 0.
    mean_service_time
        E[S] in the same time unit, > 0.
    service_scv
        Squared coefficient of variation of the service time, >= 0 (0 for
        deterministic service, 1 for exponential).

    Raises
    ------
    UnstableSystemError
        If ρ = λ E[S] >= 1.
    """

    arrival_rate: float | np.ndarray
    mean_service_time: float | np.ndarray
    service_scv: float | np.ndarray = 1.0

    def __post_init__(self) -> None:
        arrival = positive("arrival_rate", self.arrival_rate)
        service = positive("mean_service_time", self.mean_service_time)
        scv = non_negative("service_scv", self.service_scv)
        name = "M/D/1 queue" if (scv == 0).all() else "M/G/1 queue"
        require_stable(arrival * service, name, "lower arrival_rate")
        object.__setattr__(self, "_arrival", arrival)
        object.__setattr__(self, "_service", service)
        object.__setattr__(self, "_scv", scv)

    @property
    def utilization(self) -> float | np.ndarray:
        """ρ = λ E[S]."""
        return as_output(self._arrival * self._service)

    @property
    def p_wait(self) -> float | np.ndarray:
        """Probability that an arrival waits, equal to ρ."""
        return self.utilization

    @property
    def mean_wait(self) -> float | np.ndarray:
        """E[W] by the Pollaczek-Khinchine formula."""
        rho = self._arrival * self._service
        return as_output(rho / (1.0 - rho) * (1.0 + self._scv) / 2.0 * self._service)

    @property
    def mean_sojourn(self) -> float | np.ndarray:
        """E[T] = E[W] + E[S]."""
        return as_output(np.asarray(self.mean_wait) + self._service)

    @property
    def mean_queue_length(self) -> float | np.ndarray:
        """L_q = λ E[W] (Little's law)."""
        return as_output(self._arrival * np.asarray(self.mean_wait))

    @property
    def mean_in_system(self) -> float | np.ndarray:
        """L = λ E[T] (Little's law)."""
        return as_output(self._arrival * np.asarray(self.mean_sojourn))

    def summary(self) -> dict:
        """Return the scalar figures as a JSON-ready dictionary."""
        return {
            "model": "M/D/1" if float(self._scv) == 0.0 else "M/G/1",
            "arrival_rate": float(self._arrival),
            "mean_service_time": float(self._service),
            "service_scv": float(self._scv),
            "utilization": float(self.utilization),
            "p_wait": float(self.p_wait),
            "mean_wait": float(self.mean_wait),
            "mean_sojourn": float(self.mean_sojourn),
            "mean_queue_length": float(self.mean_queue_length),
            "mean_in_system": float(self.mean_in_system),
        }


def md1_queue(arrival_rate: object, service_time: object) -> MG1Queue:
    """Return the M/D/1 queue: M/G/1 with a constant ``service_time`` (c_s² = 0)."""
    return MG1Queue(arrival_rate, service_time, 0.0)
