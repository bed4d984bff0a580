"""Scheduling replay: processes placed on machines as a cluster scheduler would.

The model, which :mod:`muosm_perf.kernels.reference.replay` implements again in plain
Python, processes instants in time order. At each instant ``t``, in this order:

1. processes whose completion time is ``t`` finish and free their requests;
2. pending processes whose cancellation time (``end_time_us``) is ``t`` leave the
   queue;
3. machine events at ``t`` apply in input order. ADD makes the machine alive with
   the given capacity (on an alive machine it only sets the capacity). UPDATE sets
   the capacity, also of a dead machine; free capacity may go negative and nothing
   is killed. REMOVE kills the processes running on an alive machine, which are
   resubmitted at ``t`` in process order with their full duration, one eviction
   each. A REMOVE of a dead machine does nothing;
4. processes submitted at ``t`` arrive in input order. One whose cancellation time
   is at or before ``t`` is cancelled at once;
5. if anything happened, one scheduling pass: the pending processes in queue order
   (priority descending, then enqueue order), each placed on the lowest-index alive
   machine whose free CPU and free memory both cover its requests, found with the
   segment tree of :mod:`muosm_perf.kernels.placement`. A process that fits nowhere
   stays pending.

A placed process completes at its cancellation time if it has one, else ``duration``
later; a duration of -1 means it runs past the horizon. A process placed with
duration 0 completes at the same ``t``, in a second round of that instant. A machine
whose capacity is unknown (NaN) is alive but holds no process. Instants after
``horizon_us`` are not processed.

NOTE: the kernel does not visit every pending process at each pass, yet the outcome
is that of a full pass. After a pass no pending process fits on any machine: each
failed at its turn, and free capacity only shrinks later in the pass. Until the next
pass, capacity grows only on machines that had a completion, an ADD or an UPDATE.
So a process pending at the previous pass can fit only on one of those machines. The
pass visits, in queue order, the processes enqueued since and those that the
pending queue's min-tree (:mod:`muosm_perf.kernels._pending`) finds fitting on a
machine that grew; with more than ``grown_search_limit`` such machines it visits all.
The tests compare with a reference that always makes the full pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from muosm_perf.errors import ParameterError
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
from muosm_perf.kernels.placement import STACK_DEPTH, first_fit, new_tree, set_leaf
from muosm_perf.model.lifecycle import CellEvent

INT64_MAX = 2**63 - 1

GROWN_SEARCH_LIMIT = 16
"""Default of ``grown_search_limit`` in :func:`replay_arrays`."""

_FLOAT_MAX = float(np.finfo(np.float64).max)

# Process states.
NOT_ARRIVED, PENDING, RUNNING, DONE, CANCELLED = 0, 1, 2, 3, 4

_ADD = int(CellEvent.ADD)
_REMOVE = int(CellEvent.REMOVE)
_UPDATE = int(CellEvent.UPDATE)

TOTALS = (
    "evictions",
    "cancelled",
    "unschedulable",
    "pending_at_end",
    "running_at_end",
    "instants",
    "passes",
    "placements",
)
"""Names of the counters in :attr:`ReplayOutput.totals`, in kernel order.

