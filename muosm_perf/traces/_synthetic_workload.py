"""Machines, jobs and tasks of the synthetic Google 2011 trace, before simulation.

Every distribution here is documented, with its source, in the docstring of
:func:`muosm_perf.traces.synthetic.generate_google_2011`. This module only draws
from them, and :mod:`muosm_perf.traces._synthetic_cluster` plays them out.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

import numpy as np

from muosm_perf.model.lifecycle import Band

MICROSECONDS = 1_000_000
WINDOW_START_US = 600 * MICROSECONDS
"""Trace time of the window start: times count from 600 s before it."""

AFTER_WINDOW_US = 2**63 - 1
"""Time written for an event after the trace window."""

# (CPU capacity, memory capacity, share of machines) per platform, from the ADD
# rows of the complete Google 2011 machine_events table.
PLATFORM_SHAPES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "a": (
        (0.5, 0.4995, 0.548),
        (0.5, 0.2493, 0.290),
        (0.5, 0.749, 0.091),
        (0.5, 0.1241, 0.004),
    ),
    "b": ((1.0, 1.0, 0.066),),
    "c": ((0.25, 0.2498, 0.011),),
}

# Memory capacities a machine of each platform can move to in an UPDATE.
PLATFORM_MEMORY_LEVELS = {
    "a": (0.1241, 0.2493, 0.4995, 0.749),
    "b": (0.5, 1.0),
    "c": (0.2498,),
}


@dataclass(frozen=True)
class BandProfile:
    """Workload parameters of one priority band."""

    band: Band
    job_share: float
    """Share of arriving jobs in this band."""
    priorities: tuple[int, ...]
    priority_weights: tuple[float, ...]
    class_weights: tuple[float, float, float, float]
    """Probabilities of scheduling classes 0-3."""
    cpu_median: float
    memory_median: float
    different_machines_share: float
    kill_share: float
    """Share of batch jobs the user kills before they end."""
    kill_delay_median_s: float
    service_share: float
    """Share of jobs that are services, which run until their user kills them."""


BAND_PROFILES = (
    BandProfile(
        band=Band.FREE,
        job_share=0.35,
        priorities=(0, 1),
        priority_weights=(0.77, 0.23),
        class_weights=(0.55, 0.15, 0.28, 0.02),
        cpu_median=0.0156,
        memory_median=0.0159,
        different_machines_share=0.15,
        kill_share=0.35,
        kill_delay_median_s=120.0,
        service_share=0.0,
    ),
    BandProfile(
        band=Band.MIDDLE,
        job_share=0.55,
        priorities=(2, 3, 4, 8),
        priority_weights=(0.85, 0.03, 0.08, 0.04),
        class_weights=(0.80, 0.10, 0.10, 0.0),
        cpu_median=0.025,
        memory_median=0.0255,
        different_machines_share=0.30,
        kill_share=0.20,
        kill_delay_median_s=600.0,
        service_share=0.03,
    ),
    BandProfile(
        band=Band.PRODUCTION,
        job_share=0.10,
        priorities=(9, 10, 11),
        priority_weights=(0.85, 0.05, 0.10),
        class_weights=(0.05, 0.15, 0.65, 0.15),
        cpu_median=0.0625,
        memory_median=0.028,
        different_machines_share=0.50,
        kill_share=0.10,
        kill_delay_median_s=3600.0,
        service_share=0.40,
    ),
)
"""Profiles indexed by band value (free, middle, production)."""

RUN_MEDIAN_S = 300.0
RUN_SIGMA = 1.2
RUN_TAIL_SHARE = 0.1
RUN_TAIL_MIN_S = 1800.0
RUN_TAIL_ALPHA = 1.3
MAX_RUN_S = 3 * 86_400.0
SERVICE_LIFETIME_MEDIAN_S = 86_400.0
SERVICE_LIFETIME_SIGMA = 1.0
CPU_SIGMA = 0.8
MEMORY_SIGMA = 0.9
DISK_MEDIAN = 0.0003
DISK_SIGMA = 1.0
ZERO_CPU_SHARE = 0.02
DIFFERENT_MACHINES_TASKS = 2


def round_to_trace(value: float) -> float:
    """Round to the 4 significant digits the trace prints."""
    if value == 0.0 or math.isnan(value):
        return value
    return float(f"{value:.4g}")


def format_number(value: float) -> str:
    """Format a float as the trace does (4 significant digits, empty when NaN)."""
    if math.isnan(value):
        return ""
    return f"{value:.4g}"


def draw_hash(rng: np.random.Generator) -> str:
    """Draw an opaque 44-character name like the trace's base64 SHA-256 hashes."""
    return base64.b64encode(rng.bytes(32)).decode("ascii")


