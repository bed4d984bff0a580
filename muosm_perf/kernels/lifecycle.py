"""Attempt derivation: the lifecycle state machine over sorted process events.

Each process moves through the states unsubmitted → pending → running → dead, and a
SUBMIT after death starts a new attempt. The kernel walks every process's events in
time order and emits one row per attempt with its submit, schedule and end instants.

Events of one process at the same instant are applied in lifecycle order starting
from the state before that instant, so the outcome does not depend on file order:
from running, a terminal event comes before a re-SUBMIT; from pending, SCHEDULE
comes first; from dead or unsubmitted, SUBMIT comes before SCHEDULE, which comes
before a terminal event. Events of the same kind keep their input order.

Time classes: 0 before the trace window (time unknown), 1 inside it (``time_us`` is
real), 2 after it (time unknown). An attempt's end class is -1 while it is open at
the end of the data, and 3 when a later SUBMIT shows it ended without a record.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import NULL_INT, njit
from muosm_perf.model.lifecycle import Event

# States of a process.
NONE, PENDING, RUNNING, DEAD = 0, 1, 2, 3

# Anomaly counters, by index into the kernel's ``anomalies`` output.
ANOMALIES = (
    "orphan_terminal",
    "schedule_without_submit",
    "submit_while_pending",
    "submit_while_running",
    "schedule_while_running",
    "update_without_attempt",
    "update_state_mismatch",
)
_ORPHAN_TERMINAL = 0
_SCHEDULE_WITHOUT_SUBMIT = 1
_SUBMIT_WHILE_PENDING = 2
_SUBMIT_WHILE_RUNNING = 3
_SCHEDULE_WHILE_RUNNING = 4
_UPDATE_WITHOUT_ATTEMPT = 5
_UPDATE_STATE_MISMATCH = 6

_SUBMIT = int(Event.SUBMIT)
_QUEUE = int(Event.QUEUE)
_ENABLE = int(Event.ENABLE)
_SCHEDULE = int(Event.SCHEDULE)
_EVICT = int(Event.EVICT)
_LOST = int(Event.LOST)
_UPDATE_PENDING = int(Event.UPDATE_PENDING)
_UPDATE_RUNNING = int(Event.UPDATE_RUNNING)


@njit
def _is_terminal(event):
    return _EVICT <= event <= _LOST


@njit
def _preference(state, event):
    """Rank of ``event`` among same-instant events from ``state``; lowest first."""
    terminal = _is_terminal(event)
    if state == PENDING:
        if event == _SCHEDULE:
            return 0
        if event in (_UPDATE_PENDING, _QUEUE, _ENABLE):
            return 1
        if terminal:
            return 2
        if event == _SUBMIT:
            return 3
        return 4
    if state == RUNNING:
        if event == _UPDATE_RUNNING:
            return 0
        if terminal:
            return 1
        if event == _SUBMIT:
            return 2
        if event in (_UPDATE_PENDING, _QUEUE, _ENABLE):
            return 3
        return 4
    if event == _SUBMIT:
        return 0
    if event in (_QUEUE, _ENABLE, _UPDATE_PENDING):
        return 1
    if event == _SCHEDULE:
        return 2
    if terminal:
        return 3
    return 4


@njit
def _derive_attempts_kernel(
    process_starts,
    time_class,
    time_us,
    event,
    cell,
    priority,
    scheduling_class,
    cpu,
    memory,
    disk,
):
    n_events = event.shape[0]
    n_processes = process_starts.shape[0] - 1

    out_process = np.empty(n_events, np.int64)
    out_attempt = np.empty(n_events, np.int32)
    out_submit_class = np.empty(n_events, np.int8)
    out_submit = np.empty(n_events, np.int64)
    out_schedule_class = np.empty(n_events, np.int8)
    out_schedule = np.empty(n_events, np.int64)
    out_end_class = np.empty(n_events, np.int8)
    out_end = np.empty(n_events, np.int64)
    out_end_event = np.empty(n_events, np.int8)
    out_missing_submit = np.empty(n_events, np.bool_)
    out_cell = np.empty(n_events, np.int64)
    out_priority = np.empty(n_events, np.int64)
    out_class = np.empty(n_events, np.int64)
    out_cpu = np.empty(n_events, np.float64)
    out_memory = np.empty(n_events, np.float64)
    out_disk = np.empty(n_events, np.float64)
    anomalies = np.zeros(len(ANOMALIES), np.int64)

    used = np.zeros(n_events, np.bool_)
    n_out = 0
    for p in range(n_processes):
        state = NONE
        current = -1
        attempt = 0
        group_start = process_starts[p]
        end = process_starts[p + 1]
        while group_start < end:
            # The events of one instant: same time class and, inside the window,
            # the same time.
            group_end = group_start + 1
            while (
                group_end < end
                and time_class[group_end] == time_class[group_start]
                and (
                    time_class[group_start] != 1
                    or time_us[group_end] == time_us[group_start]
                )
            ):
                group_end += 1

            for _ in range(group_end - group_start):
                best = -1
                best_rank = 99
                for i in range(group_start, group_end):
                    if used[i]:
                        continue
                    rank = _preference(state, event[i])
                    if rank < best_rank:
                        best_rank = rank
                        best = i
                i = best
                used[i] = True
                ev = event[i]
                tc = time_class[i]
                t = time_us[i] if tc == 1 else NULL_INT

                if ev == _SUBMIT:
                    if state == PENDING:
                        anomalies[_SUBMIT_WHILE_PENDING] += 1
                    else:
                        if state == RUNNING:
                            # The attempt's end was never recorded: class 3.
                            anomalies[_SUBMIT_WHILE_RUNNING] += 1
                            out_end_class[current] = 3
                        current = n_out
                        n_out += 1
                        attempt += 1
                        out_process[current] = p
                        out_attempt[current] = attempt
                        out_submit_class[current] = tc
                        out_submit[current] = t
                        out_schedule_class[current] = -1
                        out_schedule[current] = NULL_INT
                        out_end_class[current] = -1
                        out_end[current] = NULL_INT
                        out_end_event[current] = -1
                        out_missing_submit[current] = False
                        out_cell[current] = NULL_INT
                        out_priority[current] = NULL_INT
                        out_class[current] = NULL_INT
                        out_cpu[current] = np.nan
                        out_memory[current] = np.nan
                        out_disk[current] = np.nan
                        state = PENDING
                elif ev == _SCHEDULE:
                    if state == RUNNING:
                        anomalies[_SCHEDULE_WHILE_RUNNING] += 1
                        continue
                    if state != PENDING:
                        anomalies[_SCHEDULE_WITHOUT_SUBMIT] += 1
                        current = n_out
                        n_out += 1
                        attempt += 1
                        out_process[current] = p
                        out_attempt[current] = attempt
                        out_submit_class[current] = -1
                        out_submit[current] = NULL_INT
                        out_end_class[current] = -1
                        out_end[current] = NULL_INT
                        out_end_event[current] = -1
                        out_missing_submit[current] = True
                        out_cell[current] = NULL_INT
                        out_priority[current] = NULL_INT
                        out_class[current] = NULL_INT
                        out_cpu[current] = np.nan
                        out_memory[current] = np.nan
                        out_disk[current] = np.nan
                    out_schedule_class[current] = tc
                    out_schedule[current] = t
                    out_cell[current] = cell[i]
                    state = RUNNING
                elif _is_terminal(ev):
                    if state in (PENDING, RUNNING):
                        out_end_class[current] = tc
                        out_end[current] = t
                        out_end_event[current] = ev
                        state = DEAD
                    else:
                        anomalies[_ORPHAN_TERMINAL] += 1
                    continue
                elif ev == _UPDATE_RUNNING:
                    if state in (NONE, DEAD):
                        anomalies[_UPDATE_WITHOUT_ATTEMPT] += 1
                    elif state != RUNNING:
                        anomalies[_UPDATE_STATE_MISMATCH] += 1
                    # NOTE: requests changed while running are not applied; an
                    # attempt keeps the request it was placed with.
                    continue
                else:
                    # UPDATE_PENDING, QUEUE, ENABLE: changes while pending.
                    if state in (NONE, DEAD):
                        anomalies[_UPDATE_WITHOUT_ATTEMPT] += 1
                        continue
                    if state != PENDING:
                        anomalies[_UPDATE_STATE_MISMATCH] += 1
                        continue

                # SUBMIT, SCHEDULE and pending updates set the attempt's request
                # fields wherever the event carries a value.
                if priority[i] != NULL_INT:
                    out_priority[current] = priority[i]
                if scheduling_class[i] != NULL_INT:
                    out_class[current] = scheduling_class[i]
                if not np.isnan(cpu[i]):
                    out_cpu[current] = cpu[i]
                if not np.isnan(memory[i]):
                    out_memory[current] = memory[i]
                if not np.isnan(disk[i]):
                    out_disk[current] = disk[i]
            group_start = group_end

    return (
        out_process[:n_out],
        out_attempt[:n_out],
        out_submit_class[:n_out],
        out_submit[:n_out],
        out_schedule_class[:n_out],
        out_schedule[:n_out],
        out_end_class[:n_out],
        out_end[:n_out],
        out_end_event[:n_out],
        out_missing_submit[:n_out],
        out_cell[:n_out],
        out_priority[:n_out],
        out_class[:n_out],
        out_cpu[:n_out],
        out_memory[:n_out],
        out_disk[:n_out],
        anomalies,
    )


ATTEMPT_FIELDS = (
    "process",
    "attempt",
    "submit_class",
    "submit_time_us",
    "schedule_class",
    "schedule_time_us",
    "end_class",
    "end_time_us",
    "end_event",
    "missing_submit",
    "cell",
    "priority",
    "scheduling_class",
    "cpu",
    "memory",
    "disk",
)
"""Names of the per-attempt arrays :func:`derive_attempts` returns, in order."""


def derive_attempts(
    process_starts: np.ndarray,
    time_class: np.ndarray,
    time_us: np.ndarray,
    event: np.ndarray,
    cell: np.ndarray,
    priority: np.ndarray,
    scheduling_class: np.ndarray,
    cpu: np.ndarray,
    memory: np.ndarray,
    disk: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Derive attempts from events sorted by process, time class, time and input order.

    Parameters
    ----------
    process_starts
        Offsets (int64, length processes + 1) of each process's first event.
    time_class
        0 before the window, 1 inside, 2 after (int8).
    time_us
        Event times in microseconds (int64); read only where ``time_class`` is 1.
    event
        Canonical :class:`~muosm_perf.model.lifecycle.Event` codes (int8).
    cell, priority, scheduling_class
        int64, ``NULL_INT`` where absent.
    cpu, memory, disk
        Requests (float64, NaN where absent) in the trace's normalized units.

    Returns
    -------
    tuple of (dict, dict)
        Per-attempt arrays named by :data:`ATTEMPT_FIELDS` (classes and events are
        -1 where absent, times ``NULL_INT``), and anomaly counts named by
        :data:`ANOMALIES`.
    """
    arrays = [
        np.ascontiguousarray(process_starts, dtype=np.int64),
        np.ascontiguousarray(time_class, dtype=np.int8),
        np.ascontiguousarray(time_us, dtype=np.int64),
        np.ascontiguousarray(event, dtype=np.int8),
        np.ascontiguousarray(cell, dtype=np.int64),
        np.ascontiguousarray(priority, dtype=np.int64),
        np.ascontiguousarray(scheduling_class, dtype=np.int64),
        np.ascontiguousarray(cpu, dtype=np.float64),
        np.ascontiguousarray(memory, dtype=np.float64),
        np.ascontiguousarray(disk, dtype=np.float64),
    ]
    n_events = arrays[3].shape[0]
    for name, array in zip(
        (
            "time_class",
            "time_us",
            "cell",
            "priority",
            "scheduling_class",
            "cpu",
            "memory",
            "disk",
        ),
        arrays[1:3] + arrays[4:],
        strict=True,
    ):
        if array.shape[0] != n_events:
            raise ValueError(
                f"{name} has {array.shape[0]} elements, event has {n_events}"
            )
    starts = arrays[0]
    if starts.shape[0] == 0 or starts[0] != 0 or starts[-1] != n_events:
        raise ValueError(
            "process_starts must begin at 0 and end at the number of events "
            f"({n_events})"
        )
    *columns, anomalies = _derive_attempts_kernel(*arrays)
    return (
        dict(zip(ATTEMPT_FIELDS, columns, strict=True)),
        dict(zip(ANOMALIES, (int(a) for a in anomalies), strict=True)),
    )
