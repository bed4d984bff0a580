"""The compiled event loop of the replay; :mod:`muosm_perf.kernels.replay` wraps it.

Machine state lives in per-machine arrays and in the placement trees of
:mod:`muosm_perf.kernels.placement`. Their leaves are the free capacity that
placement uses: capacity times the overcommitment factor, minus requests. The
pending queue is the slot queue of :mod:`muosm_perf.kernels._pending`.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._heap import heap_pop, heap_push, new_heap
from muosm_perf.kernels._numba import NULL_INT, njit
from muosm_perf.kernels._pending import (
    STACK_LENGTH,
    ensure_capacity,
    first_fitting_after,
    new_queue,
    relayout,
    set_slot,
)
from muosm_perf.kernels.placement import (
    STACK_DEPTH,
    balance_score,
    best_fit,
    first_fit,
    first_fit_from,
    new_tree,
    sampled_fit,
    set_leaf,
    worst_fit,
)
from muosm_perf.kernels.supervision import GIVE_UP, restart_delay_us
from muosm_perf.model.lifecycle import CellEvent

INT64_MAX = 2**63 - 1
_FLOAT_MAX = float(np.finfo(np.float64).max)

# Process states.
NOT_ARRIVED, PENDING, RUNNING, DONE, CANCELLED = 0, 1, 2, 3, 4
INTAKE, RESTART_WAIT, GAVE_UP = 5, 6, 7

# Placement rules, as in muosm_perf.kernels.policy.PLACEMENTS.
FIRST_FIT, BEST_FIT, WORST_FIT, SAMPLED = 0, 1, 2, 3

# Supervision scopes, as in muosm_perf.kernels.supervision.SCOPES.
PROCESS_SCOPE, GROUP_SCOPE = 0, 1

# Kinds of the entries of the kill log.
KILLED, KILLED_WITH_GROUP, GAVE_UP_AFTER_KILL, PLACED_AGAIN = 0, 1, 2, 3
KILL_LOG_KINDS = ("killed", "killed_with_group", "given_up", "placed_again")
"""Names of the kill-log entry kinds, in the order of their codes.

``killed``: a REMOVE killed the process. ``killed_with_group``: a REMOVE killed
another process of its group, and the supervisor restarts the whole group.
``given_up``: the supervisor gave the process up after that kill.
``placed_again``: the process was placed again after a kill."""

_ADD = int(CellEvent.ADD)
_REMOVE = int(CellEvent.REMOVE)
_UPDATE = int(CellEvent.UPDATE)

TOTALS = (
    "evictions",
    "cancelled",
    "unschedulable",
    "pending_at_end",
    "running_at_end",
    "given_up",
    "batches",
    "scheduler_busy_us",
    "instants",
    "passes",
    "placements",
    "conflicts",
)
(
    _EVICTIONS,
    _CANCELLED,
    _UNSCHEDULABLE,
    _PENDING_AT_END,
    _RUNNING_AT_END,
    _GIVEN_UP,
    _BATCHES,
    _BUSY,
    _INSTANTS,
    _PASSES,
    _PLACEMENTS,
    _CONFLICTS,
) = range(len(TOTALS))

_MASK = (1 << 64) - 1

RUN_SPAN = 1 << 20
"""Completion entries are ``process * RUN_SPAN + kills % RUN_SPAN``.

