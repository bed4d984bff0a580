"""Single-server static-priority queue simulation, with or without preemption.

Customers arrive at non-decreasing instants, each with a class (0 is the most
important) and a service time. Within a class service is FCFS. The server picks
the head of the most important non-empty class whenever it becomes free.

- Non-preemptive: a job in service always finishes.
- Preemptive-resume: an arrival of a more important class interrupts the job in
  service, which returns to the head of its class's queue and later resumes with
  the service it still needs.

Simultaneous events follow one rule: at an instant when the server finishes a job,
every customer arriving at that instant joins its queue before the next job is
chosen. Arrivals at one instant are taken in input order, so a later, more important
one preempts an earlier one at once (after zero service).
"""

from __future__ import annotations

import numpy as np

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import njit
from muosm_perf.kernels.queue_sim import check_customers

_NONE = -1


@njit
def _push_back(head, tail, following, klass, job):
    following[job] = _NONE
    if tail[klass] == _NONE:
        head[klass] = job
    else:
        following[tail[klass]] = job
    tail[klass] = job


@njit
def _push_front(head, tail, following, klass, job):
    following[job] = head[klass]
    head[klass] = job
    if tail[klass] == _NONE:
        tail[klass] = job


@njit
def _pop_most_important(head, tail, following):
    for klass in range(head.shape[0]):
        job = head[klass]
        if job != _NONE:
            head[klass] = following[job]
            if head[klass] == _NONE:
                tail[klass] = _NONE
            return job
    return _NONE


@njit
def _priority_kernel(
    arrival_times, classes, service_times, class_count, preemptive, departures
):
    n = arrival_times.shape[0]
    head = np.full(class_count, _NONE, np.int64)
    tail = np.full(class_count, _NONE, np.int64)
    following = np.full(n, _NONE, np.int64)
    remaining = service_times.copy()

    current = _NONE
    started = 0.0
    next_arrival = 0
    done = 0
    while done < n:
        finish = started + remaining[current] if current != _NONE else np.inf
        if next_arrival < n and arrival_times[next_arrival] < finish:
            # An arrival comes first.
            t = arrival_times[next_arrival]
            job = next_arrival
            next_arrival += 1
            klass = classes[job]
            if current == _NONE:
                current = job
                started = t
            elif preemptive and klass < classes[current]:
                remaining[current] -= t - started
                _push_front(head, tail, following, classes[current], current)
                current = job
                started = t
            else:
                _push_back(head, tail, following, klass, job)
            continue

        # The job in service finishes; arrivals at this instant queue first.
        departures[current] = finish
        done += 1
        while next_arrival < n and arrival_times[next_arrival] == finish:
            _push_back(head, tail, following, classes[next_arrival], next_arrival)
            next_arrival += 1
        current = _pop_most_important(head, tail, following)
        started = finish


def simulate_priority_departures(
    arrival_times: object,
    classes: object,
    service_times: object,
    *,
    preemptive: bool = False,
) -> np.ndarray:
    """Return each customer's departure instant from a single-server priority queue.

    Parameters
    ----------
    arrival_times
        Arrival instants, non-decreasing, any time unit.
    classes
        Priority class of each customer, 0 the most important.
    service_times
        Service time of each customer, >= 0, same unit.
    preemptive
        True for preemptive-resume, False for non-preemptive.

    Returns
    -------
    numpy.ndarray
        Departure instants. The time spent not in service is departure - arrival -
        service, which is the wait in queue for non-preemptive service.
    """
    arrivals, services = check_customers(arrival_times, service_times)
    klass = np.ascontiguousarray(classes, dtype=np.int64)
    if klass.shape != arrivals.shape:
        raise ParameterError(
            f"classes has shape {klass.shape} but there are {arrivals.shape[0]} "
            "customers; pass one class per customer"
        )
    if klass.size and klass.min() < 0:
        index = int(np.argmin(klass))
        raise ParameterError(
            f"classes[{index}] is {klass[index]}; classes are numbered from 0 (the "
            "most important)"
        )
    departures = np.empty(arrivals.shape[0])
    if arrivals.shape[0]:
        _priority_kernel(
            arrivals,
            klass,
            services,
            int(klass.max()) + 1,
            bool(preemptive),
            departures,
        )
    return departures