def seconds_to_us(seconds: float) -> int:
    """Convert a duration in seconds to whole microseconds, at least 1."""
    return max(1, round(seconds * MICROSECONDS))


@dataclass
class Machine:
    """A machine (fault cell) with its capacity and its running tasks."""

    index: int
    machine_id: int
    platform: str
    cpu: float
    memory: float
    add_time_us: int
    """Trace time of its first ADD (0 before the window)."""
    life: int = 0
    """Number of REMOVEs so far; a queued REMOVE of an earlier life is dropped."""
    tasks: list[Task] = field(default_factory=list)


@dataclass
class Job:
    """A job (process group) and the parameters its tasks share."""

    job_id: int
    user: str
    name: str
    logical_name: str
    band: Band
    priority: int
    scheduling_class: int
    cpu: float
    memory: float
    disk: float
    different_machines: bool
    service: bool
    duration_s: float
    """Run time of each task attempt that ends normally (inf for a service)."""
    kill_after_s: float | None
    """Seconds after submission (after the window start for a job running at the
    start) at which the user kills the job, if ever."""
    arrival_us: int
    """Trace time of the job's SUBMIT (0 for a job present at the start)."""
    first_run_s: float | None = None
    """For a job running at the start, what is left of its tasks' first attempt."""
    crash_loop_tasks: int = 0
    """Number of tasks (the first ones) that fail on every attempt."""
    tasks: list[Task] = field(default_factory=list)
    machine_counts: dict[int, int] = field(default_factory=dict)
    """Running tasks per machine index, for the different-machines restriction."""
    submitted: bool = False
    scheduled: bool = False
    ended: bool = False
    killed: bool = False
    failed: bool = False


@dataclass
class Task:
    """A task (distributed process) and its simulation state."""

    job: Job
    index: int
    state: int = 0
    machine: Machine | None = None
    token: int = 0
    """Incremented at every state change; queued events carry the value they saw."""
    failures: int = 0
    resubmit_pending: bool = False
    crash_loop: bool = False
    submit_us: int = 0
    waiting: bool = False
    attempt: list | None = None
    """The running attempt's usage record, see ``ClusterSimulation.attempts``."""


def draw_machines(rng: np.random.Generator, count: int) -> list[Machine]:
    """Draw machines with platform shapes in the trace's proportions.

    Machine IDs are distinct random integers below 6.5e9, as in the trace.
    """
    shapes = [
        (platform, cpu, memory, share)
        for platform, rows in PLATFORM_SHAPES.items()
        for cpu, memory, share in rows
    ]
    weights = np.array([s[3] for s in shapes])
    picks = rng.choice(len(shapes), size=count, p=weights / weights.sum())
    ids: list[int] = []
    seen: set[int] = set()
    while len(ids) < count:
        candidate = int(rng.integers(1, 6_500_000_000))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return [
        Machine(
            index=i,
            machine_id=ids[i],
            platform=shapes[picks[i]][0],
            cpu=shapes[picks[i]][1],
            memory=shapes[picks[i]][2],
            add_time_us=0,
        )
        for i in range(count)
    ]