An entry left by a run that a REMOVE killed then differs from the current run's
entry, with no per-process array of completion times. Two runs of one process would
be confused only 2^20 kills apart.
"""


@njit
def sample_offset(seed, process, restarts, machines):
    """Return the first machine sampled for ``process`` (SplitMix64 of the inputs).

    The value depends only on its arguments, so any implementation of the model
    draws the same machines whatever order it visits processes in.
    """
    x = np.uint64(seed & _MASK)
    x ^= np.uint64(process) * np.uint64(0x9E3779B97F4A7C15)
    x ^= np.uint64(restarts) * np.uint64(0xBF58476D1CE4E5B9)
    x += np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return np.int64(x % np.uint64(max(machines, 1)))


@njit
def _refresh_leaf(
    trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
):
    tree_cpu, tree_memory, tree_low_cpu = trees
    if alive[m] and not np.isnan(place_cpu[m]) and not np.isnan(place_memory[m]):
        free_cpu = place_cpu[m] - used_cpu[m]
        free_memory = place_memory[m] - used_memory[m]
        set_leaf(tree_cpu, tree_memory, size, m, free_cpu, free_memory)
        low = free_cpu
    else:
        set_leaf(tree_cpu, tree_memory, size, m, -np.inf, -np.inf)
        low = np.inf
    if tree_low_cpu.shape[0] == 0:
        return  # only best-fit keeps the tree of minimum free CPU
    node = size + m
    tree_low_cpu[node] = low
    node //= 2
    while node >= 1:
        tree_low_cpu[node] = min(tree_low_cpu[2 * node], tree_low_cpu[2 * node + 1])
        node //= 2


@njit
def _sample(g, alive, cap_cpu, cap_memory, used_cpu, used_memory, count, series):
    n_running = 0
    cpu_used = 0.0
    memory_used = 0.0
    cpu_cap = 0.0
    memory_cap = 0.0
    for m in range(alive.shape[0]):
        if not alive[m]:
            continue
        n_running += count[m]
        cpu_used += used_cpu[m]
        memory_used += used_memory[m]
        if not np.isnan(cap_cpu[m]):
            cpu_cap += cap_cpu[m]
        if not np.isnan(cap_memory[m]):
            memory_cap += cap_memory[m]
    series[0, g] = n_running
    series[1, g] = cpu_used
    series[2, g] = memory_used
    series[3, g] = cpu_cap
    series[4, g] = memory_cap


@njit
def _choose_machine(
    rule, trees, size, cpu, memory, offset, candidates, machines, stack
):
    """Pick a machine for a request with the placement rule, or -1."""
    tree_cpu, tree_memory, tree_low_cpu = trees
    if rule == FIRST_FIT:
        return first_fit(tree_cpu, tree_memory, size, cpu, memory, stack)
    if rule == BEST_FIT:
        return best_fit(tree_cpu, tree_memory, tree_low_cpu, size, cpu, memory, stack)
    if rule == WORST_FIT:
        return worst_fit(tree_cpu, tree_memory, size, cpu, memory, stack)
    return sampled_fit(
        tree_cpu, tree_memory, size, offset, candidates, cpu, memory, stack
    )


@njit
def _choose_among(
    rule, grown, n_grown, trees, size, cpu, memory, offset, candidates, machines
):
    """Pick a machine among ``grown[:n_grown]`` by the placement rule.

    The choice is the one :func:`_choose_machine` makes among all machines when no
    machine outside ``grown`` fits.
    """
    tree_cpu, tree_memory, _ = trees
    best = -1
    best_value = 0.0
    if rule == SAMPLED:
        keys = np.empty(n_grown, np.int64)
        fitting = np.empty(n_grown, np.int64)
        k = 0
        for i in range(n_grown):
            m = grown[i]
            if tree_cpu[size + m] >= cpu and tree_memory[size + m] >= memory:
                fitting[k] = m
                keys[k] = (m - offset) % machines
                k += 1
        order = np.argsort(keys[:k])
        for j in range(min(k, candidates)):
            m = fitting[order[j]]
            score = balance_score(
                tree_cpu[size + m], tree_memory[size + m], cpu, memory
            )
            if best < 0 or score < best_value or (score == best_value and m < best):
                best = m
                best_value = score
        return best
    for i in range(n_grown):
        m = grown[i]
        free = tree_cpu[size + m]
        if free < cpu or tree_memory[size + m] < memory:
            continue
        if best < 0:
            better = True
        elif rule == BEST_FIT:
            better = free < best_value or (free == best_value and m < best)
        elif rule == WORST_FIT:
            better = free > best_value or (free == best_value and m < best)
        else:
            better = m < best
        if better:
            best = m
            best_value = free
    return best


@njit
def _enqueue(p, level, queue, slot_of, cpu, memory):
    """Put process ``p`` in the next slot of its level; return the queue arrays.

    The slot's leaf in the min-tree stays empty: the pass visits new processes from
    its own list, and :func:`_insert` adds those it leaves pending.
    """
    base, fill, slot_process, q_size, q_cpu, q_memory = queue
    if base[level] + fill[level] == base[level + 1]:
        base, slot_process, q_size, q_cpu, q_memory = relayout(
            base, fill, slot_process, slot_of, cpu, memory, level
        )
    slot = base[level] + fill[level]
    fill[level] += 1
    slot_process[slot] = p
    slot_of[p] = slot
    return base, fill, slot_process, q_size, q_cpu, q_memory


@njit
def _insert(p, queue, slot_of, cpu, memory):
    """Add the requests of a pending process to the min-tree of the queue."""
    _, _, _, q_size, q_cpu, q_memory = queue
    set_slot(q_cpu, q_memory, q_size, slot_of[p], cpu[p], memory[p])


@njit
def _dequeue(p, queue, slot_of):
    _, _, slot_process, q_size, q_cpu, q_memory = queue
    slot = slot_of[p]
    slot_process[slot] = -1
    slot_of[p] = -1
    if q_cpu[q_size + slot] != np.inf:
        set_slot(q_cpu, q_memory, q_size, slot, np.inf, np.inf)


@njit
def _intake_append(intake, intake_batch, intake_len, p, batch):
    intake = ensure_capacity(intake, intake_len + 1)
    intake_batch = ensure_capacity(intake_batch, intake_len + 1)
    intake[intake_len] = p
    intake_batch[intake_len] = batch
    return intake, intake_batch, intake_len + 1


@njit
def _log_append(log, log_len, p, t, kind):
    """Append one kill-log entry (process, time, kind); return the log arrays."""
    log = ensure_capacity(log, 3 * (log_len + 1))
    log[3 * log_len] = p
    log[3 * log_len + 1] = t
    log[3 * log_len + 2] = kind
    return log, log_len + 1


@njit
def _group_members(group, scope):
    """Index the processes by group, for the group scope of supervision.

    Returns ``members``, the processes sorted by group, and per process the range
    ``group_from:group_to`` of its group in ``members``. All three are empty
    unless the scope is the group.
    """
    n = group.shape[0] if scope == GROUP_SCOPE else 0
    members = np.argsort(group[:n], kind="mergesort").astype(np.int64)
    group_from = np.empty(n, np.int64)
    group_to = np.empty(n, np.int64)
    i = 0
    while i < n:
        j = i
        while j < n and group[members[j]] == group[members[i]]:
            j += 1
        for k in range(i, j):
            group_from[members[k]] = i
            group_to[members[k]] = j
        i = j
    return members, group_from, group_to


@njit
def _running_siblings(victims, members, group_from, group_to, state):
    """Return the running processes of the victims' groups, sorted and unique."""
    seen_from = np.empty(victims.shape[0], np.int64)
    n_seen = 0
    found = np.empty(0, np.int64)
    n_found = 0
    for p in victims:
        start = group_from[p]
        done = False
        for i in range(n_seen):
            if seen_from[i] == start:
                done = True
        if done:
            continue
        seen_from[n_seen] = start
        n_seen += 1
        for i in range(start, group_to[p]):
            q = members[i]
            if state[q] == RUNNING:
                found = ensure_capacity(found, n_found + 1)
                found[n_found] = q
                n_found += 1
    return np.sort(found[:n_found])