``unschedulable`` counts processes pending at the end that never ran; a process that
ran, was evicted and is pending at the end is only in ``pending_at_end``.
"""

_EVICTIONS, _CANCELLED, _UNSCHEDULABLE, _PENDING_AT_END = 0, 1, 2, 3
_RUNNING_AT_END, _INSTANTS, _PASSES, _PLACEMENTS = 4, 5, 6, 7


@dataclass(frozen=True)
class ReplayInput:
    """Arrays of one replay: machines, their events, processes and a sample grid.

    Times are integer microseconds; CPU and memory are in the trace's normalized
    units. Machines are numbered 0 to ``machines - 1``.

    Attributes
    ----------
    machines
        Number of machines.
    machine_event_time_us, machine_event_machine, machine_event_kind
        Machine events sorted by time (int64, int64, int8
        :class:`~muosm_perf.model.lifecycle.CellEvent` codes).
    machine_event_cpu_capacity, machine_event_memory_capacity
        Capacity given by an ADD or UPDATE (float64, NaN unknown; ignored for
        REMOVE).
    submit_time_us
        Process submission times, non-decreasing (int64).
    cpu_request, memory_request
        Requests (float64, finite and >= 0).
    priority
        Higher is more important (int64).
    duration_us
        Run time once placed (int64, -1 for "runs past the horizon").
    end_time_us
        Cancellation time for a process that must leave the queue at that instant
        if still pending and, if placed, run until it (int64, ``NULL_INT`` for
        none).
    grid_us
        Sample times, non-decreasing (int64).
    horizon_us
        Last instant processed (int64; ``INT64_MAX`` for none).
    """

    machines: int
    machine_event_time_us: np.ndarray
    machine_event_machine: np.ndarray
    machine_event_kind: np.ndarray
    machine_event_cpu_capacity: np.ndarray
    machine_event_memory_capacity: np.ndarray
    submit_time_us: np.ndarray
    cpu_request: np.ndarray
    memory_request: np.ndarray
    priority: np.ndarray
    duration_us: np.ndarray
    end_time_us: np.ndarray
    grid_us: np.ndarray
    horizon_us: int = INT64_MAX

    @property
    def processes(self) -> int:
        """Number of processes."""
        return int(self.submit_time_us.shape[0])


@dataclass(frozen=True)
class ReplayOutput:
    """Result of a replay.

    Attributes
    ----------
    schedule_time_us
        First placement time per process (int64, ``NULL_INT`` if never placed).
    machine
        Machine of the first placement (int64, -1 if never placed).
    kills
        Times each process was killed by a machine REMOVE (int64).
    running, cpu_in_use, memory_in_use
        Per grid time: running processes and the sum of their requests.
    cpu_capacity, memory_capacity
        Per grid time: capacity of alive machines whose capacity (of that
        resource) is known.
    totals
        Counters named by :data:`TOTALS`.
    """

    schedule_time_us: np.ndarray
    machine: np.ndarray
    kills: np.ndarray
    running: np.ndarray
    cpu_in_use: np.ndarray
    memory_in_use: np.ndarray
    cpu_capacity: np.ndarray
    memory_capacity: np.ndarray
    totals: dict[str, int] = field(default_factory=dict)


@njit
def _refresh_leaf(
    tree_cpu, tree_memory, size, m, alive, cap_cpu, cap_memory, used_cpu, used_memory
):
    if alive[m] and not np.isnan(cap_cpu[m]) and not np.isnan(cap_memory[m]):
        set_leaf(
            tree_cpu,
            tree_memory,
            size,
            m,
            cap_cpu[m] - used_cpu[m],
            cap_memory[m] - used_memory[m],
        )
    else:
        set_leaf(tree_cpu, tree_memory, size, m, -np.inf, -np.inf)


@njit
def _sample(
    g,
    alive,
    cap_cpu,
    cap_memory,
    used_cpu,
    used_memory,
    count,
    running,
    cpu_in_use,
    memory_in_use,
    cpu_capacity,
    memory_capacity,
):
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
    running[g] = n_running
    cpu_in_use[g] = cpu_used
    memory_in_use[g] = memory_used
    cpu_capacity[g] = cpu_cap
    memory_capacity[g] = memory_cap


@njit
def _enqueue(
    p, level, base, fill, slot_process, slot_of, q_size, q_cpu, q_memory, cpu, memory
):
    """Put process ``p`` in the next slot of its level; return the queue arrays."""
    if base[level] + fill[level] == base[level + 1]:
        base, slot_process, q_size, q_cpu, q_memory = relayout(
            base, fill, slot_process, slot_of, cpu, memory, level
        )
    slot = base[level] + fill[level]
    fill[level] += 1
    slot_process[slot] = p
    slot_of[p] = slot
    set_slot(q_cpu, q_memory, q_size, slot, cpu[p], memory[p])
    return base, slot_process, q_size, q_cpu, q_memory


@njit
def _dequeue(p, slot_process, slot_of, q_size, q_cpu, q_memory):
    slot = slot_of[p]
    slot_process[slot] = -1
    slot_of[p] = -1
    set_slot(q_cpu, q_memory, q_size, slot, np.inf, np.inf)


@njit
def _replay_kernel(
    n_machines,
    event_time,
    event_machine,
    event_kind,
    event_cpu,
    event_memory,
    submit,
    cpu,
    memory,
    level,
    n_levels,
    duration,
    end,
    grid,
    horizon,
    grown_search_limit,
):
    n = submit.shape[0]
    n_events = event_time.shape[0]
    n_grid = grid.shape[0]

    # Machines.
    alive = np.zeros(n_machines, np.bool_)
    cap_cpu = np.full(n_machines, np.nan)
    cap_memory = np.full(n_machines, np.nan)
    used_cpu = np.zeros(n_machines)
    used_memory = np.zeros(n_machines)
    count = np.zeros(n_machines, np.int64)
    head = np.full(n_machines, -1, np.int64)
    size, tree_cpu, tree_memory = new_tree(n_machines)
    stack = np.empty(STACK_DEPTH, np.int64)

    # Processes.
    state = np.zeros(n, np.int8)
    completion = np.full(n, NULL_INT, np.int64)
    on_machine = np.full(n, -1, np.int64)
    next_on = np.full(n, -1, np.int64)
    prev_on = np.full(n, -1, np.int64)
    schedule = np.full(n, NULL_INT, np.int64)
    first_machine = np.full(n, -1, np.int64)
    kills = np.zeros(n, np.int64)

    # Cancellation instants in time order, then process order.
    with_end = np.nonzero(end != NULL_INT)[0]
    cancel_order = with_end[np.argsort(end[with_end], kind="mergesort")]
    n_cancel = cancel_order.shape[0]

    heap_times, heap_items, heap_size = new_heap(1024)

    # The pending queue, with room per level for its arrivals and some kills.
    arrivals = np.zeros(n_levels, np.int64)
    for p in range(n):
        arrivals[level[p]] += 1
    base, fill, slot_process, q_size, q_cpu, q_memory = new_queue(
        arrivals + np.maximum(arrivals // 16, 4)
    )
    slot_of = np.full(n, -1, np.int64)
    q_stack = np.empty(STACK_LENGTH, np.int64)
    # Processes enqueued since the last pass.
    new = np.empty(1024, np.int64)
    new_len = 0
    is_new = np.zeros(n, np.bool_)
    # Machines whose free capacity may have grown since the last pass.
    grown = np.empty(max(n_machines, 1), np.int64)
    is_grown = np.zeros(n_machines, np.bool_)
    n_grown = 0

    running = np.zeros(n_grid, np.int64)
    cpu_in_use = np.zeros(n_grid)
    memory_in_use = np.zeros(n_grid)
    cpu_capacity = np.zeros(n_grid)
    memory_capacity = np.zeros(n_grid)
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
        if heap_size > 0:
            t = min(t, heap_times[0])
            found = True
        if cancel < n_cancel:
            t = min(t, end[cancel_order[cancel]])
            found = True
        if not found or t > horizon:
            break
        while g < n_grid and grid[g] < t:
            _sample(
                g,
                alive,
                cap_cpu,
                cap_memory,
                used_cpu,
                used_memory,
                count,
                running,
                cpu_in_use,
                memory_in_use,
                cpu_capacity,
                memory_capacity,
            )
            g += 1
        totals[_INSTANTS] += 1
        happened = False

        # 1. Completions.
        while heap_size > 0 and heap_times[0] == t:
            _, p, heap_size = heap_pop(heap_times, heap_items, heap_size)
            if state[p] != RUNNING or completion[p] != t:
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
                tree_cpu,
                tree_memory,
                size,
                m,
                alive,
                cap_cpu,
                cap_memory,
                used_cpu,
                used_memory,
            )
            state[p] = DONE
            on_machine[p] = -1
            happened = True
            if not is_grown[m]:
                is_grown[m] = True
                grown[n_grown] = m
                n_grown += 1

        # 2. Cancellations of pending processes.
        while cancel < n_cancel and end[cancel_order[cancel]] == t:
            p = cancel_order[cancel]
            cancel += 1
            if state[p] == PENDING:
                state[p] = CANCELLED
                _dequeue(p, slot_process, slot_of, q_size, q_cpu, q_memory)
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
                for p in victims:
                    state[p] = PENDING
                    completion[p] = NULL_INT
                    on_machine[p] = -1
                    kills[p] += 1
                    totals[_EVICTIONS] += 1
                    base, slot_process, q_size, q_cpu, q_memory = _enqueue(
                        p,
                        level[p],
                        base,
                        fill,
                        slot_process,
                        slot_of,
                        q_size,
                        q_cpu,
                        q_memory,
                        cpu,
                        memory,
                    )
                    is_new[p] = True
                    new = ensure_capacity(new, new_len + 1)
                    new[new_len] = p
                    new_len += 1
                head[m] = -1
                count[m] = 0
                used_cpu[m] = 0.0
                used_memory[m] = 0.0
                alive[m] = False
            _refresh_leaf(
                tree_cpu,
                tree_memory,
                size,
                m,
                alive,
                cap_cpu,
                cap_memory,
                used_cpu,
                used_memory,
            )
            event += 1
            happened = True

        # 4. Arrivals.
        while arrival < n and submit[arrival] == t:
            p = arrival
            arrival += 1
            happened = True
            if end[p] != NULL_INT and end[p] <= t:
                state[p] = CANCELLED
                totals[_CANCELLED] += 1
                continue
            state[p] = PENDING
            base, slot_process, q_size, q_cpu, q_memory = _enqueue(
                p,
                level[p],
                base,
                fill,
                slot_process,
                slot_of,
                q_size,
                q_cpu,
                q_memory,
                cpu,
                memory,
            )
            is_new[p] = True
            new = ensure_capacity(new, new_len + 1)
            new[new_len] = p
            new_len += 1

        # 5. One scheduling pass over the candidates, in slot (queue) order: the
        # processes enqueued since the last pass, and the earlier ones that fit on
        # a machine that gained capacity.
        if not happened or (new_len == 0 and n_grown == 0):
            continue
        totals[_PASSES] += 1
        new_slots = np.empty(new_len, np.int64)
        k = 0
        for i in range(new_len):
            if state[new[i]] == PENDING:
                new_slots[k] = slot_of[new[i]]
                k += 1
        new_slots = np.sort(new_slots[:k])
        scan_all = n_grown > grown_search_limit
        next_new = 0
        cursor = -1
        while True:
            if scan_all:
                # Every waiting process may fit somewhere: visit them all.
                candidate = first_fitting_after(
                    q_cpu, q_memory, q_size, cursor, _FLOAT_MAX, _FLOAT_MAX, q_stack
                )
            else:
                while next_new < k and new_slots[next_new] <= cursor:
                    next_new += 1
                candidate = new_slots[next_new] if next_new < k else -1
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
            if is_new[p] or scan_all:
                m = first_fit(tree_cpu, tree_memory, size, cpu[p], memory[p], stack)
            else:
                m = _first_fit_among(
                    grown, n_grown, tree_cpu, tree_memory, size, cpu[p], memory[p]
                )
            if m < 0:
                continue
            _dequeue(p, slot_process, slot_of, q_size, q_cpu, q_memory)
            heap_times, heap_items, heap_size = _place(
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
                completion,
                schedule,
                first_machine,
                heap_times,
                heap_items,
                heap_size,
            )
            _refresh_leaf(
                tree_cpu,
                tree_memory,
                size,
                m,
                alive,
                cap_cpu,
                cap_memory,
                used_cpu,
                used_memory,
            )
            totals[_PLACEMENTS] += 1
        for i in range(new_len):
            is_new[new[i]] = False
        new_len = 0
        for i in range(n_grown):
            is_grown[grown[i]] = False
        n_grown = 0

    while g < n_grid:
        _sample(
            g,
            alive,
            cap_cpu,
            cap_memory,
            used_cpu,
            used_memory,
            count,
            running,
            cpu_in_use,
            memory_in_use,
            cpu_capacity,
            memory_capacity,
        )
        g += 1

    for p in range(n):
        if state[p] == PENDING:
            totals[_PENDING_AT_END] += 1
            if schedule[p] == NULL_INT:
                totals[_UNSCHEDULABLE] += 1
        elif state[p] == RUNNING:
            totals[_RUNNING_AT_END] += 1

    return (
        schedule,
        first_machine,
        kills,
        running,
        cpu_in_use,
        memory_in_use,
        cpu_capacity,
        memory_capacity,
        totals,
    )


@njit
def _first_fit_among(machines, count, tree_cpu, tree_memory, size, cpu, memory):
    """Return the lowest-index machine of ``machines[:count]`` that fits, or -1."""
    best = -1
    for i in range(count):
        m = machines[i]
        if (
            tree_cpu[size + m] >= cpu
            and tree_memory[size + m] >= memory
            and (best < 0 or m < best)
        ):
            best = m
    return best


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
    completion,
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
    completion[p] = done
    if done != NULL_INT:
        heap_times, heap_items, heap_size = heap_push(
            heap_times, heap_items, heap_size, done, p
        )
    return heap_times, heap_items, heap_size


def _as_array(name: str, values: np.ndarray, dtype: type, length: int) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != 1 or array.shape[0] != length:
        raise ParameterError(
            f"{name} has shape {array.shape}, expected ({length},); give one value "
            "per row"
        )
    return array


def _check_sorted(name: str, values: np.ndarray) -> None:
    if values.shape[0] > 1:
        drops = np.nonzero(values[1:] < values[:-1])[0]
        if drops.shape[0]:
            i = int(drops[0]) + 1
            raise ParameterError(
                f"{name} must be non-decreasing, but element {i} ({values[i]}) is "
                f"below element {i - 1} ({values[i - 1]}); sort the rows by time"
            )


def _check_not_null(name: str, values: np.ndarray) -> None:
    nulls = np.nonzero(values == NULL_INT)[0]
    if nulls.shape[0]:
        raise ParameterError(
            f"{name} has a null (NULL_INT) at element {int(nulls[0])}; every row "
            "needs a time"
        )


def _check_requests(name: str, values: np.ndarray) -> None:
    bad = np.nonzero(~np.isfinite(values) | (values < 0))[0]
    if bad.shape[0]:
        i = int(bad[0])
        raise ParameterError(
            f"{name}[{i}] is {values[i]}; requests must be finite and >= 0 "
            "(replace unknown requests with 0 before the replay)"
        )


def validate_input(inputs: ReplayInput) -> tuple[np.ndarray, ...]:
    """Check a :class:`ReplayInput` and return its arrays, contiguous and typed.

    Raises
    ------
    ParameterError
        Naming the array, the element and the value that is invalid.
    """
    machines = int(inputs.machines)
    if machines < 0:
        raise ParameterError(f"machines is {machines}; it must be >= 0")
    n_events = np.asarray(inputs.machine_event_time_us).shape[0]
    event_time = _as_array(
        "machine_event_time_us", inputs.machine_event_time_us, np.int64, n_events
    )
    event_machine = _as_array(
        "machine_event_machine", inputs.machine_event_machine, np.int64, n_events
    )
    event_kind = _as_array(
        "machine_event_kind", inputs.machine_event_kind, np.int8, n_events
    )
    event_cpu = _as_array(
        "machine_event_cpu_capacity",
        inputs.machine_event_cpu_capacity,
        np.float64,
        n_events,
    )
    event_memory = _as_array(
        "machine_event_memory_capacity",
        inputs.machine_event_memory_capacity,
        np.float64,
        n_events,
    )
    _check_not_null("machine_event_time_us", event_time)
    _check_sorted("machine_event_time_us", event_time)
    outside = np.nonzero((event_machine < 0) | (event_machine >= machines))[0]
    if outside.shape[0]:
        i = int(outside[0])
        raise ParameterError(
            f"machine_event_machine[{i}] is {event_machine[i]}, outside 0.."
            f"{machines - 1}; number machines densely from 0"
        )
    unknown = np.nonzero((event_kind < _ADD) | (event_kind > _UPDATE))[0]
    if unknown.shape[0]:
        i = int(unknown[0])
        raise ParameterError(
            f"machine_event_kind[{i}] is {event_kind[i]}; use CellEvent codes "
            f"ADD={_ADD}, REMOVE={_REMOVE}, UPDATE={_UPDATE}"
        )
    for name, values in (
        ("machine_event_cpu_capacity", event_cpu),
        ("machine_event_memory_capacity", event_memory),
    ):
        bad = np.nonzero(np.isinf(values) | (values < 0))[0]
        if bad.shape[0]:
            i = int(bad[0])
            raise ParameterError(
                f"{name}[{i}] is {values[i]}; a capacity is finite and >= 0, or "
                "NaN when unknown"
            )

    n = np.asarray(inputs.submit_time_us).shape[0]
    submit = _as_array("submit_time_us", inputs.submit_time_us, np.int64, n)
    cpu = _as_array("cpu_request", inputs.cpu_request, np.float64, n)
    memory = _as_array("memory_request", inputs.memory_request, np.float64, n)
    priority = _as_array("priority", inputs.priority, np.int64, n)
    duration = _as_array("duration_us", inputs.duration_us, np.int64, n)
    end = _as_array("end_time_us", inputs.end_time_us, np.int64, n)
    _check_not_null("submit_time_us", submit)
    _check_sorted("submit_time_us", submit)
    _check_requests("cpu_request", cpu)
    _check_requests("memory_request", memory)
    short = np.nonzero(duration < -1)[0]
    if short.shape[0]:
        i = int(short[0])
        raise ParameterError(
            f"duration_us[{i}] is {duration[i]}; a duration is >= 0, or -1 for "
            "'runs past the horizon'"
        )
    extreme = np.nonzero(np.abs(priority) > 2**62)[0]
    if extreme.shape[0]:
        i = int(extreme[0])
        raise ParameterError(f"priority[{i}] is {priority[i]}; keep it within ±2^62")

    grid = np.ascontiguousarray(inputs.grid_us, dtype=np.int64)
    if grid.ndim != 1:
        raise ParameterError(f"grid_us has shape {grid.shape}; it must be 1-D")
    _check_not_null("grid_us", grid)
    _check_sorted("grid_us", grid)
    return (
        event_time,
        event_machine,
        event_kind,
        event_cpu,
        event_memory,
        submit,
        cpu,
        memory,
        priority,
        duration,
        end,
        grid,
    )


def queue_levels(key1: np.ndarray, key2: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank processes by ``(key1, key2)``: equal keys share a level, lowest first.

    Returns the int64 level of each process and the number of levels (at least 1).
    """
    if key1.shape[0] == 0:
        return np.zeros(0, np.int64), 1
    keys = np.stack([key1, key2], axis=1)
    _, level = np.unique(keys, axis=0, return_inverse=True)
    level = np.ascontiguousarray(level.reshape(-1), dtype=np.int64)
    return level, int(level.max()) + 1


