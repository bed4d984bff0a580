"""Replay of a rigid-job queue on one machine under FCFS or EASY backfilling.

Each job needs a fixed number of processors for its whole run. Jobs queue in submit
order (ties by input order). At every instant where something happens, in this
order:

1. jobs whose run ends now release their processors;
2. jobs submitted now join the end of the queue;
3. the head of the queue starts while it fits in the free processors;
4. FCFS stops there. EASY gives the blocked head a reservation: the *shadow time*,
   the earliest instant at which enough processors are free if every running job
   ends at its estimate (an overdue job is taken to end now). The *extra*
   processors are those free at the shadow time beyond what the head needs;
5. EASY then scans the rest of the queue in order. A job starts now if it fits in
   the free processors and either ends by its estimate no later than the shadow
   time, or uses no more than the extra processors, which it then consumes.

This is FCFS with backfilling as the EASY scheduler introduced it: later jobs may
start ahead of their turn provided they do not delay the first queued job (Tsafrir,
Etsion and Feitelson, "Backfilling using system-generated predictions rather than
user runtime estimates", IEEE TPDS 18(6), 2007). A job runs for its actual run time
from the log, which already reflects any kill at its estimate; estimates (the
requested time) only shape reservations.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import NULL_INT, njit

POLICIES = ("fcfs", "easy")
"""Queueing policies :func:`replay_schedule` accepts."""

MAX_TIME = 2**62
"""Largest time accepted; sums of two times stay below 2^63-1."""


@njit
def _heap_push(heap_time, heap_job, size, time, job):
    i = size
    heap_time[i] = time
    heap_job[i] = job
    while i > 0:
        parent = (i - 1) // 2
        if heap_time[parent] <= heap_time[i]:
            break
        heap_time[parent], heap_time[i] = heap_time[i], heap_time[parent]
        heap_job[parent], heap_job[i] = heap_job[i], heap_job[parent]
        i = parent
    return size + 1


@njit
def _heap_pop(heap_time, heap_job, size):
    job = heap_job[0]
    size -= 1
    heap_time[0] = heap_time[size]
    heap_job[0] = heap_job[size]
    i = 0
    while True:
        left = 2 * i + 1
        smallest = i
        if left < size and heap_time[left] < heap_time[smallest]:
            smallest = left
        if left + 1 < size and heap_time[left + 1] < heap_time[smallest]:
            smallest = left + 1
        if smallest == i:
            break
        heap_time[smallest], heap_time[i] = heap_time[i], heap_time[smallest]
        heap_job[smallest], heap_job[i] = heap_job[i], heap_job[smallest]
        i = smallest
    return job, size


@njit
def _replay_kernel(order, submit, run, estimate, processors, capacity, easy):
    n = submit.shape[0]
    start = np.full(n, NULL_INT, np.int64)
    heap_time = np.empty(n, np.int64)
    heap_job = np.empty(n, np.int64)
    heap_size = 0
    running = np.empty(n, np.int64)
    position = np.full(n, -1, np.int64)
    n_running = 0
    queue = np.empty(n, np.int64)
    queue_start = 0
    queue_end = 0
    keep = np.empty(n, np.bool_)
    est_end = np.empty(n, np.int64)
    free = capacity
    next_arrival = 0

    while next_arrival < n or queue_end > queue_start or heap_size > 0:
        if heap_size > 0:
            now = heap_time[0]
            if next_arrival < n and submit[order[next_arrival]] < now:
                now = submit[order[next_arrival]]
        else:
            now = submit[order[next_arrival]]

        # 1. Jobs ending now release their processors.
        while heap_size > 0 and heap_time[0] == now:
            job, heap_size = _heap_pop(heap_time, heap_job, heap_size)
            free += processors[job]
            last = running[n_running - 1]
            running[position[job]] = last
            position[last] = position[job]
            position[job] = -1
            n_running -= 1

        # 2. Jobs submitted now join the queue.
        while next_arrival < n and submit[order[next_arrival]] == now:
            queue[queue_end] = order[next_arrival]
            queue_end += 1
            next_arrival += 1

        # 3. The head starts while it fits.
        while queue_end > queue_start and processors[queue[queue_start]] <= free:
            job = queue[queue_start]
            queue_start += 1
            start[job] = now
            free -= processors[job]
            heap_size = _heap_push(heap_time, heap_job, heap_size, now + run[job], job)
            running[n_running] = job
            position[job] = n_running
            n_running += 1
        if not easy or queue_end == queue_start:
            continue

        # 4. Reservation of the blocked head: the shadow time and extra processors.
        head = queue[queue_start]
        for k in range(n_running):
            job = running[k]
            est_end[k] = max(start[job] + estimate[job], now)
        by_end = np.argsort(est_end[:n_running], kind="mergesort")
        available = free
        shadow = now
        for k in by_end:
            available += processors[running[k]]
            if available >= processors[head]:
                shadow = est_end[k]
                break
        extra = free - processors[head]
        for k in range(n_running):
            if est_end[k] <= shadow:
                extra += processors[running[k]]

        # 5. Backfill later jobs that end by the shadow time or fit in the extra.
        for i in range(queue_start + 1, queue_end):
            job = queue[i]
            keep[i] = True
            if processors[job] > free:
                continue
            if now + estimate[job] <= shadow:
                pass
            elif processors[job] <= extra:
                extra -= processors[job]
            else:
                continue
            keep[i] = False
            start[job] = now
            free -= processors[job]
            heap_size = _heap_push(heap_time, heap_job, heap_size, now + run[job], job)
            running[n_running] = job
            position[job] = n_running
            n_running += 1
        kept = queue_start + 1
        for i in range(queue_start + 1, queue_end):
            if keep[i]:
                queue[kept] = queue[i]
                kept += 1
        queue_end = kept
    return start


def _as_int64(name: str, values: np.ndarray, n: int) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=np.int64)
    if array.ndim != 1 or array.shape[0] != n:
        raise ParameterError(
            f"{name} must be a 1-D array of {n} values (like submit), got shape "
            f"{array.shape}"
        )
    return array


def replay_schedule(
    submit: np.ndarray,
    run: np.ndarray,
    estimate: np.ndarray,
    processors: np.ndarray,
    capacity: int,
    policy: str = "easy",
) -> np.ndarray:
    """Replay rigid jobs on a machine of ``capacity`` processors; return start times.

    Parameters
    ----------
    submit
        Submit times (int64, any time unit, for example microseconds).
    run
        Actual run times in the same unit; ``NULL_INT`` or negative where unknown.
    estimate
        Run-time estimates (the requested time) in the same unit, used for EASY
        reservations; ``NULL_INT`` or negative where unknown, in which case the
        actual run time is used (a perfect estimate).
    processors
        Processors each job needs for its whole run.
    capacity
        Processors of the machine.
    policy
        ``fcfs`` or ``easy`` (see the module documentation for the rules).

    Returns
    -------
    numpy.ndarray
        Start time of each job (int64); ``NULL_INT`` for a job that cannot be
        replayed: unknown submit or run time, or processors below 1 or above
        ``capacity``. Such jobs do not take part in the replay.

    Raises
    ------
    ParameterError
        If the arrays differ in length, the capacity is below 1, the policy is
        unknown, or a time is 2^62 or more (remove sentinels first).
    """
    if policy not in POLICIES:
        raise ParameterError(
            f"policy must be one of {', '.join(POLICIES)}, got {policy!r}"
        )
    if int(capacity) != capacity or capacity < 1:
        raise ParameterError(
            f"capacity must be a whole number of processors >= 1, got {capacity!r}"
        )
    submit = np.ascontiguousarray(submit, dtype=np.int64)
    if submit.ndim != 1:
        raise ParameterError(f"submit must be a 1-D array, got shape {submit.shape}")
    n = submit.shape[0]
    run = _as_int64("run", run, n)
    estimate = _as_int64("estimate", estimate, n)
    processors = _as_int64("processors", processors, n)

    valid = (
        (submit != NULL_INT) & (run >= 0) & (processors >= 1) & (processors <= capacity)
    )
    for name, values in (("submit", submit), ("run", run), ("estimate", estimate)):
        too_large = valid & (values >= MAX_TIME)
        if too_large.any():
            raise ParameterError(
                f"{name} has a time of 2^62 or more ({int(values[too_large][0])}); "
                "turn sentinels such as 2^63-1 into nulls before replaying"
            )
    estimate = np.where(estimate >= 0, estimate, run)

    jobs = np.flatnonzero(valid)
    order = np.argsort(submit[jobs], kind="stable").astype(np.int64)
    start = _replay_kernel(
        order,
        np.ascontiguousarray(submit[jobs]),
        np.ascontiguousarray(run[jobs]),
        np.ascontiguousarray(estimate[jobs]),
        np.ascontiguousarray(processors[jobs]),
        np.int64(capacity),
        policy == "easy",
    )
    result = np.full(n, NULL_INT, dtype=np.int64)
    result[jobs] = start
    return result
