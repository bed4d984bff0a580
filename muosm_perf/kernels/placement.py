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

STACK_DEPTH = 3 * 130
"""Length of the search stacks: three entries per level of a tree of 2^64 leaves."""


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
def first_fit_from(tree_cpu, tree_memory, size, lowest, cpu, memory, stack):
    """Find the lowest-index machine from ``lowest`` on that fits a request.

    Returns the machine, or -1 if no machine from ``lowest`` on has free CPU >=
    ``cpu`` and free memory >= ``memory``. ``stack`` is a scratch int64 array of at
    least :data:`STACK_DEPTH` elements.
    """
    if tree_cpu[1] < cpu or tree_memory[1] < memory:
        return -1
    # Entries are (node, first machine covered, machines covered); the left child
    # is pushed last so that it is searched first.
    stack[0] = 1
    stack[1] = 0
    stack[2] = size
    top = 3
    while top > 0:
        top -= 3
        node = stack[top]
        first = stack[top + 1]
        width = stack[top + 2]
        if first + width <= lowest:
            continue
        if tree_cpu[node] < cpu or tree_memory[node] < memory:
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
def first_fit(tree_cpu, tree_memory, size, cpu, memory, stack):
    """Find the lowest-index machine whose free CPU and memory cover a request.

    Returns the machine, or -1 if none has free CPU >= ``cpu`` and free memory
    >= ``memory``.
    """
    if tree_cpu[1] < cpu or tree_memory[1] < memory:
        return -1
    # Fast path: descend greedily, left first. If no subtree on the way passes
    # the test without holding a fitting machine, the leaf reached is the one the
    # depth-first search would find first; otherwise that search decides.
    node = 1
    while node < size:
        left = 2 * node
        if tree_cpu[left] >= cpu and tree_memory[left] >= memory:
            node = left
        elif tree_cpu[left + 1] >= cpu and tree_memory[left + 1] >= memory:
            node = left + 1
        else:
            return first_fit_from(tree_cpu, tree_memory, size, 0, cpu, memory, stack)
    return node - size


@njit
def worst_fit(tree_cpu, tree_memory, size, cpu, memory, stack):
    """Find the machine that fits a request with the most free CPU, or -1.

    Ties go to the lowest index.

    Branch and bound: the child with the larger maximum is searched first, and a
    subtree is skipped when its maximum cannot beat the best machine found.
    """
    if tree_cpu[1] < cpu or tree_memory[1] < memory:
        return -1
    best = -1
    best_free = -np.inf
    stack[0] = 1
    stack[1] = 0
    stack[2] = size
    top = 3
    while top > 0:
        top -= 3
        node = stack[top]
        first = stack[top + 1]
        width = stack[top + 2]
        if tree_cpu[node] < cpu or tree_memory[node] < memory:
            continue
        if tree_cpu[node] < best_free or (tree_cpu[node] == best_free and first > best):
            continue
        if node >= size:
            best = first
            best_free = tree_cpu[node]
            continue
        half = width // 2
        left = 2 * node
        # The child searched first is pushed last.
        if tree_cpu[left] >= tree_cpu[left + 1]:
            order_first, order_second = left, left + 1
        else:
            order_first, order_second = left + 1, left
        stack[top] = order_second
        stack[top + 1] = first + (half if order_second == left + 1 else 0)
        stack[top + 2] = half
        stack[top + 3] = order_first
        stack[top + 4] = first + (half if order_first == left + 1 else 0)
        stack[top + 5] = half
        top += 6
    return best


@njit
def best_fit(tree_cpu, tree_memory, tree_low_cpu, size, cpu, memory, stack):
    """Find the machine that fits a request with the least free CPU, or -1.

    Ties go to the lowest index.

    ``tree_low_cpu`` is the tree of minimum free CPU (plus infinity where nothing
    may be placed). A subtree is skipped when even its smallest free CPU that could
    fit, ``max(cpu, minimum)``, cannot beat the best machine found.

    NOTE: unlike first-fit, the bound prunes little when many machines have less
    free CPU than the request, so a search can visit a large part of the tree.
    """
    if tree_cpu[1] < cpu or tree_memory[1] < memory:
        return -1
    best = -1
    best_free = np.inf
    stack[0] = 1
    stack[1] = 0
    stack[2] = size
    top = 3
    while top > 0:
        top -= 3
        node = stack[top]
        first = stack[top + 1]
        width = stack[top + 2]
        if tree_cpu[node] < cpu or tree_memory[node] < memory:
            continue
        # Search is left first, so a later machine wins only if strictly better.
        if max(cpu, tree_low_cpu[node]) >= best_free:
            continue
        if node >= size:
            best = first
            best_free = tree_cpu[node]
            if best_free == cpu:
                return best
            continue
        half = width // 2
        stack[top] = 2 * node + 1
        stack[top + 1] = first + half
        stack[top + 2] = half
        stack[top + 3] = 2 * node
        stack[top + 4] = first
        stack[top + 5] = half
        top += 6
    return best


@njit
def balance_score(free_cpu, free_memory, cpu, memory):
    """Score of a machine for sampled placement: ``|cpu left - memory left|``."""
    return abs((free_cpu - cpu) - (free_memory - memory))


@njit
def sampled_fit(tree_cpu, tree_memory, size, offset, candidates, cpu, memory, stack):
    """Pick the best-scored of the first fitting machines from ``offset`` on.

    Scores the first ``candidates`` fitting machines from ``offset`` in index order,
    wrapping around, and returns the one with the least :func:`balance_score`
    (lowest index among equals), or -1 if none fits.
    """
    best = -1
    best_score = np.inf
    found = 0
    start = offset
    wrapped = False
    while found < candidates:
        m = first_fit_from(tree_cpu, tree_memory, size, start, cpu, memory, stack)
        if wrapped and m >= offset:
            break
        if m < 0:
            if wrapped or offset == 0:
                break
            wrapped = True
            start = 0
            continue
        score = balance_score(tree_cpu[size + m], tree_memory[size + m], cpu, memory)
        if score < best_score or (score == best_score and m < best):
            best = m
            best_score = score
        found += 1
        start = m + 1
    return best
