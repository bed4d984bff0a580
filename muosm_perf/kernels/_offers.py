"""The two-level offer model of the replay kernel: frameworks, offers, filters.

Each band is one framework with its own pending processes. A machine is in a
framework's offer pool unless that framework declined it less than the refusal
timeout ago. Each framework has placement trees
(:mod:`muosm_perf.kernels.placement`) whose leaves hold the free capacity of the
machines in its pool and minus infinity elsewhere, so its placement rule
considers only the machines offered to it. Declined machines wait in a first-in
first-out queue per framework. Their return times never decrease, because
every decline at instant ``t`` returns at ``t + refuse``.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit
from muosm_perf.kernels.placement import set_leaf


@njit
def set_low(tree_low, size, m, value):
    """Set machine ``m``'s leaf in a tree of minimum free CPU and update above it."""
    node = size + m
    tree_low[node] = value
    node //= 2
    while node >= 1:
        low = min(tree_low[2 * node], tree_low[2 * node + 1])
        if low == tree_low[node]:
            return  # the minima above do not change either
        tree_low[node] = low
        node //= 2


@njit
def refresh_offer_leaf(
    f,
    m,
    open_machine,
    free_cpu,
    free_memory,
    in_pool,
    pool_cpu,
    pool_memory,
    pool_low,
    size,
):
    """Set machine ``m``'s leaf in framework ``f``'s trees."""
    if in_pool[f, m] and open_machine:
        set_leaf(pool_cpu[f], pool_memory[f], size, m, free_cpu, free_memory)
        set_low(pool_low[f], size, m, free_cpu)
    else:
        set_leaf(pool_cpu[f], pool_memory[f], size, m, -np.inf, -np.inf)
        set_low(pool_low[f], size, m, np.inf)


@njit
def framework_order(share_cpu, share_memory):
    """Return the frameworks in ascending order of dominant request, then index.

    The dominant request is the larger of the CPU and memory requests a framework
    has running, both in the trace's normalized units.
    """
    frameworks = share_cpu.shape[0]
    order = np.arange(frameworks)
    for i in range(1, frameworks):
        f = order[i]
        key = max(share_cpu[f], share_memory[f])
        j = i - 1
        while j >= 0:
            g = order[j]
            other = max(share_cpu[g], share_memory[g])
            if other > key or (other == key and g > f):
                order[j + 1] = g
                j -= 1
            else:
                break
        order[j + 1] = f
    return order
