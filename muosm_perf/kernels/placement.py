"""A placement index: a segment tree over the free CPU and memory of machines.

Each leaf is one machine. Its values are the machine's free CPU and free memory
(capacity minus the requests of the processes running on it), or minus infinity
when nothing may be placed there (dead, or capacity unknown). Each inner node stores
the maximum of its two children, separately per resource. A search descends only
into subtrees whose maxima both cover the request, so it skips every subtree that
cannot hold the process.

The two maxima of a node may come from different machines, so a subtree can pass
the test and still hold no machine that fits in both resources; the search then
backtracks. The cost is ``O(log M)`` per search when a fitting machine is found on
the first descent, and more when CPU-rich and memory-rich machines are disjoint.
The replay benchmark measures the cost per placement at several machine counts.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit

STACK_DEPTH = 128
"""Length of the search stack: enough for a tree of 2^63 leaves."""


@njit
def tree_size(machines):
    """Return the number of leaves: the smallest power of two >= ``machines``."""
    size = 1
    while size < machines:
        size *= 2
    return size


@njit
def new_tree(machines):
    """Allocate a tree of ``machines`` leaves, every one closed (minus infinity)."""
    size = tree_size(machines)
    cpu = np.full(2 * size, -np.inf)
    memory = np.full(2 * size, -np.inf)
    return size, cpu, memory


@njit
def set_leaf(tree_cpu, tree_memory, size, machine, free_cpu, free_memory):
    """Set one machine's free capacity and update the maxima above it."""
    node = size + machine
    tree_cpu[node] = free_cpu
    tree_memory[node] = free_memory
    node //= 2
    while node >= 1:
        left = 2 * node
        right = left + 1
        tree_cpu[node] = max(tree_cpu[left], tree_cpu[right])
        tree_memory[node] = max(tree_memory[left], tree_memory[right])
        node //= 2


@njit
def first_fit(tree_cpu, tree_memory, size, cpu, memory, stack):
    """Find the lowest-index machine whose free CPU and memory cover a request.

    Returns the machine, or -1 if none has free CPU >= ``cpu`` and free memory
    >= ``memory``.

    ``stack`` is a scratch int64 array of at least :data:`STACK_DEPTH` elements.
    """
    if tree_cpu[1] < cpu or tree_memory[1] < memory:
        return -1
    stack[0] = 1
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        if tree_cpu[node] < cpu or tree_memory[node] < memory:
            continue
        if node >= size:
            return node - size
        # Right first, so that the left child is popped next.
        stack[top] = 2 * node + 1
        stack[top + 1] = 2 * node
        top += 2
    return -1
