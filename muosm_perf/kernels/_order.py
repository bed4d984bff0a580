"""Machines in order of free CPU, for logarithmic best-fit and worst-fit placement.

Best-fit with two resources is the machine with the least free CPU among those
whose free CPU and free memory both cover the request; worst-fit the one with the
most. The segment trees of :mod:`muosm_perf.kernels.placement` index machines by
number, so their searches for these rules are branch and bound. This module keeps
the open machines (alive, capacity known) in a treap, a binary search tree keyed
by ``(free CPU, machine)`` and balanced by fixed pseudo-random priorities, where
each node also stores the maximum free memory of its subtree. Then:

- best-fit is the first machine in key order from ``(request CPU, -1)`` on whose
  free memory covers the request: one walk down to that key, then one guided
  descent into the first subtree whose maximum free memory is large enough;
- worst-fit is the last machine in key order whose free memory covers the request
  (a guided descent from the right), followed by a best-fit search from its free
  CPU to take the lowest-numbered machine among those with exactly that free CPU.

A machine whose free capacity changes is taken out and put back in. Every
operation costs ``O(depth)``, and a treap's depth is ``O(log M)`` in expectation
over the priorities (Seidel and Aragon, "Randomized search trees", Algorithmica
16, 1996). The priorities depend only on the machine number, so the tree's shape
never changes an answer, which is always exact.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit

_MASK = (1 << 64) - 1


@njit
def new_order(machines):
    """Return an empty order of ``machines`` machines.

    The tuple is ``(key, memory, left, right, parent, priority, top, root,
    stack)``: per machine its free CPU, free memory, children, parent, priority
    and the maximum free memory of its subtree; the root in a one-element array
    (-1 when empty, and every link -1 when absent); a scratch stack.
    """
    key = np.zeros(machines)
    memory = np.zeros(machines)
    left = np.full(machines, -1, np.int64)
    right = np.full(machines, -1, np.int64)
    parent = np.full(machines, -2, np.int64)  # -2: not in the order
    priority = np.empty(machines, np.uint64)
    for m in range(machines):
        x = np.uint64(m) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        priority[m] = x ^ (x >> np.uint64(31))
    top = np.full(machines, -np.inf)
    root = np.full(1, -1, np.int64)
    stack = np.empty(max(machines, 1), np.int64)
    return key, memory, left, right, parent, priority, top, root, stack


@njit
def _pull(m, memory, left, right, top):
    value = memory[m]
    if left[m] >= 0 and top[left[m]] > value:
        value = top[left[m]]
    if right[m] >= 0 and top[right[m]] > value:
        value = top[right[m]]
    top[m] = value


@njit
def _rotate_up(x, order):
    """Rotate node ``x`` above its parent, keeping key order and subtree maxima."""
    _, memory, left, right, parent, _, top, root, _ = order
    p = parent[x]
    g = parent[p]
    if left[p] == x:
        left[p] = right[x]
        if right[x] >= 0:
            parent[right[x]] = p
        right[x] = p
    else:
        right[p] = left[x]
        if left[x] >= 0:
            parent[left[x]] = p
        left[x] = p
    parent[p] = x
    parent[x] = g
    if g < 0:
        root[0] = x
    elif left[g] == p:
        left[g] = x
    else:
        right[g] = x
    _pull(p, memory, left, right, top)
    _pull(x, memory, left, right, top)


@njit
def _precedes(key, a, key_a, b):
    """Return whether ``(key_a, a)`` comes before ``(key[b], b)``."""
    return key_a < key[b] or (key_a == key[b] and a < b)


@njit
def order_contains(order, m):
    """Return whether machine ``m`` is in the order."""
    return order[4][m] != -2


@njit
def order_insert(order, m, free_cpu, free_memory):
    """Put machine ``m`` in the order with its free CPU and free memory."""
    key, memory, left, right, parent, priority, top, root, _ = order
    key[m] = free_cpu
    memory[m] = free_memory
    left[m] = -1
    right[m] = -1
    top[m] = free_memory
    if root[0] < 0:
        root[0] = m
        parent[m] = -1
        return
    node = root[0]
    while True:
        if _precedes(key, m, free_cpu, node):
            if left[node] < 0:
                left[node] = m
                break
            node = left[node]
        else:
            if right[node] < 0:
                right[node] = m
                break
            node = right[node]
    parent[m] = node
    while node >= 0:
        _pull(node, memory, left, right, top)
        node = parent[node]
    while parent[m] >= 0 and priority[m] > priority[parent[m]]:
        _rotate_up(m, order)


@njit
def order_remove(order, m):
    """Take machine ``m`` out of the order (it must be in it)."""
    _, memory, left, right, parent, priority, top, root, _ = order
    while left[m] >= 0 or right[m] >= 0:
        if right[m] < 0 or (left[m] >= 0 and priority[left[m]] > priority[right[m]]):
            _rotate_up(left[m], order)
        else:
            _rotate_up(right[m], order)
    p = parent[m]
    if p < 0:
        root[0] = -1
    elif left[p] == m:
        left[p] = -1
    else:
        right[p] = -1
    parent[m] = -2
    while p >= 0:
        _pull(p, memory, left, right, top)
        p = parent[p]


@njit
def _first_with_memory(order, node, need):
    """Return the first node in key order under ``node`` with memory >= ``need``.

    The subtree's maximum must be >= ``need``.
    """
    _, memory, left, right, _, _, top, _, _ = order
    while True:
        if left[node] >= 0 and top[left[node]] >= need:
            node = left[node]
        elif memory[node] >= need:
            return node
        else:
            node = right[node]


@njit
def order_best_fit(order, cpu, need):
    """Find the machine with the least free CPU >= ``cpu`` and memory >= ``need``.

    Returns the lowest-numbered among equals, or -1 if none fits.
    """
    key, memory, left, right, _, _, top, root, stack = order
    depth = 0
    node = root[0]
    while node >= 0:
        if key[node] < cpu:
            node = right[node]
        else:
            stack[depth] = node
            depth += 1
            node = left[node]
    # The nodes with key >= cpu, in key order, are each stacked node followed by
    # its right subtree, the deepest stacked node first.
    while depth > 0:
        depth -= 1
        node = stack[depth]
        if memory[node] >= need:
            return node
        if right[node] >= 0 and top[right[node]] >= need:
            return _first_with_memory(order, right[node], need)
    return -1


@njit
def order_worst_fit(order, cpu, need):
    """Find the machine with the most free CPU (>= ``cpu``) and memory >= ``need``.

    Returns the lowest-numbered among equals, or -1 if none fits.
    """
    key, memory, left, right, _, _, top, root, _ = order
    node = root[0]
    if node < 0 or top[node] < need:
        return -1
    while True:
        if right[node] >= 0 and top[right[node]] >= need:
            node = right[node]
        elif memory[node] >= need:
            break
        else:
            node = left[node]
    if key[node] < cpu:
        return -1
    return order_best_fit(order, key[node], need)
