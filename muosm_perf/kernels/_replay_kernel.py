"""The compiled event loop of the replay; :mod:`muosm_perf.kernels.replay` wraps it.

Machine state lives in per-machine arrays and in the placement trees of
:mod:`muosm_perf.kernels.placement`. Their leaves are the free capacity that
placement uses: capacity times the overcommitment factor, minus requests. The
processes running on a machine are in one linked list per band, most recently
placed first. The pending queue is the slot queue of
:mod:`muosm_perf.kernels._pending`. Preemption and the offer model keep the further
state described in :mod:`muosm_perf.kernels._preemption` and
:mod:`muosm_perf.kernels._offers`.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._heap import heap_pop, heap_push, new_heap
from muosm_perf.kernels._numba import NULL_INT, njit
from muosm_perf.kernels._offers import (
    framework_order,
    refresh_offer_leaf,
    set_low,
)
from muosm_perf.kernels._order import (
    new_order,
    order_best_fit,
    order_contains,
    order_insert,
    order_remove,
    order_worst_fit,
)
from muosm_perf.kernels._pending import (
    STACK_LENGTH,
    ensure_capacity,
    first_fitting_after,
    new_queue,
    relayout,
    set_slot,
)
from muosm_perf.kernels._preemption import (
    add_use,
    clear_machine,
    refresh_room,
    remove_use,
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
KILLED, KILLED_WITH_GROUP, PREEMPTED, GAVE_UP_AFTER_KILL, PLACED_AGAIN = range(5)
KILL_LOG_KINDS = (
    "killed",
    "killed_with_group",
    "preempted",
    "given_up",
    "placed_again",
)
"""Names of the kill-log entry kinds, in the order of their codes.

``killed``: a REMOVE killed the process. ``killed_with_group``: a REMOVE killed
another process of its group, and the supervisor restarts the whole group.
``preempted``: a process of a higher band evicted it (with preemption on).
``given_up``: the supervisor gave the process up after a kill or eviction.
``placed_again``: the process was placed again after a kill or eviction."""

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
    "preemptions",
    "offers",
    "offers_accepted",
    "offers_declined",
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
    _PREEMPTIONS,
    _OFFERS,
    _OFFERS_ACCEPTED,
    _OFFERS_DECLINED,
) = range(len(TOTALS))

_MASK = (1 << 64) - 1

RUN_SPAN = 1 << 20
"""Completion entries are ``process * RUN_SPAN + kills % RUN_SPAN``.

An entry left by a run that a REMOVE killed then differs from the current run's
entry, with no per-process array of completion times. Two runs of one process would
be confused only 2^20 kills apart.
"""


@njit
def band_of(band, p):
    """Return the band code of process ``p``: 0 when ``band`` is empty.

    Without preemption or offers every process is in band 0 and the wrapper
    passes no array, which saves a random memory access per step of a process.
    """
    if band.shape[0] == 0:
        return 0
    return band[p]


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
    """Set machine ``m``'s leaves in the placement trees from its state."""
    tree_cpu, tree_memory, tree_low_cpu = trees
    if alive[m] and not np.isnan(place_cpu[m]) and not np.isnan(place_memory[m]):
        free_cpu = place_cpu[m] - used_cpu[m]
        set_leaf(
            tree_cpu, tree_memory, size, m, free_cpu, place_memory[m] - used_memory[m]
        )
        low = free_cpu
    else:
        set_leaf(tree_cpu, tree_memory, size, m, -np.inf, -np.inf)
        low = np.inf
    if tree_low_cpu.shape[0] > 0:  # only best-fit keeps the tree of minimum CPU
        set_low(tree_low_cpu, size, m, low)