class JobFactory:
    """Draws jobs: band, priority, class, requests, size, duration and fate.

    Parameters
    ----------
    rng
        The generator's random state.
    max_tasks
        Largest number of tasks in one job.
    users
        Number of distinct users; popularity follows a Zipf law of exponent 1.2.
    """

    def __init__(self, rng: np.random.Generator, max_tasks: int, users: int) -> None:
        self.rng = rng
        self.max_tasks = max_tasks
        self.users = [draw_hash(rng) for _ in range(users)]
        popularity = 1.0 / np.arange(1, users + 1) ** 1.2
        self.user_weights = popularity / popularity.sum()
        self.platform_hashes = {name: draw_hash(rng) for name in PLATFORM_SHAPES}
        self.next_job_id = 6_250_000_000 + int(rng.integers(0, 1_000_000))
        self.old_job_ids: set[int] = set()

    def draw_user(self) -> str:
        """Draw a user by popularity."""
        return self.users[int(self.rng.choice(len(self.users), p=self.user_weights))]

    def draw_band(self) -> Band:
        """Draw the band of an arriving job."""
        shares = [p.job_share for p in BAND_PROFILES]
        return Band(int(self.rng.choice(len(shares), p=shares)))

    def draw_task_count(self) -> int:
        """Draw a job size: 70% single-task jobs, a Pareto tail (alpha 1.1) above."""
        if self.rng.random() < 0.7:
            return 1
        size = int(2 * (1.0 - self.rng.random()) ** (-1.0 / 1.1))
        return max(2, min(size, self.max_tasks))

    def draw_duration_s(self, *, length_biased: bool = False) -> float:
        """Draw a batch task's run time in seconds.

        A log-normal body (median 300 s, sigma 1.2) with probability 0.9, else a
        Pareto tail (minimum 1,800 s, alpha 1.3), capped at ``MAX_RUN_S``. With
        ``length_biased``, draw instead the run time of a task seen running at a
        random instant, whose density is proportional to the run time: the body
        becomes log-normal with its log-mean raised by sigma squared, the tail a
        Pareto of alpha 0.3, and their weights follow their means.
        """
        rng = self.rng
        body_mean = RUN_MEDIAN_S * math.exp(RUN_SIGMA**2 / 2)
        tail_mean = RUN_TAIL_MIN_S * RUN_TAIL_ALPHA / (RUN_TAIL_ALPHA - 1)
        tail_share = RUN_TAIL_SHARE
        alpha = RUN_TAIL_ALPHA
        log_median = math.log(RUN_MEDIAN_S)
        if length_biased:
            weight = RUN_TAIL_SHARE * tail_mean
            tail_share = weight / (weight + (1 - RUN_TAIL_SHARE) * body_mean)
            alpha = RUN_TAIL_ALPHA - 1
            log_median += RUN_SIGMA**2
        if rng.random() < tail_share:
            # Inverse CDF of a Pareto truncated at MAX_RUN_S.
            top = 1 - (RUN_TAIL_MIN_S / MAX_RUN_S) ** alpha
            return RUN_TAIL_MIN_S * (1 - rng.random() * top) ** (-1 / alpha)
        return min(MAX_RUN_S, float(rng.lognormal(log_median, RUN_SIGMA)))

    def draw_service_lifetime_s(self, *, length_biased: bool = False) -> float:
        """Draw how long a service runs before its user stops it (KILL), in seconds.

        Log-normal of median one day and sigma 1; ``length_biased`` raises the
        log-mean by sigma squared (see :meth:`draw_duration_s`).
        """
        log_median = math.log(SERVICE_LIFETIME_MEDIAN_S)
        if length_biased:
            log_median += SERVICE_LIFETIME_SIGMA**2
        lifetime = float(self.rng.lognormal(log_median, SERVICE_LIFETIME_SIGMA))
        return min(lifetime, MAX_RUN_S * 10)

    def draw_old_job_id(self) -> int:
        """Draw a distinct job ID for a job submitted before the trace window.

        Such jobs have smaller IDs than those submitted inside the window.
        """
        while True:
            job_id = int(self.rng.integers(1_000_000, 6_200_000_000))
            if job_id not in self.old_job_ids:
                self.old_job_ids.add(job_id)
                return job_id

    def new_job_id(self) -> int:
        """Return the next job ID; IDs grow with submission time, as in the trace."""
        self.next_job_id += int(self.rng.integers(1, 400))
        return self.next_job_id

    def draw_job(
        self,
        *,
        band: Band,
        arrival_us: int,
        job_id: int | None = None,
        user: str | None = None,
        logical_name: str | None = None,
        service: bool | None = None,
        running_at_start: bool = False,
    ) -> Job:
        """Draw one job of ``band`` submitted at ``arrival_us``.

        With ``running_at_start`` the job is one seen alive at the window start:
        its run time or service lifetime is length-biased, and what is left of it
        is a uniform fraction.
        """
        rng = self.rng
        profile = BAND_PROFILES[band]
        priority = int(rng.choice(profile.priorities, p=profile.priority_weights))
        scheduling_class = int(rng.choice(4, p=profile.class_weights))
        if service is None:
            service = bool(rng.random() < profile.service_share)
        cpu = round_to_trace(
            min(0.5, float(rng.lognormal(math.log(profile.cpu_median), CPU_SIGMA)))
        )
        if rng.random() < ZERO_CPU_SHARE:
            cpu = 0.0
        memory = round_to_trace(
            min(
                0.5,
                float(rng.lognormal(math.log(profile.memory_median), MEMORY_SIGMA)),
            )
        )
        disk = round_to_trace(float(rng.lognormal(math.log(DISK_MEDIAN), DISK_SIGMA)))
        tasks = self.draw_task_count()
        different = tasks >= DIFFERENT_MACHINES_TASKS and bool(
            rng.random() < profile.different_machines_share
        )
        remaining = rng.random() if running_at_start else 1.0

        duration_s = math.inf
        kill_after_s = None
        if service:
            lifetime = self.draw_service_lifetime_s(length_biased=running_at_start)
            kill_after_s = max(1.0, lifetime * remaining)
        else:
            duration_s = self.draw_duration_s(length_biased=running_at_start)
            if rng.random() < profile.kill_share:
                kill_after_s = max(
                    1.0,
                    float(rng.lognormal(math.log(profile.kill_delay_median_s), 1.5)),
                )
        job = Job(
            job_id=self.new_job_id() if job_id is None else job_id,
            user=user or self.draw_user(),
            name=draw_hash(rng),
            logical_name=logical_name or draw_hash(rng),
            band=band,
            priority=priority,
            scheduling_class=scheduling_class,
            cpu=cpu,
            memory=max(memory, 1e-4),
            disk=disk,
            different_machines=different,
            service=service,
            duration_s=max(duration_s, 1e-3),
            kill_after_s=kill_after_s,
            first_run_s=duration_s * remaining if running_at_start else None,
            arrival_us=arrival_us,
        )
        job.tasks = [Task(job=job, index=i) for i in range(tasks)]
        return job


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def capped_lognormal_mean(median: float, sigma: float, cap: float) -> float:
    """Return E[min(X, cap)] for X log-normal with this median and sigma."""
    mu = math.log(median)
    z = (math.log(cap) - mu) / sigma
    body = math.exp(mu + sigma**2 / 2) * _normal_cdf(z - sigma)
    return body + cap * (1.0 - _normal_cdf(z))


