"""M/G/1 with static priority classes, non-preemptive and preemptive-resume.

K classes, class 1 the most important, each with Poisson arrivals at rate λ_k and
independent service times with mean E[S_k] and second moment E[S_k²]. With
ρ_k = λ_k E[S_k] and σ_k = ρ_1 + ... + ρ_k (σ_0 = 0):

- non-preemptive (the server finishes the job in service; Cobham, "Priority
  assignment in waiting line problems", Operations Research 2, 1954):

      E[W_k] = R / ((1 - σ_{k-1}) (1 - σ_k)),   R = Σ_{i=1..K} λ_i E[S_i²] / 2;

- preemptive-resume (an arrival of a more important class interrupts service, which
  later resumes where it stopped; Kleinrock, *Queueing Systems* vol. 2, 1976, ch. 3):

      E[T_k] = E[S_k] / (1 - σ_{k-1}) + R_k / ((1 - σ_{k-1}) (1 - σ_k)),
      R_k = Σ_{i=1..k} λ_i E[S_i²] / 2.

For preemptive-resume, ``mean_wait`` is E[T_k] - E[S_k]: the time a job of class k
spends in the system without being served, including interruptions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from muosm_perf.errors import ParameterError
from muosm_perf.queueing._checks import non_negative, positive, require_stable


@dataclass(frozen=True)
class PriorityMG1Queue:
    """Per-class steady-state means of a single-server priority queue.

    Parameters
    ----------
    arrival_rates
        λ_k per class, most important class first, each > 0.
    mean_service_times
        E[S_k] per class, each > 0, in the time unit of the rates.
    service_scvs
        Squared coefficient of variation of each class's service time (>= 0); a
        scalar applies to every class. Default 1 (exponential service).
    preemptive
        True for preemptive-resume, False (default) for non-preemptive.

    Raises
    ------
    UnstableSystemError
        If the total load Σ ρ_k >= 1, because the least important class then
        grows without bound.
    """

    arrival_rates: tuple[float, ...] | np.ndarray
    mean_service_times: tuple[float, ...] | np.ndarray
    service_scvs: float | tuple[float, ...] | np.ndarray = 1.0
    preemptive: bool = False

    def __post_init__(self) -> None:
        rates = np.atleast_1d(positive("arrival_rates", self.arrival_rates))
        means = np.atleast_1d(positive("mean_service_times", self.mean_service_times))
        scvs = np.atleast_1d(non_negative("service_scvs", self.service_scvs))
        if rates.ndim != 1 or rates.shape != means.shape:
            raise ParameterError(
                f"arrival_rates (shape {rates.shape}) and mean_service_times (shape "
                f"{means.shape}) must be 1-D with one entry per class"
            )
        if scvs.shape == (1,):
            scvs = np.full(rates.shape, scvs[0])
        if scvs.shape != rates.shape:
            raise ParameterError(
                f"service_scvs has {scvs.shape[0]} entries for {rates.shape[0]} "
                "classes; pass one per class or a single value"
            )
        loads = rates * means
        require_stable(
            np.asarray(loads.sum()),
            "priority queue",
            "lower the arrival rates",
        )
        object.__setattr__(self, "_rates", rates)
        object.__setattr__(self, "_means", means)
        object.__setattr__(self, "_second_moments", means**2 * (1.0 + scvs))
        object.__setattr__(self, "_loads", loads)

    @property
    def utilization(self) -> float:
        """Total load Σ ρ_k, the fraction of time the server is busy."""
        return float(self._loads.sum())

    @property
    def class_utilizations(self) -> np.ndarray:
        """ρ_k per class."""
        return self._loads.copy()

    @property
    def mean_sojourn(self) -> np.ndarray:
        """E[T_k] per class, the mean time from arrival to departure."""
        sigma = np.cumsum(self._loads)
        sigma_before = sigma - self._loads
        residual = self._rates * self._second_moments / 2.0
        if self.preemptive:
            residual_upto = np.cumsum(residual)
            return self._means / (1.0 - sigma_before) + residual_upto / (
                (1.0 - sigma_before) * (1.0 - sigma)
            )
        wait = residual.sum() / ((1.0 - sigma_before) * (1.0 - sigma))
        return wait + self._means

    @property
    def mean_wait(self) -> np.ndarray:
        """E[T_k] - E[S_k] per class: the mean time spent not being served."""
        return self.mean_sojourn - self._means

    @property
    def mean_queue_length(self) -> np.ndarray:
        """λ_k E[W_k] per class (Little's law)."""
        return self._rates * self.mean_wait

    def summary(self) -> dict:
        """Return the figures as a JSON-ready dictionary, one list entry per class."""
        return {
            "model": "M/G/1 priority "
            + ("preemptive-resume" if self.preemptive else "non-preemptive"),
            "arrival_rates": self._rates.tolist(),
            "mean_service_times": self._means.tolist(),
            "utilization": self.utilization,
            "class_utilizations": self._loads.tolist(),
            "mean_wait": self.mean_wait.tolist(),
            "mean_sojourn": self.mean_sojourn.tolist(),
            "mean_queue_length": self.mean_queue_length.tolist(),
        }