def replay_arrays(
    inputs: ReplayInput, *, grown_search_limit: int = GROWN_SEARCH_LIMIT
) -> ReplayOutput:
    """Replay processes on machines with the model of this module.

    Parameters
    ----------
    inputs
        Machines, machine events, processes and the sample grid.
    grown_search_limit
        Above this many machines with grown capacity, a pass visits every pending
        process instead of searching for the ones that fit on those machines. It
        changes the speed, never the outcome.

    Returns
    -------
    ReplayOutput
        Per-process placement, the sampled series and the counters.

    Raises
    ------
    ParameterError
        If an input array has the wrong length, is unsorted, or contains an invalid
        value.
    """
    (
        event_time,
        event_machine,
        event_kind,
        event_cpu,
        event_memory,
        submit,
        cpu,
        memory,
        priority,
        duration,
        end,
        grid,
    ) = validate_input(inputs)
    level, n_levels = queue_levels(-priority, np.zeros_like(priority))
    *columns, totals = _replay_kernel(
        int(inputs.machines),
        event_time,
        event_machine,
        event_kind,
        event_cpu,
        event_memory,
        submit,
        cpu,
        memory,
        level,
        n_levels,
        duration,
        end,
        grid,
        np.int64(inputs.horizon_us),
        np.int64(grown_search_limit),
    )
    return ReplayOutput(
        *columns, totals=dict(zip(TOTALS, (int(v) for v in totals), strict=True))
    )


def compile_replay() -> float:
    """Compile the kernel, or load it from the cache, and return the seconds spent.

    Call it before timing a replay, so that the timing leaves compilation out.
    """
    began = time.perf_counter()
    one = np.ones(1)
    replay_arrays(
        ReplayInput(
            machines=1,
            machine_event_time_us=np.zeros(1, np.int64),
            machine_event_machine=np.zeros(1, np.int64),
            machine_event_kind=np.array([_ADD], np.int8),
            machine_event_cpu_capacity=one,
            machine_event_memory_capacity=one,
            submit_time_us=np.zeros(1, np.int64),
            cpu_request=one,
            memory_request=one,
            priority=np.zeros(1, np.int64),
            duration_us=np.ones(1, np.int64),
            end_time_us=np.array([NULL_INT], np.int64),
            grid_us=np.zeros(1, np.int64),
        )
    )
    return time.perf_counter() - began
