"""The cluster simulation behind the synthetic Google 2011 trace.

A discrete-event simulation over integer microseconds. Machines join, fail, are
repaired and change memory. Jobs arrive in bursts, and a scheduler places their tasks
by sampled best fit, preempts lower bands for higher ones, and retries waiting tasks
whenever capacity frees up. Every state change appends a row in the trace's own
columns. The modelling choices and their sources are listed in the docstring of
:func:`muosm_perf.traces.synthetic.generate_google_2011`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from muosm_perf.model.lifecycle import Band
from muosm_perf.traces._synthetic_workload import (
    AFTER_WINDOW_US,
    BAND_PROFILES,
    PLATFORM_MEMORY_LEVELS,
    WINDOW_START_US,
    Job,
    JobFactory,
    Machine,
    Task,
    draw_hash,
    expected_job_work,
    seconds_to_us,
)

# Task states.
NONE, PENDING, RUNNING, DEAD = 0, 1, 2, 3

# Google 2011 event codes.
SUBMIT, SCHEDULE, EVICT, FAIL, FINISH, KILL = 0, 1, 2, 3, 4, 5
ADD, REMOVE, UPDATE = 0, 1, 2
EXISTS_BUT_NO_CREATION = 2

# Kinds of queued simulation events.
(
    _JOB_ARRIVAL,
    _TASKS_SUBMIT,
    _TRY_SCHEDULE,
    _SCHEDULER_PASS,
    _TASK_END,
    _RESUBMIT,
    _JOB_KILL,
    _MACHINE_REMOVE,
    _MACHINE_ADD,
    _MACHINE_UPDATE,
) = range(10)

FORCED_FAILURE = -1
"""Token of the one REMOVE that every trace gets whatever the machine's life."""
FORCED_UPDATE = -1
"""Token of the one UPDATE that every trace gets, on a machine up at its time."""

MACHINE_EVENTS_PER_DAY = 0.0245 * 6
"""REMOVE (and, separately, UPDATE) rate per machine and day: six times the rate of
the real trace (8,957 removes of 12,583 machines in 29 days)."""

REPAIR_SHARE = 0.95
REPAIR_MEDIAN_S = 1000.0
REPAIR_SIGMA = 2.0
NEW_MACHINE_SHARE = 0.01
UPDATE_CHANGE_SHARE = 0.1
MULTI_JOB_BURST_SHARE = 0.4
BURST_JOBS_MEAN = 6
DIURNAL_AMPLITUDE = 0.3
FAIL_SHARE = 0.03
MAX_BATCH_FAILURES = 10
CRASH_LOOP_JOB_SHARE = 0.01
CRASH_RUN_MEDIAN_S = 60.0
MISSING_INFO_SHARE = 0.02
SUBMIT_WITH_MACHINE_SHARE = 0.6
SENTINEL_END_SHARE = 0.01
SAME_INSTANT_RESUBMIT_SHARE = 0.25
CANDIDATES = 8
PASS_LOOKS = 256
PASS_TRIES = 32
JOB_SUBMIT_TO_TASKS_US = 2
JOB_END_AFTER_TASKS_US = 6


@dataclass
class Rows:
    """Trace rows produced by a simulation, each list in emission order."""

    task_events: list[tuple]
    job_events: list[tuple]
    machine_events: list[tuple]
    attempts: list[list]
    """One entry per attempt that ran inside the window: job ID, task index,
    machine, start time, end time (``None`` while running at the window end) and the
    job (for its requests)."""