@njit
def _refresh_order(order, m, alive, place_cpu, place_memory, used_cpu, used_memory):
    """Move machine ``m`` to its place in the order of free CPU.

    Only best-fit and worst-fit keep that order.
    """
    open_machine = (
        alive[m] and not np.isnan(place_cpu[m]) and not np.isnan(place_memory[m])
    )
    free_cpu = place_cpu[m] - used_cpu[m]
    free_memory = place_memory[m] - used_memory[m]
    if order_contains(order, m):
        if open_machine and order[0][m] == free_cpu and order[1][m] == free_memory:
            return
        order_remove(order, m)
    if open_machine:
        order_insert(order, m, free_cpu, free_memory)


@njit
def _refresh_options(
    size, m, alive, place_cpu, place_memory, used_cpu, used_memory, rooms, pools
):
    """Set machine ``m``'s leaves in the trees of preemption and of the offers.

    ``rooms`` and ``pools`` are their state; the arrays have no rows when the
    option is off. Kept apart from :func:`_refresh_leaf` so that the plain path
    stays small.
    """
    open_machine = (
        alive[m] and not np.isnan(place_cpu[m]) and not np.isnan(place_memory[m])
    )
    used_from_cpu, used_from_memory, _, room_cpu, room_memory = rooms
    if room_cpu.shape[0] > 0:
        refresh_room(
            m,
            open_machine,
            place_cpu,
            place_memory,
            used_from_cpu,
            used_from_memory,
            room_cpu,
            room_memory,
            size,
        )
    in_pool, pool_cpu, pool_memory, pool_low = pools
    for f in range(in_pool.shape[0]):
        refresh_offer_leaf(
            f,
            m,
            open_machine,
            place_cpu[m] - used_cpu[m],
            place_memory[m] - used_memory[m],
            in_pool,
            pool_cpu,
            pool_memory,
            pool_low,
            size,
        )


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
def _choose_in_order(rule, order, cpu, memory):
    """Pick a machine by best-fit or worst-fit from the order of free CPU, or -1."""
    if rule == BEST_FIT:
        return order_best_fit(order, cpu, memory)
    return order_worst_fit(order, cpu, memory)


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
def _enqueue(p, level, queue, slot_of, cpu, memory, band, waiting_in):
    """Put process ``p`` in the next slot of its level; return the queue arrays.

    The slot's leaf in the min-tree stays empty: the pass visits new processes from
    its own list, and :func:`_insert` adds those it leaves pending.
    """
    base, fill, slot_process, q_size, q_cpu, q_memory = queue
    if base[level] + fill[level] == base[level + 1]:
        base, slot_process, q_size, q_cpu, q_memory = relayout(
            base, fill, slot_process, slot_of, cpu, memory, band, q_cpu.shape[0], level
        )
    slot = base[level] + fill[level]
    fill[level] += 1
    slot_process[slot] = p
    slot_of[p] = slot
    waiting_in[band_of(band, p)] += 1
    return base, fill, slot_process, q_size, q_cpu, q_memory


@njit
def _insert(p, queue, slot_of, cpu, memory, band):
    """Add the requests of a pending process to the min-tree of its band."""
    _, _, _, q_size, q_cpu, q_memory = queue
    b = band_of(band, p)
    set_slot(q_cpu[b], q_memory[b], q_size, slot_of[p], cpu[p], memory[p])


@njit
def _dequeue(p, queue, slot_of, band, waiting_in):
    _, _, slot_process, q_size, q_cpu, q_memory = queue
    b = band_of(band, p)
    slot = slot_of[p]
    slot_process[slot] = -1
    slot_of[p] = -1
    waiting_in[b] -= 1
    if q_cpu[b, q_size + slot] != np.inf:
        set_slot(q_cpu[b], q_memory[b], q_size, slot, np.inf, np.inf)


@njit
def _intake_append(intake, intake_batch, intake_len, p, batch):
    intake = ensure_capacity(intake, intake_len + 1)
    intake_batch = ensure_capacity(intake_batch, intake_len + 1)
    intake[intake_len] = p
    intake_batch[intake_len] = batch
    return intake, intake_batch, intake_len + 1


