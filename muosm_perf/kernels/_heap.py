"""A binary min-heap of (time, item) pairs for event kernels.

The heap lives in two arrays that grow by doubling; every function returns the
arrays it may have replaced. Pairs are ordered by time, then by item, so that events
at one instant come out in item order whatever order they went in.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit


@njit
def new_heap(capacity):
    """Allocate an empty heap with room for ``capacity`` pairs (at least 1)."""
    capacity = max(capacity, 1)
    return np.empty(capacity, np.int64), np.empty(capacity, np.int64), 0


@njit
def _less(times, items, a, b):
    return times[a] < times[b] or (times[a] == times[b] and items[a] < items[b])


@njit
def heap_push(times, items, size, time, item):
    """Add a pair; return ``(times, items, size)``."""
    if size == times.shape[0]:
        grown_times = np.empty(2 * size, np.int64)
        grown_items = np.empty(2 * size, np.int64)
        grown_times[:size] = times
        grown_items[:size] = items
        times = grown_times
        items = grown_items
    times[size] = time
    items[size] = item
    child = size
    size += 1
    while child > 0:
        parent = (child - 1) // 2
        if not _less(times, items, child, parent):
            break
        times[child], times[parent] = times[parent], times[child]
        items[child], items[parent] = items[parent], items[child]
        child = parent
    return times, items, size


@njit
def heap_pop(times, items, size):
    """Remove the smallest pair; return ``(time, item, size)``. ``size`` must be > 0."""
    time = times[0]
    item = items[0]
    size -= 1
    times[0] = times[size]
    items[0] = items[size]
    parent = 0
    while True:
        left = 2 * parent + 1
        if left >= size:
            break
        smallest = left
        right = left + 1
        if right < size and _less(times, items, right, left):
            smallest = right
        if not _less(times, items, smallest, parent):
            break
        times[smallest], times[parent] = times[parent], times[smallest]
        items[smallest], items[parent] = items[parent], items[smallest]
        parent = smallest
    return time, item, size
