"""The pending queue of the replay kernel: slots in queue order under a min-tree.

Processes wait in queue order: by level (a dense rank of the policy's sort keys,
lowest first), then by enqueue order. Each level owns a contiguous range of slots,
filled left to right as processes are enqueued, so slot order is queue order. A slot
is never reused while its level has room. A level that runs out of slots is given
twice as many and the slots are laid out again, keeping their order.

Over the slots sits a segment tree of the minimum CPU and the minimum memory request
of the processes in them (plus infinity for an empty slot). The tree stores float32
values rounded down, to halve its memory at full trace scale: a search may then
return a process whose exact request does not fit, which the caller checks, but it
never skips one that fits. It finds "the first
waiting process after slot ``s`` whose requests fit in this free capacity" without
visiting the processes that do not fit, which is what a scheduling pass needs once
only a few machines have gained capacity.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit
from muosm_perf.kernels.placement import tree_size

STACK_LENGTH = 3 * 130
"""Length of the search stack of :func:`first_fitting_after` (65 levels of 2^64)."""


@njit
def ensure_capacity(array, needed):
    """Return ``array`` if it has room for ``needed`` elements, else a longer copy.

    The copy is at least twice as long, so repeated appends cost amortized O(1).
    """
    if array.shape[0] >= needed:
        return array
    grown = np.empty(max(needed, 2 * array.shape[0]), array.dtype)
    grown[: array.shape[0]] = array
    return grown


@njit
def new_queue(level_capacity):
    """Lay out empty slots with ``level_capacity[l]`` slots for level ``l``.

    Returns
    -------
    tuple
        ``(base, fill, slot_process, size, tree_cpu, tree_memory)``: the first slot
        of each level (length levels + 1), the slots used per level, the process in
        each slot (-1 empty), and the min-tree.
    """
    levels = level_capacity.shape[0]
    base = np.zeros(levels + 1, np.int64)
    for level in range(levels):
        base[level + 1] = base[level] + level_capacity[level]
    fill = np.zeros(levels, np.int64)
    slots = base[levels]
    slot_process = np.full(max(slots, 1), -1, np.int32)
    size = tree_size(max(slots, 1))
    tree_cpu = np.full(2 * size, np.inf, np.float32)
    tree_memory = np.full(2 * size, np.inf, np.float32)
    return base, fill, slot_process, size, tree_cpu, tree_memory


@njit
def floor32(value):
    """Return the largest float32 that is <= ``value`` (infinity stays infinity)."""
    rounded = np.float32(value)
    if rounded > value:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return rounded


@njit
def set_slot(tree_cpu, tree_memory, size, slot, cpu, memory):
    """Set the requests held in one slot and update the minima above it."""
    node = size + slot
    tree_cpu[node] = floor32(cpu)
    tree_memory[node] = floor32(memory)
    node //= 2
    while node >= 1:
        left = 2 * node
        tree_cpu[node] = min(tree_cpu[left], tree_cpu[left + 1])
        tree_memory[node] = min(tree_memory[left], tree_memory[left + 1])
        node //= 2


@njit
def first_fitting_after(
    tree_cpu, tree_memory, size, after, free_cpu, free_memory, stack
):
    """Find the first slot after ``after`` whose requests fit in the free capacity.

    Returns the slot, or -1 if no slot past ``after`` contains a process with CPU
    request <= ``free_cpu`` and memory request <= ``free_memory``. ``stack`` is a
    scratch int64 array of at least :data:`STACK_LENGTH` elements.
    """
    if tree_cpu[1] > free_cpu or tree_memory[1] > free_memory:
        return -1
    # Entries are (node, first slot covered, slots covered); the left child is
    # pushed last so that it is searched first.
    stack[0] = 1
    stack[1] = 0
    stack[2] = size
    top = 3
    while top > 0:
        top -= 3
        node = stack[top]
        first = stack[top + 1]
        width = stack[top + 2]
        if first + width - 1 <= after:
            continue
        if tree_cpu[node] > free_cpu or tree_memory[node] > free_memory:
            continue
        if node >= size:
            return first
        half = width // 2
        stack[top] = 2 * node + 1
        stack[top + 1] = first + half
        stack[top + 2] = half
        stack[top + 3] = 2 * node
        stack[top + 4] = first
        stack[top + 5] = half
        top += 6
    return -1


@njit
def relayout(base, fill, slot_process, slot_of, cpu, memory, grow_level):
    """Double the slots of ``grow_level`` and lay every slot out again in order.

    Returns the new ``(base, slot_process, size, tree_cpu, tree_memory)``; ``fill``
    is unchanged and ``slot_of`` is updated in place.
    """
    levels = fill.shape[0]
    capacity = np.empty(levels, np.int64)
    for level in range(levels):
        capacity[level] = base[level + 1] - base[level]
    capacity[grow_level] = max(2 * capacity[grow_level], 4)
    new_base, _, new_slots, size, tree_cpu, tree_memory = new_queue(capacity)
    for level in range(levels):
        for position in range(fill[level]):
            p = slot_process[base[level] + position]
            slot = new_base[level] + position
            new_slots[slot] = p
            if p >= 0:
                slot_of[p] = slot
                tree_cpu[size + slot] = floor32(cpu[p])
                tree_memory[size + slot] = floor32(memory[p])
    for node in range(size - 1, 0, -1):
        tree_cpu[node] = min(tree_cpu[2 * node], tree_cpu[2 * node + 1])
        tree_memory[node] = min(tree_memory[2 * node], tree_memory[2 * node + 1])
    return new_base, new_slots, size, tree_cpu, tree_memory