@njit
def _unlink(p, hb, head, next_on, prev_on):
    """Take process ``p`` out of the machine list ``hb`` (band * machines + m)."""
    if prev_on[p] >= 0:
        next_on[prev_on[p]] = next_on[p]
    else:
        head[hb] = next_on[p]
    if next_on[p] >= 0:
        prev_on[next_on[p]] = prev_on[p]


@njit
def _take_off(
    p, m, band, cpu, memory, used_cpu, used_memory, count, head, next_on, prev_on
):
    """Stop process ``p`` on machine ``m`` and free its requests."""
    used_cpu[m] -= cpu[p]
    used_memory[m] -= memory[p]
    count[m] -= 1
    if count[m] == 0:
        used_cpu[m] = 0.0
        used_memory[m] = 0.0
    _unlink(p, band_of(band, p) * used_cpu.shape[0] + m, head, next_on, prev_on)


@njit
def _options_off(p, m, band, cpu, memory, rooms, shares):
    """Update the preemption and offer state for process ``p`` leaving ``m``."""
    b = band_of(band, p)
    used_from_cpu, used_from_memory, running_from, _, _ = rooms
    if used_from_cpu.shape[0] > 0:
        remove_use(
            b, m, cpu[p], memory[p], used_from_cpu, used_from_memory, running_from
        )
    _leave_share(b, cpu[p], memory[p], shares)


@njit
def _options_on(p, m, band, cpu, memory, rooms, shares):
    """Update the preemption and offer state for process ``p`` starting on ``m``."""
    b = band_of(band, p)
    used_from_cpu, used_from_memory, running_from, _, _ = rooms
    if used_from_cpu.shape[0] > 0:
        add_use(b, m, cpu[p], memory[p], used_from_cpu, used_from_memory, running_from)
    share_cpu, share_memory, share_count = shares
    if share_cpu.shape[0] > 0:
        share_cpu[b] += cpu[p]
        share_memory[b] += memory[p]
        share_count[b] += 1


@njit
def _leave_share(b, cpu, memory, shares):
    share_cpu, share_memory, share_count = shares
    if share_cpu.shape[0] == 0:
        return
    share_cpu[b] -= cpu
    share_memory[b] -= memory
    share_count[b] -= 1
    if share_count[b] == 0:
        share_cpu[b] = 0.0
        share_memory[b] = 0.0