class ClusterSimulation:
    """Play a workload out on a cell of machines and record the trace rows.

    Parameters
    ----------
    rng
        The generator's random state; the simulation draws from nothing else.
    machines
        Every machine of the trace; the last ``new_machines`` join during the window.
    new_machines
        Machines that are not there at the start.
    factory
        Draws jobs.
    window_end_us
        Trace time of the window end; nothing is simulated after it.
    initial_load
        Share of the cell's CPU that the tasks running at the window start request.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        machines: list[Machine],
        new_machines: int,
        factory: JobFactory,
        window_end_us: int,
        initial_load: float,
    ) -> None:
        self.rng = rng
        self.machines = machines
        self.factory = factory
        self.window_end_us = window_end_us
        self.initial_load = initial_load
        self.now = 0
        self._sequence = 0
        self._queue: list[tuple] = []

        count = len(machines)
        self.cpu_capacity = np.array([m.cpu for m in machines])
        self.memory_capacity = np.array([m.memory for m in machines])
        self.known = ~np.isnan(self.cpu_capacity)
        self.free_cpu = np.where(self.known, self.cpu_capacity, 0.0)
        self.free_memory = np.where(self.known, self.memory_capacity, 0.0)
        self.up = np.zeros(count, dtype=bool)
        self.band_cpu = np.zeros((count, len(BAND_PROFILES)))
        self.band_memory = np.zeros((count, len(BAND_PROFILES)))
        self.used_cpu_total = 0.0
        self.capacity_cpu_total = 0.0

        self.initial_machines = count - new_machines
        self.job_rate = 0.0
        self.service_share = 0.0
        self.jobs: list[Job] = []
        self.waiting: list[tuple] = []
        """Heap of waiting tasks: (-priority, submit time, sequence, token, task)."""
        self.pass_queued = False
        self.rows = Rows([], [], [], [])
        self._first_runs: dict[int, float] = {}

    # ------------------------------------------------------------------ queue

    def _push(self, time_us: int, kind: int, subject: object, token: int = 0) -> None:
        if time_us > self.window_end_us:
            return
        self._sequence += 1
        heapq.heappush(self._queue, (time_us, self._sequence, kind, subject, token))

    def run(self) -> Rows:
        """Simulate from the window start to the window end and return the rows."""
        self._start_machines()
        self.job_rate, self.service_share = self._estimate_arrival_rate()
        self._start_population()
        self._plan_arrivals()
        self._plan_machine_events()

        handlers: dict[int, Callable[[object, int], None]] = {
            _JOB_ARRIVAL: self._on_job_arrival,
            _TASKS_SUBMIT: self._on_tasks_submit,
            _TRY_SCHEDULE: self._on_try_schedule,
            _SCHEDULER_PASS: self._on_scheduler_pass,
            _TASK_END: self._on_task_end,
            _RESUBMIT: self._on_resubmit,
            _JOB_KILL: self._on_job_kill,
            _MACHINE_REMOVE: self._on_machine_remove,
            _MACHINE_ADD: self._on_machine_add,
            _MACHINE_UPDATE: self._on_machine_update,
        }
        while self._queue:
            time_us, _, kind, subject, token = heapq.heappop(self._queue)
            self.now = time_us
            handlers[kind](subject, token)

        self._end_some_after_window()
        return self.rows

    # ------------------------------------------------------------------- rows

    def _task_row(
        self,
        time_us: int,
        task: Task,
        event: int,
        *,
        machine: Machine | None,
        missing_info: int | None = None,
        with_requests: bool = True,
    ) -> None:
        job = task.job
        self._sequence += 1
        nan = math.nan
        self.rows.task_events.append(
            (
                time_us,
                self._sequence,
                missing_info,
                job.job_id,
                task.index,
                None if machine is None else machine.machine_id,
                event,
                job.user,
                job.scheduling_class,
                job.priority,
                job.cpu if with_requests else nan,
                job.memory if with_requests else nan,
                job.disk if with_requests else nan,
                int(job.different_machines) if with_requests else None,
            )
        )

    def _job_row(self, time_us: int, job: Job, event: int) -> None:
        self._sequence += 1
        self.rows.job_events.append(
            (
                time_us,
                self._sequence,
                None,
                job.job_id,
                event,
                job.user,
                job.scheduling_class,
                job.name,
                job.logical_name,
            )
        )

    def _machine_row(self, machine: Machine, event: int, *, capacity: bool) -> None:
        self._sequence += 1
        self.rows.machine_events.append(
            (
                self.now,
                self._sequence,
                machine.machine_id,
                event,
                self.factory.platform_hashes[machine.platform],
                machine.cpu if capacity else math.nan,
                machine.memory if capacity else math.nan,
            )
        )

    # --------------------------------------------------------------- machines

    def _bring_up(self, machine: Machine) -> None:
        i = machine.index
        self.up[i] = True
        if self.known[i]:
            self.free_cpu[i] = machine.cpu
            self.free_memory[i] = machine.memory
            self.capacity_cpu_total += machine.cpu
        self._machine_row(machine, ADD, capacity=bool(self.known[i]))

    def _start_machines(self) -> None:
        for machine in self.machines[: self.initial_machines]:
            self._bring_up(machine)
        start = WINDOW_START_US
        span = self.window_end_us - start
        for machine in self.machines[self.initial_machines :]:
            time_us = start + int(span * self.rng.uniform(0.05, 0.95))
            machine.add_time_us = time_us
            self._push(time_us, _MACHINE_ADD, machine)

    def _plan_machine_events(self) -> None:
        rate_per_us = MACHINE_EVENTS_PER_DAY / (86_400 * 1e6)
        for machine in self.machines:
            if not self.known[machine.index]:
                continue
            begin = max(WINDOW_START_US, machine.add_time_us)
            if machine.index < self.initial_machines:
                self._queue_failure(machine)
            self._push(
                begin + int(self.rng.exponential(1 / rate_per_us)),
                _MACHINE_UPDATE,
                machine,
            )

        # One failure of a machine chosen at its time among those that run
        # tasks, so that evictions by a machine removal are always present.
        span = self.window_end_us - WINDOW_START_US
        self._push(
            WINDOW_START_US + int(span * self.rng.uniform(0.2, 0.5)),
            _MACHINE_REMOVE,
            None,
            FORCED_FAILURE,
        )

        # And one UPDATE of a machine chosen among those up at its time, outside
        # the regular chain of UPDATEs.
        span = self.window_end_us - WINDOW_START_US
        self._push(
            WINDOW_START_US + int(span * self.rng.uniform(0.05, 0.95)),
            _MACHINE_UPDATE,
            None,
            FORCED_UPDATE,
        )

    def _queue_failure(self, machine: Machine) -> None:
        """Queue the next REMOVE of a machine that is up, at an exponential time.

        The event carries the machine's life number, so that it is dropped if the
        machine fails otherwise first.
        """
        rate_per_us = MACHINE_EVENTS_PER_DAY / (86_400 * 1e6)
        start = max(self.now, WINDOW_START_US)
        self._push(
            start + int(self.rng.exponential(1 / rate_per_us)),
            _MACHINE_REMOVE,
            machine,
            machine.life,
        )

    def _on_machine_add(self, machine: Machine, _token: int) -> None:
        if self.up[machine.index]:
            return
        self._bring_up(machine)
        if self.known[machine.index]:
            self._queue_failure(machine)
        self._queue_pass()

    def _on_machine_remove(self, machine: Machine | None, token: int) -> None:
        if machine is None:
            busy = [m for m in self.machines if m.tasks]
            if not busy:
                return
            machine = busy[int(self.rng.integers(len(busy)))]
        i = machine.index
        if not self.up[i] or token not in (FORCED_FAILURE, machine.life):
            return
        machine.life += 1
        self._machine_row(machine, REMOVE, capacity=True)
        # The forced failure re-SUBMITs its tasks at the instant of their EVICT, so
        # that every trace has such a tie.
        for task in list(machine.tasks):
            self._evict(task, same_instant=token == FORCED_FAILURE)
        self.up[i] = False
        self.capacity_cpu_total -= machine.cpu
        if self.rng.random() < REPAIR_SHARE:
            downtime = self.rng.lognormal(math.log(REPAIR_MEDIAN_S), REPAIR_SIGMA)
            self._push(self.now + seconds_to_us(downtime), _MACHINE_ADD, machine)
        self._queue_pass()

    def _on_machine_update(self, machine: Machine | None, token: int) -> None:
        if machine is None:
            candidates = np.flatnonzero(self.up & self.known)
            if not candidates.size:
                return
            machine = self.machines[int(self.rng.choice(candidates))]
        i = machine.index
        if token != FORCED_UPDATE:
            rate_per_us = MACHINE_EVENTS_PER_DAY / (86_400 * 1e6)
            self._push(
                self.now + int(self.rng.exponential(1 / rate_per_us)),
                _MACHINE_UPDATE,
                machine,
            )
        if not self.up[i]:
            return
        if self.rng.random() < UPDATE_CHANGE_SHARE:
            levels = [
                m
                for m in PLATFORM_MEMORY_LEVELS[machine.platform]
                if m != machine.memory
            ]
            if levels:
                new_memory = levels[int(self.rng.integers(len(levels)))]
                self.free_memory[i] += new_memory - machine.memory
                machine.memory = new_memory
                self.memory_capacity[i] = new_memory
        self._machine_row(machine, UPDATE, capacity=True)

        # A smaller machine evicts its lowest-priority tasks until the rest fit.
        victims = sorted(machine.tasks, key=lambda t: (t.job.priority, -t.submit_us))
        while self.free_memory[i] < 0 and victims:
            self._evict(victims.pop(0))
        self._queue_pass()

    # -------------------------------------------------------------- workload

    def _start_population(self) -> None:
        """Fill the cell to ``initial_load`` with jobs alive at the window start.

        Services take the share of the load that services carry in the long run
        (see :meth:`_estimate_arrival_rate`), batch jobs the rest.
        """
        rng = self.rng
        service_target = (
            self.service_share * self.initial_load * self.capacity_cpu_total
        )
        total_target = self.initial_load * self.capacity_cpu_total
        service_weights = np.array(
            [p.job_share * p.service_share for p in BAND_PROFILES]
        )
        batch_weights = np.array(
            [p.job_share * (1 - p.service_share) for p in BAND_PROFILES]
        )
        jobs: list[Job] = []
        failed_placements = 0
        while self.used_cpu_total < total_target and failed_placements < 20:
            service = self.used_cpu_total < service_target
            weights = service_weights if service else batch_weights
            band = Band(int(rng.choice(len(weights), p=weights / weights.sum())))
            job = self.factory.draw_job(
                band=band,
                arrival_us=0,
                job_id=self.factory.draw_old_job_id(),
                service=service,
                running_at_start=True,
            )
            if not service and not any(j.cpu == 0.0 for j in jobs):
                # Every trace has a running job that requests no CPU.
                job.cpu = 0.0
            jobs.append(job)
            self._job_row(0, job, SUBMIT)
            job.submitted = True
            for task in job.tasks:
                # Tasks past the target, or that fit nowhere, were still queued.
                full = self.used_cpu_total >= total_target
                if full or not self._place(task, preempt=False, initial=True):
                    failed_placements += not full
                    self._initial_pending(task)

        # A free-band job still queued at the start that its user kills before the
        # scheduler tries it: every trace has a KILL of a pending task.
        queued = self.factory.draw_job(
            band=Band.FREE, arrival_us=0, job_id=self.factory.draw_old_job_id()
        )
        queued.kill_after_s = None
        jobs.append(queued)
        self._job_row(0, queued, SUBMIT)
        queued.submitted = True
        for task in queued.tasks:
            self._initial_pending(task)
        self._push(
            WINDOW_START_US + int(rng.uniform(0.1, 0.9) * 1e6), _JOB_KILL, queued
        )

        for job in jobs:
            if job.kill_after_s is not None:
                self._push(
                    WINDOW_START_US + seconds_to_us(job.kill_after_s), _JOB_KILL, job
                )
        self.jobs.extend(jobs)

        self._ensure_missing_info()

        # One task crash-loops from the start: a service's that outlives the window
        # when there is one, so that it loops to the end.
        span_s = (self.window_end_us - WINDOW_START_US) / 1e6
        running = [t for job in jobs for t in job.tasks if t.state == RUNNING]
        lasting = [
            t
            for t in running
            if t.job.service and (t.job.kill_after_s or math.inf) > span_s
        ]
        chosen = lasting or running
        if chosen:
            task = chosen[int(rng.integers(len(chosen)))]
            task.crash_loop = True
            self._plan_end(task, first_run_s=None, reschedule=True)

    def _ensure_missing_info(self) -> None:
        """Give one time-0 SUBMIT the missing-info code if chance gave none."""
        rows = self.rows.task_events
        submits = [i for i, row in enumerate(rows) if row[6] == SUBMIT]
        if not submits or any(rows[i][2] is not None for i in submits):
            return
        i = submits[int(self.rng.integers(len(submits)))]
        nan = math.nan
        rows[i] = (
            *rows[i][:2],
            EXISTS_BUT_NO_CREATION,
            *rows[i][3:10],
            nan,
            nan,
            nan,
            None,
        )

    def _initial_pending(self, task: Task) -> None:
        """Record a task queued at the start: SUBMIT at time 0, first try in window."""
        task.state = PENDING
        task.submit_us = 0
        self._initial_submit_row(task, machine=None)
        self._push(
            WINDOW_START_US + self._think_us(task), _TRY_SCHEDULE, task, task.token
        )

    def _initial_submit_row(self, task: Task, machine: Machine | None) -> None:
        """Write the time-0 SUBMIT of a task present at the start.

        A few carry the missing-info code EXISTS_BUT_NO_CREATION and no requests,
        and most running ones name their machine, as in the real trace.
        """
        missing = self.rng.random() < MISSING_INFO_SHARE
        named = machine if self.rng.random() < SUBMIT_WITH_MACHINE_SHARE else None
        self._task_row(
            0,
            task,
            SUBMIT,
            machine=named,
            missing_info=EXISTS_BUT_NO_CREATION if missing else None,
            with_requests=not missing,
        )

    def _plan_arrivals(self) -> None:
        """Queue job arrivals: bursts of similar jobs, modulated by a daily cycle."""
        rng = self.rng
        span_us = self.window_end_us - WINDOW_START_US
        job_rate = self.job_rate
        burst_mean = (
            1 - MULTI_JOB_BURST_SHARE
        ) + MULTI_JOB_BURST_SHARE * BURST_JOBS_MEAN
        peak_rate = job_rate / burst_mean * (1 + DIURNAL_AMPLITUDE)
        phase = rng.uniform(0, 2 * math.pi)

        time_s = 0.0
        while True:
            time_s += rng.exponential(1 / peak_rate)
            if time_s * 1e6 >= span_us:
                break
            diurnal = 1 + DIURNAL_AMPLITUDE * math.sin(
                2 * math.pi * time_s / 86_400 + phase
            )
            if rng.random() * (1 + DIURNAL_AMPLITUDE) > diurnal:
                continue
            size = 1
            if rng.random() < MULTI_JOB_BURST_SHARE:
                size = int(rng.geometric(1 / BURST_JOBS_MEAN))
            user = self.factory.draw_user()
            logical = draw_hash(rng)
            band = self.factory.draw_band()
            arrival_s = time_s
            for _ in range(size):
                arrival_us = WINDOW_START_US + seconds_to_us(arrival_s)
                if arrival_us > self.window_end_us:
                    break
                job = self.factory.draw_job(
                    band=band, arrival_us=arrival_us, user=user, logical_name=logical
                )
                if rng.random() < CRASH_LOOP_JOB_SHARE:
                    job.crash_loop_tasks = min(len(job.tasks), int(rng.integers(1, 4)))
                self.jobs.append(job)
                self._push(arrival_us, _JOB_ARRIVAL, job)
                arrival_s += float(rng.lognormal(math.log(1.5), 1.0))

        # One job with job events and no task events: its tasks never get enabled.
        arrival_us = WINDOW_START_US + int(span_us * rng.uniform(0.1, 0.5))
        empty = self.factory.draw_job(band=Band.MIDDLE, arrival_us=arrival_us)
        empty.tasks = []
        empty.kill_after_s = float(rng.uniform(60, 600))
        self.jobs.append(empty)
        self._push(arrival_us, _JOB_ARRIVAL, empty)

    def _estimate_arrival_rate(self) -> tuple[float, float]:
        """Compute the job arrival rate that keeps the load at ``initial_load``.

        By Little's law the CPU requested on average equals the arrival rate times
        the mean CPU-seconds a job requests over its life
        (:func:`~muosm_perf.traces._synthetic_workload.expected_job_work`).

        Returns
        -------
        tuple of (float, float)
            Jobs per second, and the share of the load that services carry.
        """
        mean_work, service_share = expected_job_work(self.factory.max_tasks)
        rate = self.initial_load * self.capacity_cpu_total / mean_work
        return rate, service_share

    def _on_job_arrival(self, job: Job, _token: int) -> None:
        self._job_row(self.now, job, SUBMIT)
        if job.kill_after_s is not None:
            self._push(self.now + seconds_to_us(job.kill_after_s), _JOB_KILL, job)
        if job.tasks:
            self._push(self.now + JOB_SUBMIT_TO_TASKS_US, _TASKS_SUBMIT, job)

    def _on_tasks_submit(self, job: Job, _token: int) -> None:
        if job.ended:
            return
        job.submitted = True
        for task in job.tasks:
            task.crash_loop = task.index < job.crash_loop_tasks
            self._submit(task)

    def _submit(self, task: Task) -> None:
        task.state = PENDING
        task.token += 1
        task.submit_us = self.now
        self._task_row(self.now, task, SUBMIT, machine=None)
        self._push(self.now + self._think_us(task), _TRY_SCHEDULE, task, task.token)

    def _think_us(self, task: Task) -> int:
        """Draw the scheduler's time to consider a task, growing with the load."""
        rng = self.rng
        seconds = 1.0 + float(rng.lognormal(math.log(0.3), 1.0))
        if task.job.scheduling_class == 3:
            seconds *= 10
        if task.job.band == Band.FREE:
            seconds *= 1.3
        load = min(self.used_cpu_total / max(self.capacity_cpu_total, 1e-9), 1.0)
        seconds /= 1 - load**2 / 2
        return seconds_to_us(seconds)

    # -------------------------------------------------------------- scheduler

    def _on_try_schedule(self, task: Task, token: int) -> None:
        if task.token != token or task.state != PENDING:
            return
        if not self._place(task, preempt=True):
            self._wait(task)

    def _wait(self, task: Task) -> None:
        """Queue a pending task that fits nowhere for the next scheduler pass."""
        task.waiting = True
        self._sequence += 1
        entry = (-task.job.priority, task.submit_us, self._sequence, task.token, task)
        heapq.heappush(self.waiting, entry)

    def _queue_pass(self) -> None:
        if self.waiting and not self.pass_queued:
            self.pass_queued = True
            delay = self.rng.uniform(0.5, 2.0)
            self._push(self.now + seconds_to_us(delay), _SCHEDULER_PASS, None)

    def _on_scheduler_pass(self, _subject: object, _token: int) -> None:
        """Retry waiting tasks in priority order, then earliest submission first.

        A pass looks at no more than ``PASS_LOOKS`` waiting tasks and tries to
        place no more than ``PASS_TRIES`` of them, so that a long queue costs a
        bounded time per pass. A free-band task larger than the largest free room
        is skipped without a try. If a pass places tasks and reaches a limit,
        another pass follows.
        """
        self.pass_queued = False
        usable = self.up & self.known
        if not usable.any():
            return
        room_cpu = float(self.free_cpu[usable].max())
        room_memory = float(self.free_memory[usable].max())
        kept: list[tuple] = []
        looks = tries = placed = 0
        while self.waiting and looks < PASS_LOOKS and tries < PASS_TRIES:
            entry = heapq.heappop(self.waiting)
            task = entry[-1]
            if not task.waiting or task.state != PENDING or task.token != entry[3]:
                continue
            looks += 1
            job = task.job
            too_big = job.cpu > room_cpu or job.memory > room_memory
            if job.band == Band.FREE and too_big:
                kept.append(entry)
                continue
            tries += 1
            if not self._place(task, preempt=True):
                kept.append(entry)
                continue
            placed += 1
            room_cpu = float(self.free_cpu[usable].max())
            room_memory = float(self.free_memory[usable].max())
        for entry in kept:
            heapq.heappush(self.waiting, entry)
        if placed and (looks >= PASS_LOOKS or tries >= PASS_TRIES):
            self._queue_pass()

    def _excluded(self, job: Job) -> list[int]:
        if job.different_machines and job.machine_counts:
            return list(job.machine_counts)
        return []

    def _place(self, task: Task, *, preempt: bool, initial: bool = False) -> bool:
        """Place a pending task by sampled best fit, preempting lower bands if needed.

        Returns whether the task now runs.
        """
        job = task.job
        feasible = (
            self.up
            & self.known
            & (self.free_cpu >= job.cpu)
            & (self.free_memory >= job.memory)
        )
        excluded = self._excluded(job)
        feasible[excluded] = False
        candidates = np.flatnonzero(feasible)
        if candidates.size:
            if candidates.size > CANDIDATES:
                candidates = self.rng.choice(candidates, size=CANDIDATES, replace=False)
            left = (self.free_cpu[candidates] - job.cpu) / self.cpu_capacity[
                candidates
            ] + (self.free_memory[candidates] - job.memory) / self.memory_capacity[
                candidates
            ]
            machine = self.machines[int(candidates[int(np.argmin(left))])]
            self._start(task, machine, initial=initial)
            return True
        if not preempt or job.band == Band.FREE:
            return False
        return self._preempt_for(task, excluded)

    def _preempt_for(self, task: Task, excluded: list[int]) -> bool:
        job = task.job
        lower = int(job.band)
        cpu_room = self.free_cpu + self.band_cpu[:, :lower].sum(axis=1)
        memory_room = self.free_memory + self.band_memory[:, :lower].sum(axis=1)
        feasible = (
            self.up & self.known & (cpu_room >= job.cpu) & (memory_room >= job.memory)
        )
        feasible[excluded] = False
        candidates = np.flatnonzero(feasible)
        if not candidates.size:
            return False
        shortfall = (
            np.maximum(job.cpu - self.free_cpu[candidates], 0)
            / (self.cpu_capacity[candidates])
            + np.maximum(job.memory - self.free_memory[candidates], 0)
            / (self.memory_capacity[candidates])
        )
        machine = self.machines[int(candidates[int(np.argmin(shortfall))])]
        i = machine.index
        victims = sorted(
            (t for t in machine.tasks if t.job.band < job.band),
            key=lambda t: (t.job.priority, -t.submit_us, t.job.job_id, t.index),
        )
        for victim in victims:
            if self.free_cpu[i] >= job.cpu and self.free_memory[i] >= job.memory:
                break
            self._evict(victim)
        self._start(task, machine, initial=False)
        return True

    def _start(self, task: Task, machine: Machine, *, initial: bool) -> None:
        job = task.job
        i = machine.index
        self.free_cpu[i] -= job.cpu
        self.free_memory[i] -= job.memory
        self.band_cpu[i, job.band] += job.cpu
        self.band_memory[i, job.band] += job.memory
        self.used_cpu_total += job.cpu
        machine.tasks.append(task)
        job.machine_counts[i] = job.machine_counts.get(i, 0) + 1
        if not job.scheduled:
            job.scheduled = True
            self._job_row(0 if initial else self.now, job, SCHEDULE)

        task.state = RUNNING
        task.token += 1
        task.machine = machine
        task.waiting = False
        start_us = WINDOW_START_US if initial else self.now
        task.attempt = [job.job_id, task.index, machine, start_us, None, job]
        self.rows.attempts.append(task.attempt)
        if initial:
            self._initial_submit_row(task, machine)
            self._task_row(0, task, SCHEDULE, machine=machine)
            self._plan_end(task, first_run_s=job.first_run_s, reschedule=False)
        else:
            self._task_row(self.now, task, SCHEDULE, machine=machine)
            self._plan_end(task, first_run_s=None, reschedule=False)

    def _plan_end(
        self, task: Task, *, first_run_s: float | None, reschedule: bool
    ) -> None:
        """Queue the end of the running attempt: a FAIL, a FINISH, or nothing."""
        rng = self.rng
        job = task.job
        if reschedule:
            task.token += 1
        start_us = WINDOW_START_US if self.now == 0 else self.now
        if task.crash_loop:
            run_s = float(rng.lognormal(math.log(CRASH_RUN_MEDIAN_S), 0.8))
            self._push(
                start_us + seconds_to_us(run_s), _TASK_END, (task, FAIL), task.token
            )
            return
        if rng.random() < FAIL_SHARE:
            typical = job.duration_s
            if not math.isfinite(typical):
                typical = float(rng.lognormal(math.log(3600.0), 1.0))
            run_s = typical * rng.uniform(0.05, 0.95)
            self._push(
                start_us + seconds_to_us(run_s), _TASK_END, (task, FAIL), task.token
            )
            return
        run_s = first_run_s if first_run_s is not None else job.duration_s
        if math.isfinite(run_s):
            self._push(
                start_us + seconds_to_us(run_s), _TASK_END, (task, FINISH), task.token
            )

    # ------------------------------------------------------------ task endings

    def _stop(self, task: Task, event: int) -> None:
        """End the current attempt of a pending or running task with ``event``."""
        job = task.job
        machine = task.machine if task.state == RUNNING else None
        self._task_row(self.now, task, event, machine=machine)
        if machine is not None:
            i = machine.index
            machine.tasks.remove(task)
            self.free_cpu[i] += job.cpu
            self.free_memory[i] += job.memory
            self.band_cpu[i, job.band] -= job.cpu
            self.band_memory[i, job.band] -= job.memory
            self.used_cpu_total -= job.cpu
            if not machine.tasks:
                # Reset the sums exactly so float drift cannot build up.
                self.free_cpu[i] = machine.cpu
                self.free_memory[i] = machine.memory
                self.band_cpu[i] = 0.0
                self.band_memory[i] = 0.0
            job.machine_counts[i] -= 1
            if not job.machine_counts[i]:
                del job.machine_counts[i]
            if task.attempt is not None:
                task.attempt[4] = self.now
                task.attempt = None
        task.state = DEAD
        task.token += 1
        task.machine = None
        task.waiting = False

    def _resubmit_later(self, task: Task, *, same_instant: bool = False) -> None:
        """Queue the re-SUBMIT that follows an eviction or a failure."""
        task.resubmit_pending = True
        delay = 0
        if not same_instant and self.rng.random() >= SAME_INSTANT_RESUBMIT_SHARE:
            delay = int(self.rng.integers(5, 16))
        self._push(self.now + delay, _RESUBMIT, task, task.token)

    def _evict(self, task: Task, *, same_instant: bool = False) -> None:
        self._stop(task, EVICT)
        self._resubmit_later(task, same_instant=same_instant)
        self._queue_pass()

    def _on_task_end(self, subject: tuple[Task, int], token: int) -> None:
        task, event = subject
        if task.token != token or task.state != RUNNING:
            return
        job = task.job
        self._stop(task, event)
        self._queue_pass()
        if event == FAIL:
            task.failures += 1
            if not job.service and task.failures >= MAX_BATCH_FAILURES:
                self._fail_job(job)
                return
            self._resubmit_later(task)
            return
        self._end_job_if_done(job)

    def _on_resubmit(self, task: Task, token: int) -> None:
        if task.token != token or task.job.ended or not task.resubmit_pending:
            return
        task.resubmit_pending = False
        self._submit(task)

    def _fail_job(self, job: Job) -> None:
        job.failed = True
        self._kill_tasks(job)
        self._end_job(job, FAIL)

    def _on_job_kill(self, job: Job, _token: int) -> None:
        if job.ended:
            return
        job.killed = True
        self._kill_tasks(job)
        self._end_job(job, KILL)

    def _kill_tasks(self, job: Job) -> None:
        for task in job.tasks:
            if task.state in (PENDING, RUNNING):
                self._stop(task, KILL)
            elif task.resubmit_pending:
                task.resubmit_pending = False
                task.token += 1
        self._queue_pass()

    def _end_job_if_done(self, job: Job) -> None:
        if job.ended or not job.submitted:
            return
        for task in job.tasks:
            if task.state != DEAD or task.resubmit_pending:
                return
        self._end_job(job, FINISH)

    def _end_job(self, job: Job, event: int) -> None:
        job.ended = True
        time_us = self.now + JOB_END_AFTER_TASKS_US
        if time_us <= self.window_end_us:
            self._job_row(time_us, job, event)

    # ------------------------------------------------------------- window end

    def _end_some_after_window(self) -> None:
        """Give a few single-task jobs running at the end a FINISH after the window.

        Their task and job FINISH rows carry the after-the-window time 2^63-1.
        """
        candidates = [
            job
            for job in self.jobs
            if not job.ended and len(job.tasks) == 1 and job.tasks[0].state == RUNNING
        ]
        if not candidates:
            return
        count = max(1, round(SENTINEL_END_SHARE * len(candidates)))
        picks = self.rng.choice(len(candidates), size=count, replace=False)
        for pick in sorted(int(p) for p in picks):
            job = candidates[pick]
            task = job.tasks[0]
            self._task_row(AFTER_WINDOW_US, task, FINISH, machine=task.machine)
            self._job_row(AFTER_WINDOW_US, job, FINISH)
