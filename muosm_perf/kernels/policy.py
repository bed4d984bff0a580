"""Scheduling policies of the replay: queue order, placement, capacity, decision time.

A policy is named ``QUEUE+PLACEMENT[+OPTION]``, for example ``priority+first-fit`` or
``priority+first-fit+preempt``:

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

The option is ``preempt`` (a process of a higher band that fits nowhere evicts
processes of lower bands, :mod:`muosm_perf.kernels._preemption`) or ``offers`` (a
two-level scheduler in the Mesos style: one framework per band accepts or declines
offers of machines, :mod:`muosm_perf.kernels._offers`).

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

OPTIONS = ("preempt", "offers")
"""Options that may follow ``QUEUE+PLACEMENT`` in a policy name."""

DEFAULT_REFUSE_S = 5.0
"""Refusal timeout of a declined offer, seconds: the default of ``refuse_seconds``
in the ``Filters`` message of Apache Mesos' scheduler API."""


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
        What happens to a process killed by a machine REMOVE or preempted.
    preemption
        Whether a process that fits nowhere evicts processes of lower bands.
    offers
        Whether a two-level offer model places the pending processes, one framework
        per band, instead of one scheduling pass over one queue.
    refuse_s
        With ``offers``, seconds before a declined offer of a machine is made to
        the same framework again (> 0).
    framework_placements
        With ``offers``, the placement rule of each framework, lowest band first;
        frameworks past the end of the tuple use ``placement``.
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
    preemption: bool = False
    offers: bool = False
    refuse_s: float = DEFAULT_REFUSE_S
    framework_placements: tuple[str, ...] = ()
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
        for name in ("cpu_overcommit", "memory_overcommit"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(
                    f"{name} is {value}; give a finite factor > 0 (1 places by the "
                    "machines' capacity)"
                )
        for name in ("job_decision_s", "task_decision_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(f"{name} is {value}; give a finite number >= 0")
        if self.seed < 0:
            raise ParameterError(f"seed is {self.seed}; give a whole number >= 0")
        self._check_options()

    def _check_options(self) -> None:
        if self.preemption and self.offers:
            raise ParameterError(
                "preemption and offers cannot be combined; choose one option"
            )
        if self.offers and self.optimistic:
            raise ParameterError(
                "offers and optimistic schedulers cannot be combined; the offer "
                "model places processes itself, so drop one of them"
            )
        if not (math.isfinite(self.refuse_s) and round(self.refuse_s * 1e6) >= 1):
            raise ParameterError(
                f"refuse_s is {self.refuse_s}; give a finite number of seconds of at "
                "least 1e-6"
            )
        for rule in self.framework_placements:
            if rule not in PLACEMENTS:
                raise ParameterError(
                    f"framework placement {rule!r} is not known; choose one of: "
                    f"{', '.join(PLACEMENTS)}"
                )
        if self.framework_placements and not self.offers:
            raise ParameterError(
                "framework_placements is set but offers is off; add the offers "
                "option or drop the framework placements"
            )

    @classmethod
    def parse(cls, name: str, **fields: object) -> SchedulerPolicy:
        """Build a policy from ``QUEUE+PLACEMENT[+OPTION]`` and further fields.

        An option in the name switches its field on (``preempt`` sets
        ``preemption``, ``offers`` sets ``offers``).

        Raises
        ------
        ParameterError
            If the name does not have that form with known parts.
        """
        parts = name.split("+")
        if len(parts) > 3 and len(set(parts[2:])) < len(parts[2:]):
            raise ParameterError(f"policy {name!r} names an option twice; name it once")
        if len(parts) > 3 and set(parts[2:]) <= set(OPTIONS):
            raise ParameterError(
                f"policy {name!r} names {' and '.join(parts[2:])}; these options "
                "cannot be combined, choose one"
            )
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in OPTIONS):
            raise ParameterError(
                f"policy {name!r} is not valid; write QUEUE+PLACEMENT[+OPTION] with "
                f"QUEUE in {', '.join(QUEUE_ORDERS)}, PLACEMENT in "
                f"{', '.join(PLACEMENTS)} and OPTION in {', '.join(OPTIONS)}"
            )
        if len(parts) == 3:
            option = "preemption" if parts[2] == "preempt" else "offers"
            fields = {**fields, option: True}
        return cls(queue=parts[0], placement=parts[1], **fields)

    @property
    def name(self) -> str:
        """``QUEUE+PLACEMENT``, followed by ``+preempt`` or ``+offers`` when set."""
        name = f"{self.queue}+{self.placement}"
        if self.preemption:
            return name + "+preempt"
        if self.offers:
            return name + "+offers"
        return name

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
            "preemption": self.preemption,
            "offers": self.offers,
            "refuse_s": self.refuse_s,
            "framework_placements": list(self.framework_placements),
            "seed": self.seed,
        }


def all_policy_names(option: str | None = None) -> list[str]:
    """Return every ``QUEUE+PLACEMENT`` combination, each with ``+option`` if given."""
    suffix = "" if option is None else f"+{option}"
    return [
        f"{queue}+{placement}{suffix}"
        for queue in QUEUE_ORDERS
        for placement in PLACEMENTS
    ]