@njit
def _resubmit(
    v,
    t,
    state,
    kills,
    totals,
    supervision,
    intake,
    intake_batch,
    intake_len,
    next_batch,
    restarts_t,
    restarts_p,
    restarts_n,
    log,
    log_len,
):
    """Send a killed process back through the supervision policy.

    Returns the intake, restart-heap and kill-log arrays and whether ``v`` went
    to the intake. A process given up gets a ``given_up`` entry in the log.
    """
    kind, base_us, factor, max_us, max_restarts = supervision
    delay = restart_delay_us(kind, kills[v], base_us, factor, max_us, max_restarts)
    sent = False
    if delay == GIVE_UP:
        state[v] = GAVE_UP
        totals[_GIVEN_UP] += 1
        log, log_len = _log_append(log, log_len, v, t, GAVE_UP_AFTER_KILL)
    elif delay == 0:
        state[v] = INTAKE
        intake, intake_batch, intake_len = _intake_append(
            intake, intake_batch, intake_len, v, next_batch
        )
        next_batch += 1
        sent = True
    else:
        state[v] = RESTART_WAIT
        restarts_t, restarts_p, restarts_n = heap_push(
            restarts_t, restarts_p, restarts_n, t + delay, v
        )
    return (
        intake,
        intake_batch,
        intake_len,
        next_batch,
        restarts_t,
        restarts_p,
        restarts_n,
        log,
        log_len,
        sent,
    )


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
    band,
    n_bands,
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
    preempt,
    offers,
    framework_rule,
    refuse_us,
    grown_search_limit,
):
    """Run the replay; see :mod:`muosm_perf.kernels.replay` for the model."""
    n = submit.shape[0]
    n_events = event_time.shape[0]
    n_grid = grid.shape[0]
    with_options = preempt or offers
    supervision = (
        supervision_kind,
        supervision_base_us,
        supervision_factor,
        supervision_max_us,
        supervision_max_restarts,
    )

    # Machines.
    alive = np.zeros(n_machines, np.bool_)
    cap_cpu = np.full(n_machines, np.nan)
    cap_memory = np.full(n_machines, np.nan)
    place_cpu = np.full(n_machines, np.nan)
    place_memory = np.full(n_machines, np.nan)
    used_cpu = np.zeros(n_machines)
    used_memory = np.zeros(n_machines)
    count = np.zeros(n_machines, np.int64)
    # One list of running processes per band and machine: band * machines + m.
    head = np.full(n_bands * n_machines, -1, np.int64)
    size, tree_cpu, tree_memory = new_tree(n_machines)
    # Best-fit and worst-fit search the machines in order of free CPU; the tree
    # of minimum free CPU serves best-fit only where that order is not kept.
    tree_low_cpu = np.full(0, np.inf)
    trees = (tree_cpu, tree_memory, tree_low_cpu)
    keep_order = rule in (BEST_FIT, WORST_FIT)
    order = new_order(n_machines if keep_order else 0)
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
    preemptions = np.zeros(n if preempt else 0, np.int32)
    # Preemption: per band from 1 up, the requests of that band and higher on each
    # machine, and trees of the room eviction of lower bands would make.
    rows = n_bands if preempt else 0
    used_from_cpu = np.zeros((rows, n_machines))
    used_from_memory = np.zeros((rows, n_machines))
    running_from = np.zeros((rows, n_machines), np.int64)
    room_cpu = np.full((rows, 2 * size), -np.inf)
    room_memory = np.full((rows, 2 * size), -np.inf)
    rooms = (used_from_cpu, used_from_memory, running_from, room_cpu, room_memory)
    # Machines a preemption gave room to in this pass, kept as grown for the next.
    preempted_on = np.empty(16, np.int64)
    n_preempted_on = 0
    # A preemption sends processes to the intake: the instant gets another round.
    again = False

    # Offers: per framework (band), its pool of machines not declined, the trees
    # of that pool, the declined machines waiting to return, the requests it runs.
    frameworks = n_bands if offers else 0
    in_pool = np.ones((frameworks, n_machines), np.bool_)
    pool = np.empty((frameworks, max(n_machines, 1)), np.int32)
    pool_len = np.full(frameworks, n_machines, np.int64)
    for f in range(frameworks):
        for m in range(n_machines):
            pool[f, m] = m
    pool_cpu = np.full((frameworks, 2 * size), -np.inf)
    pool_memory = np.full((frameworks, 2 * size), -np.inf)
    pool_low = np.full((frameworks, 2 * size), np.inf)
    pools = (in_pool, pool_cpu, pool_memory, pool_low)
    declined_time = np.empty((frameworks, max(n_machines, 1)), np.int64)
    declined_machine = np.empty((frameworks, max(n_machines, 1)), np.int32)
    declined_head = np.zeros(frameworks, np.int64)
    declined_len = np.zeros(frameworks, np.int64)
    accepted = np.zeros(n_machines if offers else 0, np.bool_)
    share_cpu = np.zeros(frameworks)
    share_memory = np.zeros(frameworks)
    share_count = np.zeros(frameworks, np.int64)
    shares = (share_cpu, share_memory, share_count)
    offer_counts = np.zeros((frameworks, 3), np.int64)
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
    queue = new_queue(arrivals + np.maximum(arrivals // 16, 4), n_bands)
    waiting_in = np.zeros(n_bands, np.int64)
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
    t = 0
    while True:
        if again:
            found = True  # t stays: another round of the same instant
            again = False
        else:
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
            # Declined offers return at their own instants, but only while
            # something else remains to happen.
            for f in range(frameworks):
                if declined_len[f] > 0:
                    t = min(t, declined_time[f, declined_head[f]])
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
            _take_off(
                p,
                m,
                band,
                cpu,
                memory,
                used_cpu,
                used_memory,
                count,
                head,
                next_on,
                prev_on,
            )
            on_machine[p] = -1
            if with_options:
                _options_off(p, m, band, cpu, memory, rooms, shares)
            _refresh_leaf(
                trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
            )
            if keep_order:
                _refresh_order(
                    order, m, alive, place_cpu, place_memory, used_cpu, used_memory
                )
            if with_options:
                _refresh_options(
                    size,
                    m,
                    alive,
                    place_cpu,
                    place_memory,
                    used_cpu,
                    used_memory,
                    rooms,
                    pools,
                )
            state[p] = DONE
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
                    _dequeue(p, queue, slot_of, band, waiting_in)
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
                k = 0
                for b in range(n_bands):
                    p = head[b * n_machines + m]
                    while p >= 0:
                        victims[k] = p
                        k += 1
                        p = next_on[p]
                    head[b * n_machines + m] = -1
                victims.sort()
                count[m] = 0
                used_cpu[m] = 0.0
                used_memory[m] = 0.0
                if preempt:
                    clear_machine(m, used_from_cpu, used_from_memory, running_from)
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
                        _leave_share(band_of(band, p), cpu[p], memory[p], shares)
                    else:
                        p = siblings[i - victims.shape[0]]
                        kind_of_kill = KILLED_WITH_GROUP
                        mp = on_machine[p]
                        _take_off(
                            p,
                            mp,
                            band,
                            cpu,
                            memory,
                            used_cpu,
                            used_memory,
                            count,
                            head,
                            next_on,
                            prev_on,
                        )
                        _options_off(p, mp, band, cpu, memory, rooms, shares)
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
                        if keep_order:
                            _refresh_order(
                                order,
                                mp,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                            )
                        if with_options:
                            _refresh_options(
                                size,
                                mp,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                                rooms,
                                pools,
                            )
                        if not is_grown[mp]:
                            is_grown[mp] = True
                            grown[n_grown] = mp
                            n_grown += 1
                    on_machine[p] = -1
                    kills[p] += 1
                    totals[_EVICTIONS] += 1
                    log, log_len = _log_append(log, log_len, p, t, kind_of_kill)
                    (
                        intake,
                        intake_batch,
                        intake_len,
                        next_batch,
                        restarts_t,
                        restarts_p,
                        restarts_n,
                        log,
                        log_len,
                        sent,
                    ) = _resubmit(
                        p,
                        t,
                        state,
                        kills,
                        totals,
                        supervision,
                        intake,
                        intake_batch,
                        intake_len,
                        next_batch,
                        restarts_t,
                        restarts_p,
                        restarts_n,
                        log,
                        log_len,
                    )
                    if sent:
                        open_group = NULL_INT
            _refresh_leaf(
                trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
            )
            if keep_order:
                _refresh_order(
                    order, m, alive, place_cpu, place_memory, used_cpu, used_memory
                )
            if with_options:
                _refresh_options(
                    size,
                    m,
                    alive,
                    place_cpu,
                    place_memory,
                    used_cpu,
                    used_memory,
                    rooms,
                    pools,
                )
            event += 1
            happened = True

        # 4. Declined offers whose refusal timeout ends now return to the pools;
        # then restarts after a backoff, then arrivals, go to the scheduler.
        for f in range(frameworks):
            while declined_len[f] > 0 and declined_time[f, declined_head[f]] <= t:
                m = declined_machine[f, declined_head[f]]
                declined_head[f] = (declined_head[f] + 1) % declined_time.shape[1]
                declined_len[f] -= 1
                in_pool[f, m] = True
                pool[f, pool_len[f]] = m
                pool_len[f] += 1
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
                if keep_order:
                    _refresh_order(
                        order, m, alive, place_cpu, place_memory, used_cpu, used_memory
                    )
                if with_options:
                    _refresh_options(
                        size,
                        m,
                        alive,
                        place_cpu,
                        place_memory,
                        used_cpu,
                        used_memory,
                        rooms,
                        pools,
                    )
                happened = True
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
                queue = _enqueue(
                    p, level[p], queue, slot_of, cpu, memory, band, waiting_in
                )
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

        # 5. Schedulers finish their decisions (in scheduler order), then idle
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
                                band,
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
                            if with_options:
                                _options_on(p, m, band, cpu, memory, rooms, shares)
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
                            if keep_order:
                                _refresh_order(
                                    order,
                                    m,
                                    alive,
                                    place_cpu,
                                    place_memory,
                                    used_cpu,
                                    used_memory,
                                )
                            if with_options:
                                _refresh_options(
                                    size,
                                    m,
                                    alive,
                                    place_cpu,
                                    place_memory,
                                    used_cpu,
                                    used_memory,
                                    rooms,
                                    pools,
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
                    queue = _enqueue(
                        p, level[p], queue, slot_of, cpu, memory, band, waiting_in
                    )
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
                        if keep_order:
                            m = _choose_in_order(rule, order, cpu[p], memory[p])
                        else:
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
                        if keep_order:
                            _refresh_order(
                                order,
                                m,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                            )
                        if with_options:
                            _refresh_options(
                                size,
                                m,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                                rooms,
                                pools,
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
                        if keep_order:
                            _refresh_order(
                                order,
                                m,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                            )
                        if with_options:
                            _refresh_options(
                                size,
                                m,
                                alive,
                                place_cpu,
                                place_memory,
                                used_cpu,
                                used_memory,
                                rooms,
                                pools,
                            )
                busy_schedulers += 1
                intake_head = stop
                if cost == 0:
                    started_at_once = True
            if not started_at_once:
                break

        if not happened:
            continue
        _, _, slot_process, q_size, q_cpu, q_memory = queue

        # 6b. The offer model: frameworks in order of their dominant request.
        if offers:
            totals[_PASSES] += 1
            for i in range(new_len):
                if state[new[i]] == PENDING:
                    _insert(new[i], queue, slot_of, cpu, memory, band)
                is_new[new[i]] = False
            new_len = 0
            for i in range(n_grown):
                is_grown[grown[i]] = False
            n_grown = 0
            turns = framework_order(share_cpu, share_memory)
            for j in range(frameworks):
                f = turns[j]
                if waiting_in[f] == 0 or pool_len[f] == 0:
                    continue  # a framework with nothing to place takes no offers
                f_rule = framework_rule[f]
                f_trees = (pool_cpu[f], pool_memory[f], pool_low[f])
                cursor = -1
                while True:
                    # Only processes that fit the pool's largest free CPU and
                    # memory can be placed; the min-tree finds them in order.
                    cursor = first_fitting_after(
                        q_cpu[f],
                        q_memory[f],
                        q_size,
                        cursor,
                        pool_cpu[f, 1],
                        pool_memory[f, 1],
                        q_stack,
                    )
                    if cursor < 0:
                        break
                    p = slot_process[cursor]
                    offset = 0
                    if f_rule == SAMPLED:
                        offset = sample_offset(seed, p, kills[p], n_machines)
                    m = _choose_machine(
                        f_rule,
                        f_trees,
                        size,
                        cpu[p],
                        memory[p],
                        offset,
                        candidates,
                        n_machines,
                        stack,
                    )
                    if m < 0:
                        continue
                    _dequeue(p, queue, slot_of, band, waiting_in)
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
                        band,
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
                    if with_options:
                        _options_on(p, m, band, cpu, memory, rooms, shares)
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
                    if keep_order:
                        _refresh_order(
                            order,
                            m,
                            alive,
                            place_cpu,
                            place_memory,
                            used_cpu,
                            used_memory,
                        )
                    if with_options:
                        _refresh_options(
                            size,
                            m,
                            alive,
                            place_cpu,
                            place_memory,
                            used_cpu,
                            used_memory,
                            rooms,
                            pools,
                        )
                    totals[_PLACEMENTS] += 1
                    if kills[p] > 0:
                        log, log_len = _log_append(log, log_len, p, t, PLACED_AGAIN)
                    accepted[m] = True
                # Every open machine of the pool was offered: those with a
                # placement stay, the others are declined until t + refuse.
                kept = 0
                for i in range(pool_len[f]):
                    m = pool[f, i]
                    if not (
                        alive[m]
                        and not np.isnan(place_cpu[m])
                        and not np.isnan(place_memory[m])
                    ):
                        pool[f, kept] = m
                        kept += 1
                        continue
                    offer_counts[f, 0] += 1
                    if accepted[m]:
                        offer_counts[f, 1] += 1
                        accepted[m] = False
                        pool[f, kept] = m
                        kept += 1
                        continue
                    offer_counts[f, 2] += 1
                    in_pool[f, m] = False
                    refresh_offer_leaf(
                        f,
                        m,
                        False,
                        0.0,
                        0.0,
                        in_pool,
                        pool_cpu,
                        pool_memory,
                        pool_low,
                        size,
                    )
                    tail = (declined_head[f] + declined_len[f]) % declined_time.shape[1]
                    declined_time[f, tail] = t + refuse_us
                    declined_machine[f, tail] = m
                    declined_len[f] += 1
                pool_len[f] = kept
            continue

        # 6. One scheduling pass over the candidates, in slot (queue) order: the
        # processes enqueued since the last pass, and the earlier ones that fit on
        # a machine that gained capacity.
        if new_len == 0 and n_grown == 0:
            continue
        totals[_PASSES] += 1
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
        # capacity only shrinks during a pass, except where a preemption evicts,
        # so a process with the same requests fits no machine below it (and none
        # at all after a miss) until the next preemption.
        hint_cpu = -1.0
        hint_memory = -1.0
        hint_machine = -1
        while True:
            # New processes come from their sorted list, earlier ones from the
            # min-trees, which hold only processes pending before this pass.
            while next_new < k and new_slots[next_new] <= cursor:
                next_new += 1
            candidate = new_slots[next_new] if next_new < k else -1
            for b in range(n_bands):
                if scan_all:
                    # Every waiting process may fit somewhere: visit them all.
                    slot = first_fitting_after(
                        q_cpu[b],
                        q_memory[b],
                        q_size,
                        cursor,
                        _FLOAT_MAX,
                        _FLOAT_MAX,
                        q_stack,
                    )
                    if slot >= 0 and (candidate < 0 or slot < candidate):
                        candidate = slot
                    continue
                for i in range(n_grown):
                    m = grown[i]
                    # Band 0 can only take free capacity; higher bands also the
                    # room that evicting lower bands would make.
                    # The larger of the two, because the room is summed apart and
                    # may round below the free capacity.
                    free_cpu = tree_cpu[size + m]
                    free_memory = tree_memory[size + m]
                    if b > 0:
                        free_cpu = max(free_cpu, room_cpu[b, size + m])
                        free_memory = max(free_memory, room_memory[b, size + m])
                    slot = first_fitting_after(
                        q_cpu[b],
                        q_memory[b],
                        q_size,
                        cursor,
                        free_cpu,
                        free_memory,
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
                if keep_order:
                    m = _choose_in_order(rule, order, cpu[p], memory[p])
                else:
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
            if m < 0 and preempt and band_of(band, p) > 0:
                # Fits nowhere: the lowest-index machine where evicting lower
                # bands makes room, if any.
                b = band_of(band, p)
                m = first_fit(
                    room_cpu[b], room_memory[b], size, cpu[p], memory[p], stack
                )
                if m >= 0:
                    for c in range(b):
                        v = head[c * n_machines + m]
                        while v >= 0 and not (
                            place_cpu[m] - used_cpu[m] >= cpu[p]
                            and place_memory[m] - used_memory[m] >= memory[p]
                        ):
                            following = next_on[v]
                            _take_off(
                                v,
                                m,
                                band,
                                cpu,
                                memory,
                                used_cpu,
                                used_memory,
                                count,
                                head,
                                next_on,
                                prev_on,
                            )
                            on_machine[v] = -1
                            _options_off(v, m, band, cpu, memory, rooms, shares)
                            kills[v] += 1
                            preemptions[v] += 1
                            totals[_EVICTIONS] += 1
                            totals[_PREEMPTIONS] += 1
                            log, log_len = _log_append(log, log_len, v, t, PREEMPTED)
                            (
                                intake,
                                intake_batch,
                                intake_len,
                                next_batch,
                                restarts_t,
                                restarts_p,
                                restarts_n,
                                log,
                                log_len,
                                sent,
                            ) = _resubmit(
                                v,
                                t,
                                state,
                                kills,
                                totals,
                                supervision,
                                intake,
                                intake_batch,
                                intake_len,
                                next_batch,
                                restarts_t,
                                restarts_p,
                                restarts_n,
                                log,
                                log_len,
                            )
                            if sent:
                                open_group = NULL_INT
                                again = True
                            v = following
                    hint_cpu = -1.0
                    if not is_grown[m]:
                        is_grown[m] = True
                        grown[n_grown] = m
                        n_grown += 1
                    preempted_on = ensure_capacity(preempted_on, n_preempted_on + 1)
                    preempted_on[n_preempted_on] = m
                    n_preempted_on += 1
            if m < 0:
                continue
            _dequeue(p, queue, slot_of, band, waiting_in)
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
                band,
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
            if with_options:
                _options_on(p, m, band, cpu, memory, rooms, shares)
            _refresh_leaf(
                trees, size, m, alive, place_cpu, place_memory, used_cpu, used_memory
            )
            if keep_order:
                _refresh_order(
                    order, m, alive, place_cpu, place_memory, used_cpu, used_memory
                )
            if with_options:
                _refresh_options(
                    size,
                    m,
                    alive,
                    place_cpu,
                    place_memory,
                    used_cpu,
                    used_memory,
                    rooms,
                    pools,
                )
            totals[_PLACEMENTS] += 1
            if kills[p] > 0:
                log, log_len = _log_append(log, log_len, p, t, PLACED_AGAIN)
        for i in range(new_len):
            if state[new[i]] == PENDING:
                _insert(new[i], queue, slot_of, cpu, memory, band)
        for i in range(new_len):
            is_new[new[i]] = False
        new_len = 0
        for i in range(n_grown):
            is_grown[grown[i]] = False
        n_grown = 0
        # Processes passed over earlier in this pass may fit where a preemption
        # left room, so those machines count as grown for the next pass.
        for i in range(n_preempted_on):
            m = preempted_on[i]
            if not is_grown[m]:
                is_grown[m] = True
                grown[n_grown] = m
                n_grown += 1
        n_preempted_on = 0

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
    for f in range(frameworks):
        totals[_OFFERS] += offer_counts[f, 0]
        totals[_OFFERS_ACCEPTED] += offer_counts[f, 1]
        totals[_OFFERS_DECLINED] += offer_counts[f, 2]

    kill_log = log[: 3 * log_len].reshape(log_len, 3).T.copy()
    return (
        schedule,
        first_machine,
        kills,
        preemptions,
        series,
        totals,
        offer_counts,
        kill_log,
    )


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
    band,
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
    hb = band_of(band, p) * used_cpu.shape[0] + m
    state[p] = RUNNING
    on_machine[p] = m
    prev_on[p] = -1
    next_on[p] = head[hb]
    if head[hb] >= 0:
        prev_on[head[hb]] = p
    head[hb] = p
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
