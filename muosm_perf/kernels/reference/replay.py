"""Plain-Python reference of the replay model of :mod:`muosm_perf.kernels.replay`.

It follows the model's steps literally: ``heapq`` heaps of completions and restarts,
Python lists of machines, intake and pending processes, a full scheduling pass over
every pending process at each instant where something happened, and linear scans
of all machines for placement. Preemption searches every machine for room and
sorts the victims; the offer model offers every machine of a framework's pool at
each pass. It is slow on purpose, and the tests require the kernel to give exactly
its outputs for every policy.
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
    PREEMPTED,
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


def band_codes(
    inputs: ReplayInput, policy: SchedulerPolicy
) -> tuple[list[int], list[int]]:
    """Return each process's dense band code and the band values, lowest first.

    Without preemption or offers every process is in band 0, as in the kernel.
    """
    values = inputs.priority if inputs.band is None else inputs.band
    values = [int(v) for v in values]
    if not (policy.preemption or policy.offers):
        return [0] * len(values), []
    distinct = sorted(set(values))
    rank = {value: code for code, value in enumerate(distinct)}
    return [rank[v] for v in values], distinct


def framework_rules(policy: SchedulerPolicy, frameworks: int) -> list[str]:
    """Return the placement rule of each framework of the offer model."""
    rules = [policy.placement] * frameworks
    for code, name in enumerate(policy.framework_placements[:frameworks]):
        rules[code] = name
    return rules


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
    band, band_values = band_codes(inputs, policy)
    bands = max(len(band_values), 1) if (policy.preemption or policy.offers) else 1
    frameworks = bands if policy.offers else 0
    rules = framework_rules(policy, frameworks)
    refuse = round(policy.refuse_s * 1e6)
    cancel_times = sorted(e for e in end if e != NULL_INT)

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
    # Preemption: used_from[k][m] sums the requests of bands >= k on machine m.
    used_from_cpu = [[0.0] * machines for _ in range(bands)]
    used_from_memory = [[0.0] * machines for _ in range(bands)]
    running_from = [[0] * machines for _ in range(bands)]
    placed_seq = [0] * n
    preemptions = [0] * n
    # Offers: machines each framework declined, with their return time.
    declined_until = [[None] * machines for _ in range(frameworks)]
    share_cpu = [0.0] * frameworks
    share_memory = [0.0] * frameworks
    share_count = [0] * frameworks
    offer_counts = [[0, 0, 0] for _ in range(frameworks)]

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
    next_placement = 0
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

    def choose(p, among=None, rule=None):
        among = range(machines) if among is None else among
        rule = policy.placement if rule is None else rule
        fitting = [m for m in among if fits(m, p)]
        if not fitting:
            return None
        if rule == "first-fit":
            return fitting[0]
        if rule == "best-fit":
            return min(fitting, key=lambda m: (free(m)[0], m))
        if rule == "worst-fit":
            return min(fitting, key=lambda m: (-free(m)[0], m))
        offset = splitmix_offset(policy.seed, p, kills[p], machines)
        cyclic = sorted(fitting, key=lambda m: (m - offset) % machines)
        sampled = cyclic[: policy.candidates]
        return min(sampled, key=lambda m: (balance(m, p), m))

    def is_open(m):
        return (
            alive[m]
            and not math.isnan(place_cpu[m])
            and not math.isnan(place_memory[m])
        )

    def room(m, b):
        """Free capacity if every process of a band below ``b`` left machine m."""
        return place_cpu[m] - used_from_cpu[b][m], place_memory[m] - used_from_memory[
            b
        ][m]

    def place(p, m, t):
        nonlocal next_placement
        state[p] = "running"
        machine_of[p] = m
        tasks_on[m].append(p)
        placed_seq[p] = next_placement
        next_placement += 1
        used_cpu[m] += cpu[p]
        used_memory[m] += memory[p]
        if policy.preemption:
            for k in range(1, band[p] + 1):
                used_from_cpu[k][m] += cpu[p]
                used_from_memory[k][m] += memory[p]
                running_from[k][m] += 1
        if policy.offers:
            share_cpu[band[p]] += cpu[p]
            share_memory[band[p]] += memory[p]
            share_count[band[p]] += 1
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

    def leave_share(p):
        if not policy.offers:
            return
        f = band[p]
        share_cpu[f] -= cpu[p]
        share_memory[f] -= memory[p]
        share_count[f] -= 1
        if share_count[f] == 0:
            share_cpu[f] = 0.0
            share_memory[f] = 0.0

    def take_off(p, m):
        tasks_on[m].remove(p)
        used_cpu[m] -= cpu[p]
        used_memory[m] -= memory[p]
        if not tasks_on[m]:
            used_cpu[m] = 0.0
            used_memory[m] = 0.0
        if policy.preemption:
            for k in range(1, band[p] + 1):
                used_from_cpu[k][m] -= cpu[p]
                used_from_memory[k][m] -= memory[p]
                running_from[k][m] -= 1
                if running_from[k][m] == 0:
                    used_from_cpu[k][m] = 0.0
                    used_from_memory[k][m] = 0.0
        leave_share(p)

    def resubmit(p, t):
        """Send a killed process back; return whether it went to the intake."""
        nonlocal next_batch, open_batch
        delay = restart_delay(policy, kills[p])
        if delay is None:
            state[p] = "given up"
            totals["given_up"] += 1
            kill_log.append((p, t, GAVE_UP_AFTER_KILL))
            return False
        if delay == 0:
            to_intake(p, next_batch)
            next_batch += 1
            open_batch = None
            return True
        state[p] = "restart wait"
        heapq.heappush(restarts, (t + delay, p))
        return False

    def preempt_for(p, t):
        """Evict lower bands for ``p``; return the machine, or None.

        Returns also whether a victim went to the intake.
        """
        b = band[p]
        target = None
        for m in range(machines):
            if is_open(m):
                room_cpu, room_memory = room(m, b)
                if room_cpu >= cpu[p] and room_memory >= memory[p]:
                    target = m
                    break
        if target is None:
            return None, False
        victims = sorted(
            (v for v in tasks_on[target] if band[v] < b),
            key=lambda v: (band[v], -placed_seq[v]),
        )
        sent = False
        for v in victims:
            if fits(target, p):
                break
            take_off(v, target)
            completion[v] = None
            machine_of[v] = None
            kills[v] += 1
            preemptions[v] += 1
            totals["evictions"] += 1
            totals["preemptions"] += 1
            kill_log.append((v, t, PREEMPTED))
            sent = resubmit(v, t) or sent
        return target, sent

    def offer_round(t):
        """Let each framework with pending processes place them on its offers."""
        order = sorted(
            range(frameworks), key=lambda f: (max(share_cpu[f], share_memory[f]), f)
        )
        for f in order:
            mine = sorted(
                (p for p in pending if state[p] == "pending" and band[p] == f),
                key=order_key,
            )
            offered = [
                m
                for m in range(machines)
                if declined_until[f][m] is None and is_open(m)
            ]
            if not mine or not offered:
                continue
            used = set()
            for p in mine:
                m = choose(p, offered, rules[f])
                if m is not None:
                    place(p, m, t)
                    used.add(m)
            for m in offered:
                offer_counts[f][0] += 1
                if m in used:
                    offer_counts[f][1] += 1
                else:
                    offer_counts[f][2] += 1
                    declined_until[f][m] = t + refuse

    waiting = ("pending", "intake", "restart wait")
    arrival = 0
    event = 0
    cancel = 0
    again = False
    t = 0

    def run_instant(t):
        """Apply the model's steps at instant ``t`` (one round)."""
        nonlocal arrival, event, next_seq, next_batch, open_batch, pending, again
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
                for k in range(bands):
                    used_from_cpu[k][m] = 0.0
                    used_from_memory[k][m] = 0.0
                    running_from[k][m] = 0
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
                    if p not in siblings:
                        leave_share(p)
                    resubmit(p, t)

        for f in range(frameworks):
            for m in range(machines):
                if declined_until[f][m] is not None and declined_until[f][m] <= t:
                    declined_until[f][m] = None
                    happened = True

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
            return
        pending = [p for p in pending if state[p] == "pending"]
        pending.sort(key=order_key)
        if policy.offers:
            offer_round(t)
            pending = [p for p in pending if state[p] == "pending"]
            return
        still_pending = []
        for p in pending:
            m = choose(p)
            if m is None and policy.preemption and band[p] > 0:
                m, sent = preempt_for(p, t)
                again = again or sent
            if m is None:
                still_pending.append(p)
                continue
            place(p, m, t)
        pending = still_pending

    while True:
        if again:
            # A preemption sent processes to the intake: another round of t.
            again = False
            run_instant(t)
            continue
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
        # Every cancellation time is an instant, as in the kernel, whatever the
        # process's state; a process cancelled before it arrives is handled at its
        # arrival.
        while cancel < len(cancel_times) and cancel_times[cancel] < t:
            cancel += 1
        if cancel < len(cancel_times):
            candidates.append(cancel_times[cancel])
        if not candidates:
            break
        # Declined offers return at their instants while anything else remains.
        returns = [
            until for row in declined_until for until in row if until is not None
        ]
        t = min(candidates + returns)
        if t > horizon:
            break
        while cancel < len(cancel_times) and cancel_times[cancel] == t:
            cancel += 1
        run_instant(t)

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
    for name, column in (("offers", 0), ("offers_accepted", 1), ("offers_declined", 2)):
        totals[name] = sum(row[column] for row in offer_counts)

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
        preemptions=np.array(preemptions, np.int64),
        framework_bands=np.array(band_values, np.int64),
        offer_counts=np.array(offer_counts, np.int64).reshape(frameworks, 3),
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
