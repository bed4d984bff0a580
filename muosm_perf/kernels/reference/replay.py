"""Plain-Python reference of the replay model of :mod:`muosm_perf.kernels.replay`.

It follows the model's steps literally: ``heapq`` heaps of completions and restarts,
Python lists of machines, intake and pending processes, a full scheduling pass over
every pending process at each instant where something happened, and linear scans
of all machines for placement. It is slow on purpose, and the tests require the
kernel to give exactly its outputs for every policy.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels._replay_kernel import (
    GAVE_UP_AFTER_KILL,
    KILLED,
    KILLED_WITH_GROUP,
    PLACED_AGAIN,
    TOTALS,
)
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.kernels.replay import ReplayInput, ReplayOutput, canonical_kill_log
from muosm_perf.model.lifecycle import CellEvent

_MASK = (1 << 64) - 1


def splitmix_offset(seed: int, process: int, restarts: int, machines: int) -> int:
    """Return the first machine sampled for a process, as the kernel draws it."""
    x = seed & _MASK
    x ^= (process * 0x9E3779B97F4A7C15) & _MASK
    x ^= (restarts * 0xBF58476D1CE4E5B9) & _MASK
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return x % max(machines, 1)


def restart_delay(policy: SchedulerPolicy, restarts: int) -> int | None:
    """Return the delay in µs before a restart, or None when the process is given up."""
    supervision = policy.supervision
    if supervision.max_restarts >= 0 and restarts > supervision.max_restarts:
        return None
    if supervision.kind != "backoff":
        return 0
    base = round(supervision.base_delay_s * 1e6)
    cap = round(supervision.max_delay_s * 1e6)
    delay = float(base)
    for _ in range(restarts - 1):
        delay *= supervision.factor
        if delay >= cap:
            return cap
    return min(int(delay), cap)


def shortest_class(duration: int, end: int) -> int:
    """Return the shortest-first class: bit length of whole seconds, 64 unknown."""
    if end != NULL_INT or duration < 0:
        return 64
    return (duration // 1_000_000).bit_length()


def replay_reference(
    inputs: ReplayInput, policy: SchedulerPolicy | None = None
) -> ReplayOutput:
    """Replay ``inputs`` with the reference implementation of the model."""
    policy = SchedulerPolicy() if policy is None else policy
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
    n = len(submit)
    group = list(range(n)) if inputs.group is None else inputs.group.tolist()
    if inputs.bypass_scheduler is None:
        bypass = [False] * n
    else:
        bypass = inputs.bypass_scheduler.tolist()
    cpu = inputs.cpu_request.tolist()
    memory = inputs.memory_request.tolist()
    priority = inputs.priority.tolist()
    duration = inputs.duration_us.tolist()
    end = inputs.end_time_us.tolist()
    grid = inputs.grid_us.tolist()
    horizon = int(inputs.horizon_us)
    job_cost = round(policy.job_decision_s * 1e6)
    task_cost = round(policy.task_decision_s * 1e6)

    def order_key(p):
        if policy.queue == "fifo":
            return (enqueued_at[p],)
        if policy.queue == "priority":
            return (-priority[p], enqueued_at[p])
        return (shortest_class(duration[p], end[p]), enqueued_at[p])

    alive = [False] * machines
    cap_cpu = [math.nan] * machines
    cap_memory = [math.nan] * machines
    place_cpu = [math.nan] * machines
    place_memory = [math.nan] * machines
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
    tentative = [None] * n
    pending = []
    next_seq = 0
    intake = []  # [batch, process] in intake order
    next_batch = 0
    open_batch = None  # (batch, group) of the last batch of arrivals
    # Per scheduler: (end time, processes of the batch), or None when idle.
    in_service = [None] * policy.schedulers
    completions = []
    restarts = []
    totals = dict.fromkeys(TOTALS, 0)
    samples = []
    kill_log = []

    def free(m):
        return place_cpu[m] - used_cpu[m], place_memory[m] - used_memory[m]

    def fits(m, p):
        if not alive[m] or math.isnan(place_cpu[m]) or math.isnan(place_memory[m]):
            return False
        free_cpu, free_memory = free(m)
        return free_cpu >= cpu[p] and free_memory >= memory[p]

    def balance(m, p):
        free_cpu, free_memory = free(m)
        return abs((free_cpu - cpu[p]) - (free_memory - memory[p]))

    def choose(p):
        fitting = [m for m in range(machines) if fits(m, p)]
        if not fitting:
            return None
        if policy.placement == "first-fit":
            return fitting[0]
        if policy.placement == "best-fit":
            return min(fitting, key=lambda m: (free(m)[0], m))
        if policy.placement == "worst-fit":
            return min(fitting, key=lambda m: (-free(m)[0], m))
        offset = splitmix_offset(policy.seed, p, kills[p], machines)
        cyclic = sorted(fitting, key=lambda m: (m - offset) % machines)
        sampled = cyclic[: policy.candidates]
        return min(sampled, key=lambda m: (balance(m, p), m))

    def place(p, m, t):
        state[p] = "running"
        machine_of[p] = m
        tasks_on[m].append(p)
        used_cpu[m] += cpu[p]
        used_memory[m] += memory[p]
        if schedule[p] == NULL_INT:
            schedule[p] = t
            first_machine[p] = m
        if kills[p] > 0:
            kill_log.append((p, t, PLACED_AGAIN))
        if end[p] != NULL_INT:
            completion[p] = end[p]
        elif duration[p] == -1 or t + duration[p] > 2**63 - 1:
            completion[p] = None
        else:
            completion[p] = t + duration[p]
        if completion[p] is not None:
            heapq.heappush(completions, (completion[p], p))
        totals["placements"] += 1

    def decide_privately(members):
        """Choose machines for a batch on a copy of the state; restore it."""
        saved = []
        for p in members:
            if state[p] != "intake":
                continue
            m = choose(p)
            tentative[p] = m
            if m is None:
                continue
            saved.append((m, used_cpu[m], used_memory[m]))
            used_cpu[m] += cpu[p]
            used_memory[m] += memory[p]
        for m, old_cpu, old_memory in reversed(saved):
            used_cpu[m] = old_cpu
            used_memory[m] = old_memory

    def to_intake(p, batch):
        state[p] = "intake"
        intake.append([batch, p])

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

    waiting = ("pending", "intake", "restart wait")
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
        if restarts:
            candidates.append(restarts[0][0])
        candidates += [service[0] for service in in_service if service is not None]
        # A process cancelled before it arrives is handled at its arrival.
        candidates += [
            end[p] for p in range(n) if end[p] != NULL_INT and state[p] in waiting
        ]
        if not candidates or min(candidates) > horizon:
            break
        t = min(candidates)
        while len(samples) < len(grid) and grid[len(samples)] < t:
            sample()
        happened = False

        while completions and completions[0][0] == t:
            _, p = heapq.heappop(completions)
            if state[p] != "running" or completion[p] != t:
                continue
            take_off(p, machine_of[p])
            state[p] = "done"
            happened = True

        for p in range(n):
            if state[p] in waiting and end[p] == t:
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
                place_cpu[m] = capacity_cpu * policy.cpu_overcommit
                place_memory[m] = capacity_memory * policy.memory_overcommit
            elif alive[m]:
                victims = sorted(tasks_on[m])
                tasks_on[m] = []
                used_cpu[m] = 0.0
                used_memory[m] = 0.0
                alive[m] = False
                siblings = []
                if policy.supervision.scope == "group":
                    groups = {group[p] for p in victims}
                    siblings = sorted(
                        q
                        for q in range(n)
                        if state[q] == "running"
                        and group[q] in groups
                        and q not in victims
                    )
                for p in victims + siblings:
                    if p in siblings:
                        take_off(p, machine_of[p])
                        kill_log.append((p, t, KILLED_WITH_GROUP))
                    else:
                        kill_log.append((p, t, KILLED))
                    kills[p] += 1
                    totals["evictions"] += 1
                    completion[p] = None
                    machine_of[p] = None
                    delay = restart_delay(policy, kills[p])
                    if delay is None:
                        state[p] = "given up"
                        totals["given_up"] += 1
                        kill_log.append((p, t, GAVE_UP_AFTER_KILL))
                    elif delay == 0:
                        to_intake(p, next_batch)
                        next_batch += 1
                        open_batch = None
                    else:
                        state[p] = "restart wait"
                        heapq.heappush(restarts, (t + delay, p))

        while restarts and restarts[0][0] == t:
            _, p = heapq.heappop(restarts)
            happened = True
            if state[p] == "restart wait":
                to_intake(p, next_batch)
                next_batch += 1
                open_batch = None
        while arrival < n and submit[arrival] == t:
            p = arrival
            arrival += 1
            happened = True
            if end[p] != NULL_INT and end[p] <= t:
                state[p] = "cancelled"
                totals["cancelled"] += 1
                continue
            if bypass[p]:
                state[p] = "pending"
                enqueued_at[p] = next_seq
                next_seq += 1
                pending.append(p)
                continue
            # Join the batch at the tail of the intake if it is of this group and
            # no scheduler has taken it yet.
            tail = intake[-1][0] if intake else None
            if open_batch is None or open_batch != (tail, group[p]):
                next_batch += 1
                open_batch = (next_batch - 1, group[p])
            to_intake(p, next_batch - 1)

        while True:
            for s in range(policy.schedulers):
                if in_service[s] is None or in_service[s][0] != t:
                    continue
                for p in in_service[s][1]:
                    if state[p] != "intake":
                        continue
                    if policy.optimistic and tentative[p] is not None:
                        m = tentative[p]
                        if fits(m, p):
                            place(p, m, t)
                        else:
                            totals["conflicts"] += 1
                            to_intake(p, next_batch)
                            next_batch += 1
                            open_batch = None
                        continue
                    state[p] = "pending"
                    enqueued_at[p] = next_seq
                    next_seq += 1
                    pending.append(p)
                in_service[s] = None
                happened = True
            started_at_once = False
            for s in range(policy.schedulers):
                if in_service[s] is not None:
                    continue
                live = []
                while intake and not live:
                    batch = intake[0][0]
                    members = []
                    while intake and intake[0][0] == batch:
                        members.append(intake.pop(0)[1])
                    live = [p for p in members if state[p] == "intake"]
                if not live:
                    break
                cost = job_cost + task_cost * len(live)
                totals["batches"] += 1
                totals["scheduler_busy_us"] += cost
                in_service[s] = (t + cost, members)
                if policy.optimistic:
                    decide_privately(members)
                started_at_once = started_at_once or cost == 0
            if not started_at_once:
                break

        if not happened:
            continue
        pending = [p for p in pending if state[p] == "pending"]
        pending.sort(key=order_key)
        still_pending = []
        for p in pending:
            m = choose(p)
            if m is None:
                still_pending.append(p)
                continue
            place(p, m, t)
        pending = still_pending

    while len(samples) < len(grid):
        sample()

    for p in range(n):
        if state[p] in waiting:
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
        kill_log=canonical_kill_log(np.array(kill_log, np.int64).T.reshape(3, -1)),
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
