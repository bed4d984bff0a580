"""Reference replay of a rigid-job queue under FCFS or EASY backfilling.

Plain Python with lists and full re-sorting at every step, written to be read
against the rules in :mod:`muosm_perf.kernels.backfill`, not for speed.
"""

from __future__ import annotations

from collections.abc import Sequence

from muosm_perf.kernels._numba import NULL_INT


def replay_reference(
    submit: Sequence[int],
    run: Sequence[int],
    estimate: Sequence[int],
    processors: Sequence[int],
    capacity: int,
    policy: str,
) -> list[int | None]:
    """Return the start time of every job (None for a job that is not replayed).

    Parameters are as for :func:`muosm_perf.kernels.backfill.replay_schedule`: a job
    with an unknown (``NULL_INT``) submit time, a negative run time, or processors
    below 1 or above ``capacity`` is left out, and a negative estimate is replaced
    by the run time.
    """
    n = len(submit)
    start: list[int | None] = [None] * n
    estimate = [e if e >= 0 else r for e, r in zip(estimate, run, strict=True)]
    valid = [
        j
        for j in range(n)
        if submit[j] != NULL_INT and run[j] >= 0 and 1 <= processors[j] <= capacity
    ]
    arrivals = sorted(valid, key=lambda j: (submit[j], j))
    queue: list[int] = []
    running: list[int] = []
    free = capacity

    def begin(job: int, now: int) -> None:
        nonlocal free
        start[job] = now
        running.append(job)
        free -= processors[job]

    while arrivals or queue or running:
        candidates = [start[j] + run[j] for j in running]
        if arrivals:
            candidates.append(submit[arrivals[0]])
        now = min(candidates)

        # 1. Jobs ending now release their processors.
        for job in [j for j in running if start[j] + run[j] == now]:
            running.remove(job)
            free += processors[job]

        # 2. Jobs submitted now join the end of the queue, in submit order.
        while arrivals and submit[arrivals[0]] == now:
            queue.append(arrivals.pop(0))

        # 3. The head of the queue starts while it fits (FCFS and EASY alike).
        while queue and processors[queue[0]] <= free:
            begin(queue.pop(0), now)
        if policy == "fcfs" or not queue:
            continue

        # 4. EASY: reserve the earliest time the blocked head can start, counting
        #    each running job as ending at its estimate (or now, if overdue).
        head = queue[0]
        ends = sorted((max(start[j] + estimate[j], now), j) for j in running)
        available = free
        shadow = None
        for end, job in ends:
            available += processors[job]
            if available >= processors[head]:
                shadow = end
                break
        assert shadow is not None, "the head fits the machine, so it must fit then"
        # Spare processors at the reservation: all that are free once every job
        # estimated to end by then has ended, minus what the head needs.
        released = sum(processors[j] for end, j in ends if end <= shadow)
        extra = free + released - processors[head]

        # 5. A later job starts now if it fits and either ends (by its estimate)
        #    before the reservation or uses only processors the head leaves spare.
        for job in list(queue[1:]):
            if processors[job] > free:
                continue
            if now + estimate[job] <= shadow:
                queue.remove(job)
                begin(job, now)
            elif processors[job] <= extra:
                queue.remove(job)
                begin(job, now)
                extra -= processors[job]
    return start