@njit
def replay_kernel(
    n_machines,
    event_time,
    event_machine,
    event_kind,
    event_cpu,
    event_memory,
    submit,
    group,
    bypass,
    cpu,
    memory,
    level,
    n_levels,
    duration,
    end,
    grid,
    horizon,
    rule,
    candidates,
    seed,
    cpu_overcommit,
    memory_overcommit,
    job_decision_us,
    task_decision_us,
    supervision_kind,
    supervision_base_us,
    supervision_factor,
    supervision_max_us,
    supervision_max_restarts,
    supervision_scope,
    schedulers,
    optimistic,
    grown_search_limit,
):
    """Run the replay; see :mod:`muosm_perf.kernels.replay` for the model."""
    n = submit.shape[0]
    n_events = event_time.shape[0]
    n_grid = grid.shape[0]

    # Machines.
    alive = np.zeros(n_machines, np.bool_)
    cap_cpu = np.full(n_machines, np.nan)
    cap_memory = np.full(n_machines, np.nan)
    place_cpu = np.full(n_machines, np.nan)
    place_memory = np.full(n_machines, np.nan)
    used_cpu = np.zeros(n_machines)
    used_memory = np.zeros(n_machines)
    count = np.zeros(n_machines, np.int64)
    head = np.full(n_machines, -1, np.int64)
    size, tree_cpu, tree_memory = new_tree(n_machines)
    tree_low_cpu = np.full(2 * size if rule == BEST_FIT else 0, np.inf)
    trees = (tree_cpu, tree_memory, tree_low_cpu)
    stack = np.empty(STACK_DEPTH, np.int64)

    # Processes.
    state = np.zeros(n, np.int8)
    # int32 where the values allow it, to keep a 25-million-process replay small.
    on_machine = np.full(n, -1, np.int32)
    next_on = np.full(n, -1, np.int32)
    prev_on = np.full(n, -1, np.int32)
    schedule = np.full(n, NULL_INT, np.int64)
    first_machine = np.full(n, -1, np.int32)
    kills = np.zeros(n, np.int32)
    members, group_from, group_to = _group_members(group, supervision_scope)
    # The kill log: (process, time, kind) triples, see KILL_LOG_KINDS.
    log = np.empty(3 * 64, np.int64)
    log_len = 0

    # Cancellation instants in time order, then process order.
    with_end = np.nonzero(end != NULL_INT)[0]
    cancel_order = with_end[np.argsort(end[with_end], kind="mergesort")]
    n_cancel = cancel_order.shape[0]

    completions_t, completions_p, completions_n = new_heap(1024)
    restarts_t, restarts_p, restarts_n = new_heap(16)

    # The scheduler's intake: processes waiting for a decision, in batches.
    intake = np.empty(1024, np.int64)
    intake_batch = np.empty(1024, np.int64)
    intake_len = 0
    intake_head = 0
    next_batch = 0
    # The last batch of arrivals, which later arrivals of its group join while it
    # waits at the tail of the intake.
    open_group = NULL_INT
    open_start = 0
    # Per scheduler: end of its decision in progress (NULL_INT when idle) and
    # the intake range of the batch it decides on.
    service_end = np.full(schedulers, NULL_INT, np.int64)
    service_from = np.zeros(schedulers, np.int64)
    service_to = np.zeros(schedulers, np.int64)
    busy_schedulers = 0
    # Optimistic schedulers: the machine each process was decided onto, and the
    # machine state saved while a decision is made on a private copy.
    tentative = np.full(n if optimistic else 0, -1, np.int32)
    saved_machine = np.empty(16, np.int64)
    saved_used = np.empty(32, np.float64)

    # The pending queue, with room per level for its arrivals and some kills.
    arrivals = np.zeros(n_levels, np.int64)
    for p in range(n):
        arrivals[level[p]] += 1
    queue = new_queue(arrivals + np.maximum(arrivals // 16, 4))
    slot_of = np.full(n, -1, np.int32)
    q_stack = np.empty(STACK_LENGTH, np.int64)
    new = np.empty(1024, np.int64)
    new_len = 0
    new_slots = np.empty(1024, np.int64)
    is_new = np.zeros(n, np.bool_)
    # Machines whose free capacity may have grown since the last pass.
    grown = np.empty(max(n_machines, 1), np.int64)
    is_grown = np.zeros(n_machines, np.bool_)
    n_grown = 0

    series = np.zeros((5, n_grid))
    totals = np.zeros(len(TOTALS), np.int64)

    arrival = 0
    event = 0
    cancel = 0
    g = 0
    while True:
        t = INT64_MAX
        found = False
        if arrival < n:
            t = min(t, submit[arrival])
            found = True
        if event < n_events:
            t = min(t, event_time[event])
            found = True
        if completions_n > 0:
            t = min(t, completions_t[0])
            found = True
        if restarts_n > 0:
            t = min(t, restarts_t[0])
            found = True
        if cancel < n_cancel:
            t = min(t, end[cancel_order[cancel]])
            found = True
        if busy_schedulers > 0:
            for s in range(schedulers):
                if service_end[s] != NULL_INT:
                    t = min(t, service_end[s])
            found = True
        if not found or t > horizon:
            break
        while g < n_grid and grid[g] < t:
            _sample(g, alive, cap_cpu, cap_memory, used_cpu, used_memory, count, series)
            g += 1
        totals[_INSTANTS] += 1
        happened = False

        # 1. Completions.
        while completions_n > 0 and completions_t[0] == t:
            _, p, completions_n = heap_pop(completions_t, completions_p, completions_n)
            p, run = divmod(p, RUN_SPAN)
            if state[p] != RUNNING or kills[p] % RUN_SPAN != run:
                continue  # an entry left by a kill
            m = on_machine[p]
            used_cpu[m] -= cpu[p]
            used_memory[m] -= memory[p]
            count[m] -= 1
            if count[m] == 0:
                used_cpu[m] = 0.0
                used_memory[m] = 0.0
            if prev_on[p] >= 0:
                next_on[prev_on[p]] = next_on[p]
            else:
                head[m] = next_on[p]
            if next_on[p] >= 0:
                prev_on[next_on[p]] = prev_on[p]
            _refresh_leaf(
                trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
            )
            state[p] = DONE
            on_machine[p] = -1
            happened = True
            if not is_grown[m]:
                is_grown[m] = True
                grown[n_grown] = m
                n_grown += 1

        # 2. Cancellations of processes not running.
        while cancel < n_cancel and end[cancel_order[cancel]] == t:
            p = cancel_order[cancel]
            cancel += 1
            if state[p] == PENDING or state[p] == INTAKE or state[p] == RESTART_WAIT:
                if state[p] == PENDING:
                    _dequeue(p, queue, slot_of)
                state[p] = CANCELLED
                totals[_CANCELLED] += 1
                happened = True

        # 3. Machine events.
        while event < n_events and event_time[event] == t:
            m = event_machine[event]
            kind = event_kind[event]
            if kind in (_ADD, _UPDATE):
                if kind == _ADD:
                    alive[m] = True
                cap_cpu[m] = event_cpu[event]
                cap_memory[m] = event_memory[event]
                place_cpu[m] = event_cpu[event] * cpu_overcommit
                place_memory[m] = event_memory[event] * memory_overcommit
                if not is_grown[m]:
                    is_grown[m] = True
                    grown[n_grown] = m
                    n_grown += 1
            elif alive[m]:
                victims = np.empty(count[m], np.int64)
                p = head[m]
                k = 0
                while p >= 0:
                    victims[k] = p
                    k += 1
                    p = next_on[p]
                victims.sort()
                head[m] = -1
                count[m] = 0
                used_cpu[m] = 0.0
                used_memory[m] = 0.0
                alive[m] = False
                # With the group scope, the running processes of the victims'
                # groups on other machines die too, after the victims.
                siblings = np.empty(0, np.int64)
                if supervision_scope == GROUP_SCOPE:
                    for p in victims:
                        state[p] = INTAKE  # no longer running, for the search
                    siblings = _running_siblings(
                        victims, members, group_from, group_to, state
                    )
                for i in range(victims.shape[0] + siblings.shape[0]):
                    if i < victims.shape[0]:
                        p = victims[i]
                        kind_of_kill = KILLED
                    else:
                        p = siblings[i - victims.shape[0]]
                        kind_of_kill = KILLED_WITH_GROUP
                        mp = on_machine[p]
                        used_cpu[mp] -= cpu[p]
                        used_memory[mp] -= memory[p]
                        count[mp] -= 1
                        if count[mp] == 0:
                            used_cpu[mp] = 0.0
                            used_memory[mp] = 0.0
                        if prev_on[p] >= 0:
                            next_on[prev_on[p]] = next_on[p]
                        else:
                            head[mp] = next_on[p]
                        if next_on[p] >= 0:
                            prev_on[next_on[p]] = prev_on[p]
                        _refresh_leaf(
                            trees,
                            size,
                            mp,
                            alive,
                            place_cpu,
                            place_memory,
                            used_cpu,
                            used_memory,
                        )
                        if not is_grown[mp]:
                            is_grown[mp] = True
                            grown[n_grown] = mp
                            n_grown += 1
                    on_machine[p] = -1
                    kills[p] += 1
                    totals[_EVICTIONS] += 1
                    log, log_len = _log_append(log, log_len, p, t, kind_of_kill)
                    delay = restart_delay_us(
                        supervision_kind,
                        kills[p],
                        supervision_base_us,
                        supervision_factor,
                        supervision_max_us,
                        supervision_max_restarts,
                    )
                    if delay == GIVE_UP:
                        state[p] = GAVE_UP
                        totals[_GIVEN_UP] += 1
                        log, log_len = _log_append(
                            log, log_len, p, t, GAVE_UP_AFTER_KILL
                        )
                    elif delay == 0:
                        state[p] = INTAKE
                        intake, intake_batch, intake_len = _intake_append(
                            intake, intake_batch, intake_len, p, next_batch
                        )
                        next_batch += 1
                        open_group = NULL_INT
                    else:
                        state[p] = RESTART_WAIT
                        restarts_t, restarts_p, restarts_n = heap_push(
                            restarts_t, restarts_p, restarts_n, t + delay, p
                        )
            _refresh_leaf(
                trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
            )
            event += 1
            happened = True

        # 4. Restarts after a backoff, then arrivals, go to the scheduler.
        while restarts_n > 0 and restarts_t[0] == t:
            _, p, restarts_n = heap_pop(restarts_t, restarts_p, restarts_n)
            happened = True
            if state[p] != RESTART_WAIT:
                continue
            state[p] = INTAKE
            intake, intake_batch, intake_len = _intake_append(
                intake, intake_batch, intake_len, p, next_batch
            )
            next_batch += 1
            open_group = NULL_INT
        while arrival < n and submit[arrival] == t:
            p = arrival
            arrival += 1
            happened = True
            if end[p] != NULL_INT and end[p] <= t:
                state[p] = CANCELLED
                totals[_CANCELLED] += 1
                continue
            if bypass[p]:
                state[p] = PENDING
                queue = _enqueue(p, level[p], queue, slot_of, cpu, memory)
                is_new[p] = True
                new = ensure_capacity(new, new_len + 1)
                new[new_len] = p
                new_len += 1
                continue
            if open_group != group[p] or open_start < intake_head:
                open_group = group[p]
                open_start = intake_len
                next_batch += 1
            state[p] = INTAKE
            intake, intake_batch, intake_len = _intake_append(
                intake, intake_batch, intake_len, p, next_batch - 1
            )

        # 4b. Schedulers finish their decisions (in scheduler order), then idle
        # ones take the next batches; a decision of zero time ends at once.
        while True:
            for s in range(schedulers):
                if service_end[s] != t:
                    continue
                for i in range(service_from[s], service_to[s]):
                    p = intake[i]
                    if state[p] != INTAKE:
                        continue
                    if optimistic and tentative[p] >= 0:
                        # Commit the decision if its machine still has room;
                        # otherwise a conflict, and the process is decided again.
                        m = tentative[p]
                        if (
                            tree_cpu[size + m] >= cpu[p]
                            and tree_memory[size + m] >= memory[p]
                        ):
                            completions_t, completions_p, completions_n = _place(
                                p,
                                m,
                                t,
                                state,
                                on_machine,
                                next_on,
                                prev_on,
                                head,
                                count,
                                used_cpu,
                                used_memory,
                                cpu,
                                memory,
                                duration,
                                end,
                                kills,
                                schedule,
                                first_machine,
                                completions_t,
                                completions_p,
                                completions_n,
                            )
                            _refresh_leaf(
                                trees,
                                size,
                                m,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                            )
                            totals[_PLACEMENTS] += 1
                            if kills[p] > 0:
                                log, log_len = _log_append(
                                    log, log_len, p, t, PLACED_AGAIN
                                )
                        else:
                            totals[_CONFLICTS] += 1
                            intake, intake_batch, intake_len = _intake_append(
                                intake, intake_batch, intake_len, p, next_batch
                            )
                            next_batch += 1
                            open_group = NULL_INT
                        continue
                    state[p] = PENDING
                    queue = _enqueue(p, level[p], queue, slot_of, cpu, memory)
                    is_new[p] = True
                    new = ensure_capacity(new, new_len + 1)
                    new[new_len] = p
                    new_len += 1
                service_end[s] = NULL_INT
                busy_schedulers -= 1
                happened = True
            started_at_once = False
            for s in range(schedulers):
                if service_end[s] != NULL_INT:
                    continue
                # Skip batches whose processes were all cancelled.
                live = 0
                while intake_head < intake_len and live == 0:
                    batch = intake_batch[intake_head]
                    stop = intake_head
                    while stop < intake_len and intake_batch[stop] == batch:
                        if state[intake[stop]] == INTAKE:
                            live += 1
                        stop += 1
                    if live == 0:
                        intake_head = stop
                if live == 0:
                    break
                cost = job_decision_us + task_decision_us * live
                totals[_BATCHES] += 1
                totals[_BUSY] += cost
                service_from[s] = intake_head
                service_to[s] = stop
                service_end[s] = t + cost
                if optimistic:
                    # Decide on the state as it is now, in a private copy: place
                    # the batch tentatively, then restore the machines exactly.
                    n_saved = 0
                    for i in range(intake_head, stop):
                        p = intake[i]
                        if state[p] != INTAKE:
                            continue
                        offset = 0
                        if rule == SAMPLED:
                            offset = sample_offset(seed, p, kills[p], n_machines)
                        m = _choose_machine(
                            rule,
                            trees,
                            size,
                            cpu[p],
                            memory[p],
                            offset,
                            candidates,
                            n_machines,
                            stack,
                        )
                        tentative[p] = m
                        if m < 0:
                            continue
                        saved_machine = ensure_capacity(saved_machine, n_saved + 1)
                        saved_used = ensure_capacity(saved_used, 2 * n_saved + 2)
                        saved_machine[n_saved] = m
                        saved_used[2 * n_saved] = used_cpu[m]
                        saved_used[2 * n_saved + 1] = used_memory[m]
                        n_saved += 1
                        used_cpu[m] += cpu[p]
                        used_memory[m] += memory[p]
                        _refresh_leaf(
                            trees,
                            size,
                            m,
                            alive,
                            place_cpu,
                            place_memory,
                            used_cpu,
                            used_memory,
                        )
                    for j in range(n_saved - 1, -1, -1):
                        m = saved_machine[j]
                        used_cpu[m] = saved_used[2 * j]
                        used_memory[m] = saved_used[2 * j + 1]
                        _refresh_leaf(
                            trees,
                            size,
                            m,
                            alive,
                            place_cpu,
                            place_memory,
                            used_cpu,
                            used_memory,
                        )
                busy_schedulers += 1
                intake_head = stop
                if cost == 0:
                    started_at_once = True
            if not started_at_once:
                break

        # 5. One scheduling pass over the candidates, in slot (queue) order: the
        # processes enqueued since the last pass, and the earlier ones that fit on
        # a machine that gained capacity.
        if not happened or (new_len == 0 and n_grown == 0):
            continue
        totals[_PASSES] += 1
        _, _, slot_process, q_size, q_cpu, q_memory = queue
        new_slots = ensure_capacity(new_slots, new_len)
        k = 0
        for i in range(new_len):
            if state[new[i]] == PENDING:
                new_slots[k] = slot_of[new[i]]
                k += 1
        new_slots[:k].sort()
        scan_all = n_grown > grown_search_limit
        next_new = 0
        cursor = -1
        # First-fit result for the last request searched in this pass. Free
        # capacity only shrinks during a pass, so a process with the same
        # requests fits no machine below it (and none at all after a miss).
        hint_cpu = -1.0
        hint_memory = -1.0
        hint_machine = -1
        while True:
            # New processes come from their sorted list, earlier ones from the
            # min-tree, which holds only processes pending before this pass.
            while next_new < k and new_slots[next_new] <= cursor:
                next_new += 1
            candidate = new_slots[next_new] if next_new < k else -1
            if scan_all:
                # Every waiting process may fit somewhere: visit them all.
                slot = first_fitting_after(
                    q_cpu, q_memory, q_size, cursor, _FLOAT_MAX, _FLOAT_MAX, q_stack
                )
                if slot >= 0 and (candidate < 0 or slot < candidate):
                    candidate = slot
            else:
                for i in range(n_grown):
                    m = grown[i]
                    slot = first_fitting_after(
                        q_cpu,
                        q_memory,
                        q_size,
                        cursor,
                        tree_cpu[size + m],
                        tree_memory[size + m],
                        q_stack,
                    )
                    if slot >= 0 and (candidate < 0 or slot < candidate):
                        candidate = slot
            if candidate < 0:
                break
            cursor = candidate
            p = slot_process[candidate]
            offset = 0
            if rule == SAMPLED:
                offset = sample_offset(seed, p, kills[p], n_machines)
            if rule == FIRST_FIT and cpu[p] == hint_cpu and memory[p] == hint_memory:
                m = hint_machine
                if m >= 0 and (
                    tree_cpu[size + m] < cpu[p] or tree_memory[size + m] < memory[p]
                ):
                    m = first_fit_from(
                        tree_cpu, tree_memory, size, m + 1, cpu[p], memory[p], stack
                    )
                hint_machine = m
            elif is_new[p] or scan_all:
                m = _choose_machine(
                    rule,
                    trees,
                    size,
                    cpu[p],
                    memory[p],
                    offset,
                    candidates,
                    n_machines,
                    stack,
                )
            else:
                m = _choose_among(
                    rule,
                    grown,
                    n_grown,
                    trees,
                    size,
                    cpu[p],
                    memory[p],
                    offset,
                    candidates,
                    n_machines,
                )
            if rule == FIRST_FIT:
                hint_cpu = cpu[p]
                hint_memory = memory[p]
                hint_machine = m
            if m < 0:
                continue
            _dequeue(p, queue, slot_of)
            completions_t, completions_p, completions_n = _place(
                p,
                m,
                t,
                state,
                on_machine,
                next_on,
                prev_on,
                head,
                count,
                used_cpu,
                used_memory,
                cpu,
                memory,
                duration,
                end,
                kills,
                schedule,
                first_machine,
                completions_t,
                completions_p,
                completions_n,
            )
            _refresh_leaf(
                trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
            )
            totals[_PLACEMENTS] += 1
            if kills[p] > 0:
                log, log_len = _log_append(log, log_len, p, t, PLACED_AGAIN)
        for i in range(new_len):
            if state[new[i]] == PENDING:
                _insert(new[i], queue, slot_of, cpu, memory)
        for i in range(new_len):
            is_new[new[i]] = False
        new_len = 0
        for i in range(n_grown):
            is_grown[grown[i]] = False
        n_grown = 0

    while g < n_grid:
        _sample(g, alive, cap_cpu, cap_memory, used_cpu, used_memory, count, series)
        g += 1

    for p in range(n):
        if state[p] == PENDING or state[p] == INTAKE or state[p] == RESTART_WAIT:
            totals[_PENDING_AT_END] += 1
            if schedule[p] == NULL_INT:
                totals[_UNSCHEDULABLE] += 1
        elif state[p] == RUNNING:
            totals[_RUNNING_AT_END] += 1

    kill_log = log[: 3 * log_len].reshape(log_len, 3).T.copy()
    return schedule, first_machine, kills, series, totals, kill_log


@njit
def _place(
    p,
    m,
    t,
    state,
    on_machine,
    next_on,
    prev_on,
    head,
    count,
    used_cpu,
    used_memory,
    cpu,
    memory,
    duration,
    end,
    kills,
    schedule,
    first_machine,
    heap_times,
    heap_items,
    heap_size,
):
    state[p] = RUNNING
    on_machine[p] = m
    prev_on[p] = -1
    next_on[p] = head[m]
    if head[m] >= 0:
        prev_on[head[m]] = p
    head[m] = p
    count[m] += 1
    used_cpu[m] += cpu[p]
    used_memory[m] += memory[p]
    if schedule[p] == NULL_INT:
        schedule[p] = t
        first_machine[p] = m
    if end[p] != NULL_INT:
        done = end[p]
    elif duration[p] < 0 or duration[p] > INT64_MAX - t:
        done = NULL_INT
    else:
        done = t + duration[p]
    if done != NULL_INT:
        heap_times, heap_items, heap_size = heap_push(
            heap_times, heap_items, heap_size, done, p * RUN_SPAN + kills[p] % RUN_SPAN
        )
    return heap_times, heap_items, heap_size
