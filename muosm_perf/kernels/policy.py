"""Scheduling policies of the replay: queue order, placement, capacity, decision time.

A policy is named ``QUEUE+PLACEMENT``, for example ``priority+first-fit``:

- queue order: ``fifo`` (enqueue order), ``priority`` (higher priority first, then
  enqueue order) or ``shortest`` (shorter duration class first, then enqueue order;
  a class is a power of two of seconds, because a scheduler has only rough
  estimates of durations; processes without a known duration come last);
- placement: ``first-fit`` (lowest-index machine that fits), ``best-fit`` (least
  free CPU left after placement), ``worst-fit`` (most free CPU left), or
  ``sampled``: as Borg does, score a few feasible machines and take the best.
  Sampling starts at a pseudo-random machine drawn from the seed, the process and
  its restart count, takes the next ``candidates`` machines that fit in index order
  (wrapping around), and keeps the one whose free CPU and free memory left are the
  most balanced (least ``|cpu left - memory left|``), to leave fewer stranded
  resources. Ties go to the lowest index in every placement.

Further fields set the overcommitment of capacity, the scheduler's decision time
(in the Omega model, ``job_decision_s + task_decision_s * tasks`` per batch of
tasks of one job submitted together) and the supervision of killed processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from muosm_perf.errors import ParameterError
from muosm_perf.kernels.supervision import SupervisionPolicy

QUEUE_ORDERS = ("fifo", "priority", "shortest")
"""Queue orders, in the order of their kernel codes."""

PLACEMENTS = ("first-fit", "best-fit", "worst-fit", "sampled")
"""Placement rules, in the order of their kernel codes."""


@dataclass(frozen=True)
class SchedulerPolicy:
    """A complete scheduling policy for the replay kernel.

    Attributes
    ----------
    queue
        One of :data:`QUEUE_ORDERS`.
    placement
        One of :data:`PLACEMENTS`.
    candidates
        Feasible machines scored by ``sampled`` placement (>= 1).
    cpu_overcommit, memory_overcommit
        Factor applied to each machine's capacity when placing (>= 1 lets the
        requests exceed the capacity, as Borg does for reclaimable resources).
    job_decision_s, task_decision_s
        Scheduler time per batch and per task in it, seconds.
    schedulers
        Schedulers deciding in parallel over the shared cell state (>= 1).
    optimistic
        Whether schedulers place directly with optimistic commits, as in Omega,
        instead of handing their batches to the pending queue.
    supervision
        What happens to a process killed by a machine REMOVE.
    seed
        Seed of the pseudo-random choices (``sampled`` placement).
    """

    queue: str = "priority"
    placement: str = "first-fit"
    candidates: int = 8
    cpu_overcommit: float = 1.0
    memory_overcommit: float = 1.0
    job_decision_s: float = 0.0
    task_decision_s: float = 0.0
    schedulers: int = 1
    optimistic: bool = False
    supervision: SupervisionPolicy = field(default_factory=SupervisionPolicy)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.queue not in QUEUE_ORDERS:
            raise ParameterError(
                f"queue order {self.queue!r} is not known; choose one of: "
                f"{', '.join(QUEUE_ORDERS)}"
            )
        if self.placement not in PLACEMENTS:
            raise ParameterError(
                f"placement {self.placement!r} is not known; choose one of: "
                f"{', '.join(PLACEMENTS)}"
            )
        if self.schedulers < 1:
            raise ParameterError(f"schedulers is {self.schedulers}; it must be >= 1")
        if self.candidates < 1:
            raise ParameterError(f"candidates is {self.candidates}; it must be >= 1")
        for name in (
            "cpu_overcommit",
            "memory_overcommit",
            "job_decision_s",
            "task_decision_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(f"{name} is {value}; give a finite number >= 0")

    @classmethod
    def parse(cls, name: str, **fields: object) -> SchedulerPolicy:
        """Build a policy from ``QUEUE+PLACEMENT`` and further fields.

        Raises
        ------
        ParameterError
            If the name does not have the form ``QUEUE+PLACEMENT`` with known parts.
        """
        parts = name.split("+")
        if len(parts) != 2:
            raise ParameterError(
                f"policy {name!r} is not valid; write QUEUE+PLACEMENT with QUEUE in "
                f"{', '.join(QUEUE_ORDERS)} and PLACEMENT in {', '.join(PLACEMENTS)}"
            )
        return cls(queue=parts[0], placement=parts[1], **fields)

    @property
    def name(self) -> str:
        """``QUEUE+PLACEMENT``."""
        return f"{self.queue}+{self.placement}"

    def with_fields(self, **fields: object) -> SchedulerPolicy:
        """Return a copy with some fields changed."""
        return replace(self, **fields)

    def describe(self) -> dict[str, object]:
        """Return every field as JSON-serializable values."""
        return {
            "name": self.name,
            "queue": self.queue,
            "placement": self.placement,
            "candidates": self.candidates,
            "cpu_overcommit": self.cpu_overcommit,
            "memory_overcommit": self.memory_overcommit,
            "job_decision_s": self.job_decision_s,
            "task_decision_s": self.task_decision_s,
            "schedulers": self.schedulers,
            "optimistic": self.optimistic,
            "supervision": self.supervision.name,
            "seed": self.seed,
        }


def all_policy_names() -> list[str]:
    """Return every ``QUEUE+PLACEMENT`` combination."""
    return [
        f"{queue}+{placement}" for queue in QUEUE_ORDERS for placement in PLACEMENTS
    ]