def run_time_survival(t: np.ndarray) -> np.ndarray:
    """Return P(run time > t) for the batch run time of :meth:`draw_duration_s`."""
    log_t = np.log(np.maximum(t, 1e-300))
    z = (log_t - math.log(RUN_MEDIAN_S)) / RUN_SIGMA
    body = 0.5 * np.array([math.erfc(v / math.sqrt(2.0)) for v in z])
    ratio = (RUN_TAIL_MIN_S / MAX_RUN_S) ** RUN_TAIL_ALPHA
    tail = (
        (RUN_TAIL_MIN_S / np.maximum(t, RUN_TAIL_MIN_S)) ** RUN_TAIL_ALPHA - ratio
    ) / (1 - ratio)
    survival = (1 - RUN_TAIL_SHARE) * body + RUN_TAIL_SHARE * tail
    return np.where(t < MAX_RUN_S, survival, 0.0)


def mean_task_count(max_tasks: int) -> float:
    """Return the mean of :meth:`JobFactory.draw_task_count` for ``max_tasks``."""
    sizes = np.arange(3, max(max_tasks, 2) + 1)
    return 0.7 + 0.3 * (2.0 + float(np.sum((2.0 / sizes) ** 1.1)))


def expected_job_work(max_tasks: int) -> tuple[float, float]:
    """Compute the mean CPU-seconds a job requests over its life.

    The mean follows from the distributions of :class:`JobFactory`. A job requests
    tasks x CPU for its life: a service's lifetime, or a batch task's run time cut
    short by a kill. The three factors are independent within a band, so the mean
    is a sum over bands of products of means. A multi-task job has at least k
    tasks with probability (2/k)^1.1 for 3 <= k <= ``max_tasks``, so the mean
    number of tasks is ``0.7 + 0.3 * (2 + sum of (2/k)^1.1)``. The mean of a
    capped log-normal is exact, and E[min(run time, kill time)] is the integral
    of the product of their survival functions, taken numerically on a
    logarithmic grid.

    Returns
    -------
    tuple of (float, float)
        Mean CPU-seconds per job (normalized CPU times seconds) and the share of
        it requested by services.
    """
    mean_tasks = mean_task_count(max_tasks)

    service_life = capped_lognormal_mean(
        SERVICE_LIFETIME_MEDIAN_S, SERVICE_LIFETIME_SIGMA, MAX_RUN_S * 10
    )
    grid = np.geomspace(1e-3, MAX_RUN_S, 20_000)
    run_survival = run_time_survival(grid)
    mean_run = float(np.trapezoid(run_survival, grid))

    total = 0.0
    services = 0.0
    for profile in BAND_PROFILES:
        mean_cpu = (1 - ZERO_CPU_SHARE) * capped_lognormal_mean(
            profile.cpu_median, CPU_SIGMA, 0.5
        )
        kill_z = (np.log(grid) - math.log(profile.kill_delay_median_s)) / 1.5
        kill_survival = 0.5 * np.array([math.erfc(v / math.sqrt(2.0)) for v in kill_z])
        mean_killed = float(np.trapezoid(run_survival * kill_survival, grid))
        batch_life = (1 - profile.kill_share) * mean_run + profile.kill_share * (
            mean_killed
        )
        per_task = profile.job_share * mean_tasks * mean_cpu
        service_work = per_task * profile.service_share * service_life
        total += service_work + per_task * (1 - profile.service_share) * batch_life
        services += service_work
    return total, services / total
