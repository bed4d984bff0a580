"""Sorted runs of pending processes for the replay kernel.

A pending queue is ordered by ``(key1, key2, seq)`` per process: two policy keys
and the enqueue sequence number, which is unique, so the order is total. The queue is
kept as sorted runs in growable int64 arrays; the functions here sort a run of newly
enqueued processes and merge runs.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit


@njit
def ensure_capacity(array, needed):
    """Return ``array`` if it holds ``needed`` elements, else a longer copy.

    The copy is at least twice as long, so repeated appends cost amortized O(1).
    """
    if array.shape[0] >= needed:
        return array
    grown = np.empty(max(needed, 2 * array.shape[0]), array.dtype)
    grown[: array.shape[0]] = array
    return grown


@njit
def precedes(a, b, key1, key2, seq):
    """Return whether process ``a`` comes before process ``b`` in the queue."""
    if key1[a] != key1[b]:
        return key1[a] < key1[b]
    if key2[a] != key2[b]:
        return key2[a] < key2[b]
    return seq[a] < seq[b]


@njit
def sort_run(run, length, key1, key2, seq):
    """Sort ``run[:length]`` in place by queue order.

    The run must already be in ``seq`` order (processes appended as they were
    enqueued), so two stable sorts, by ``key2`` then by ``key1``, give the order.
    """
    if length < 2:
        return
    part = run[:length].copy()
    part = part[np.argsort(key2[part], kind="mergesort")]
    part = part[np.argsort(key1[part], kind="mergesort")]
    run[:length] = part


@njit
def merge_runs(first, first_length, second, second_length, out, key1, key2, seq):
    """Merge two sorted runs into ``out``, grown if needed.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        ``out`` (or its replacement) and the number of elements written.
    """
    out = ensure_capacity(out, first_length + second_length)
    i = 0
    j = 0
    k = 0
    while i < first_length and j < second_length:
        if precedes(second[j], first[i], key1, key2, seq):
            out[k] = second[j]
            j += 1
        else:
            out[k] = first[i]
            i += 1
        k += 1
    while i < first_length:
        out[k] = first[i]
        i += 1
        k += 1
    while j < second_length:
        out[k] = second[j]
        j += 1
        k += 1
    return out, k
