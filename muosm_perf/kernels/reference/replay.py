"""Plain-Python reference of the replay model of :mod:`muosm_perf.kernels.replay`.

It follows the model's steps literally: a ``heapq`` of completions, Python lists of
machines and pending processes, a full scheduling pass over every pending process
at each instant where something happened, and a linear scan for the lowest-index
machine that fits. It is slow on purpose, and the tests require the kernel to give
exactly its outputs.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.replay import TOTALS, ReplayInput, ReplayOutput
from muosm_perf.model.lifecycle import CellEvent


def replay_reference(inputs: ReplayInput) -> ReplayOutput:
    """Replay ``inputs`` with the reference implementation of the model."""
    machines = int(inputs.machines)
    events = list(
        zip(
            inputs.machine_event_time_us.tolist(),
            inputs.machine_event_machine.tolist(),
            inputs.machine_event_kind.tolist(),
            inputs.machine_event_cpu_capacity.tolist(),
            inputs.machine_event_memory_capacity.tolist(),
            strict=True,
        )
    )
    submit = inputs.submit_time_us.tolist()
    cpu = inputs.cpu_request.tolist()
    memory = inputs.memory_request.tolist()
    priority = inputs.priority.tolist()
    duration = inputs.duration_us.tolist()
    end = inputs.end_time_us.tolist()
    grid = inputs.grid_us.tolist()
    horizon = int(inputs.horizon_us)
    n = len(submit)

    alive = [False] * machines
    cap_cpu = [math.nan] * machines
    cap_memory = [math.nan] * machines
    used_cpu = [0.0] * machines
    used_memory = [0.0] * machines
    tasks_on = [[] for _ in range(machines)]

    state = ["not arrived"] * n
    enqueued_at = [0] * n
    completion = [None] * n
    machine_of = [None] * n
    schedule = [NULL_INT] * n
    first_machine = [-1] * n
    kills = [0] * n
    pending = []
    next_seq = 0
    completions = []
    totals = dict.fromkeys(TOTALS, 0)
    samples = []

    def enqueue(p):
        nonlocal next_seq
        state[p] = "pending"
        enqueued_at[p] = next_seq
        next_seq += 1
        pending.append(p)

    def fits(m, p):
        return (
            alive[m]
            and not math.isnan(cap_cpu[m])
            and not math.isnan(cap_memory[m])
            and cap_cpu[m] - used_cpu[m] >= cpu[p]
            and cap_memory[m] - used_memory[m] >= memory[p]
        )

    def sample():
        on_alive = [m for m in range(machines) if alive[m]]
        cpu_known = [cap_cpu[m] for m in on_alive if not math.isnan(cap_cpu[m])]
        memory_known = [
            cap_memory[m] for m in on_alive if not math.isnan(cap_memory[m])
        ]
        samples.append(
            (
                sum(len(tasks_on[m]) for m in on_alive),
                _sum_in_order([used_cpu[m] for m in on_alive]),
                _sum_in_order([used_memory[m] for m in on_alive]),
                _sum_in_order(cpu_known),
                _sum_in_order(memory_known),
            )
        )

    def take_off(p, m):
        tasks_on[m].remove(p)
        used_cpu[m] -= cpu[p]
        used_memory[m] -= memory[p]
        if not tasks_on[m]:
            used_cpu[m] = 0.0
            used_memory[m] = 0.0

    arrival = 0
    event = 0
    while True:
        candidates = []
        if arrival < n:
            candidates.append(submit[arrival])
        if event < len(events):
            candidates.append(events[event][0])
        if completions:
            candidates.append(completions[0][0])
        # A process cancelled before it arrives is handled at its arrival.
        candidates += [
            end[p] for p in range(n) if end[p] != NULL_INT and state[p] == "pending"
        ]
        if not candidates or min(candidates) > horizon:
            break
        t = min(candidates)
        while len(samples) < len(grid) and grid[len(samples)] < t:
            sample()
        totals["instants"] += 1
        happened = False

        while completions and completions[0][0] == t:
            _, p = heapq.heappop(completions)
            if state[p] != "running" or completion[p] != t:
                continue
            take_off(p, machine_of[p])
            state[p] = "done"
            happened = True

        for p in range(n):
            if state[p] == "pending" and end[p] == t:
                state[p] = "cancelled"
                totals["cancelled"] += 1
                happened = True

        while event < len(events) and events[event][0] == t:
            _, m, kind, capacity_cpu, capacity_memory = events[event]
            event += 1
            happened = True
            if kind in (CellEvent.ADD, CellEvent.UPDATE):
                if kind == CellEvent.ADD:
                    alive[m] = True
                cap_cpu[m] = capacity_cpu
                cap_memory[m] = capacity_memory
            elif alive[m]:
                for p in sorted(tasks_on[m]):
                    kills[p] += 1
                    totals["evictions"] += 1
                    completion[p] = None
                    machine_of[p] = None
                    enqueue(p)
                tasks_on[m] = []
                used_cpu[m] = 0.0
                used_memory[m] = 0.0
                alive[m] = False

        while arrival < n and submit[arrival] == t:
            p = arrival
            arrival += 1
            happened = True
            if end[p] != NULL_INT and end[p] <= t:
                state[p] = "cancelled"
                totals["cancelled"] += 1
            else:
                enqueue(p)

        if not happened:
            continue
        pending = [p for p in pending if state[p] == "pending"]
        pending.sort(key=lambda p: (-priority[p], enqueued_at[p]))
        still_pending = []
        for p in pending:
            m = next((m for m in range(machines) if fits(m, p)), None)
            if m is None:
                still_pending.append(p)
                continue
            state[p] = "running"
            machine_of[p] = m
            tasks_on[m].append(p)
            used_cpu[m] += cpu[p]
            used_memory[m] += memory[p]
            if schedule[p] == NULL_INT:
                schedule[p] = t
                first_machine[p] = m
            if end[p] != NULL_INT:
                completion[p] = end[p]
            elif duration[p] == -1 or t + duration[p] > 2**63 - 1:
                completion[p] = None
            else:
                completion[p] = t + duration[p]
            if completion[p] is not None:
                heapq.heappush(completions, (completion[p], p))
            totals["placements"] += 1
        pending = still_pending

    while len(samples) < len(grid):
        sample()

    for p in range(n):
        if state[p] == "pending":
            totals["pending_at_end"] += 1
            if schedule[p] == NULL_INT:
                totals["unschedulable"] += 1
        elif state[p] == "running":
            totals["running_at_end"] += 1
    # The kernel counts the instants and passes it actually makes, which its
    # shortcuts change; they are not part of the model's outcome.
    totals["instants"] = None
    totals["passes"] = None

    columns = list(zip(*samples, strict=True)) if samples else [()] * 5
    return ReplayOutput(
        schedule_time_us=np.array(schedule, np.int64),
        machine=np.array(first_machine, np.int64),
        kills=np.array(kills, np.int64),
        running=np.array(columns[0], np.int64),
        cpu_in_use=np.array(columns[1], np.float64),
        memory_in_use=np.array(columns[2], np.float64),
        cpu_capacity=np.array(columns[3], np.float64),
        memory_capacity=np.array(columns[4], np.float64),
        totals=totals,
    )


def _sum_in_order(values: list[float]) -> float:
    """Sum left to right from 0.0, as the kernel does.

    Python 3.12's ``sum`` of floats compensates rounding errors, so its result can
    differ from a plain loop in the last bits.
    """
    total = 0.0
    for value in values:
        total += value
    return total
