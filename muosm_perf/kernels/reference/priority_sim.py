"""A plain event loop for the single-server priority queue, on Python lists."""

from __future__ import annotations

from collections import deque


def priority_departures(
    arrival_times: list[float],
    classes: list[int],
    service_times: list[float],
    *,
    preemptive: bool = False,
) -> list[float]:
    """Return departure instants; the rules are those of the kernel module."""
    n = len(arrival_times)
    queues: dict[int, deque[int]] = {k: deque() for k in set(classes)}
    remaining = list(service_times)
    departures = [0.0] * n
    current: int | None = None
    started = 0.0
    arrived = 0

    def most_important() -> int | None:
        for klass in sorted(queues):
            if queues[klass]:
                return queues[klass].popleft()
        return None

    while arrived < n or current is not None:
        finish = started + remaining[current] if current is not None else float("inf")
        if arrived < n and arrival_times[arrived] < finish:
            now = arrival_times[arrived]
            job = arrived
            arrived += 1
            if current is None:
                current, started = job, now
            elif preemptive and classes[job] < classes[current]:
                remaining[current] -= now - started
                queues[classes[current]].appendleft(current)
                current, started = job, now
            else:
                queues[classes[job]].append(job)
        else:
            departures[current] = finish
            while arrived < n and arrival_times[arrived] == finish:
                queues[classes[arrived]].append(arrived)
                arrived += 1
            current = most_important()
            started = finish
    return departures
