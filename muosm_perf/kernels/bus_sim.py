"""Kernels of the message bus simulation: producer batching and FCFS stations.

- Batching: messages arrive in time order, each for a partition. A partition's
  batch opens at its first message and closes when it reaches ``max_messages``
  messages (at that message's instant) or ``linger`` after it opened, whichever
  comes first. A message arriving exactly ``linger`` after the opening still joins.
- Stations: jobs in order of their ready instant, each for one of several
  single-server FCFS stations (brokers, or consumers); a job starts when it is
  ready and its station is free. Jobs ready at the same instant keep input order.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import njit


@njit
def _batch_kernel(
    times,
    partitions,
    partition_count,
    max_messages,
    linger,
    batch_of_message,
    batch_close,
    batch_partition,
    batch_size,
):
    open_batch = np.full(partition_count, -1, np.int64)
    open_start = np.zeros(partition_count)
    batches = 0
    for i in range(times.shape[0]):
        t = times[i]
        p = partitions[i]
        b = open_batch[p]
        if b >= 0 and t > open_start[p] + linger:
            batch_close[b] = open_start[p] + linger
            b = -1
        if b < 0:
            b = batches
            batches += 1
            open_batch[p] = b
            open_start[p] = t
            batch_partition[b] = p
            batch_size[b] = 0
        batch_of_message[i] = b
        batch_size[b] += 1
        if batch_size[b] == max_messages:
            batch_close[b] = t
            open_batch[p] = -1
    for p in range(partition_count):
        if open_batch[p] >= 0:
            batch_close[open_batch[p]] = open_start[p] + linger
    return batches


def batch_messages(
    times: np.ndarray,
    partitions: np.ndarray,
    partition_count: int,
    max_messages: int,
    linger: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group messages into producer batches.

    Parameters
    ----------
    times
        Message instants, non-decreasing (seconds).
    partitions
        Partition of each message, in 0..partition_count - 1.
    partition_count, max_messages, linger
        Number of partitions, batch size limit and linger time (seconds).

    Returns
    -------
    tuple of numpy.ndarray
        Batch of each message, and per batch its close instant, partition and size.
    """
    times = np.ascontiguousarray(times, dtype=np.float64)
    partitions = np.ascontiguousarray(partitions, dtype=np.int64)
    if times.shape != partitions.shape or times.ndim != 1:
        raise ParameterError("times and partitions must be 1-D of the same length")
    if times.size > 1 and (np.diff(times) < 0).any():
        raise ParameterError("message times must be non-decreasing; sort them")
    if times.size and (partitions.min() < 0 or partitions.max() >= partition_count):
        raise ParameterError(
            f"partitions must lie in 0..{partition_count - 1}, got "
            f"{int(partitions.min())}..{int(partitions.max())}"
        )
    n = times.shape[0]
    batch_of_message = np.empty(n, np.int64)
    close = np.empty(n)
    partition = np.empty(n, np.int64)
    size = np.empty(n, np.int64)
    count = _batch_kernel(
        times,
        partitions,
        int(partition_count),
        int(max_messages),
        float(linger),
        batch_of_message,
        close,
        partition,
        size,
    )
    return batch_of_message, close[:count], partition[:count], size[:count]


@njit
def _stations_kernel(ready, station, service, free, start):
    for i in range(ready.shape[0]):
        s = station[i]
        begin = ready[i] if ready[i] > free[s] else free[s]
        start[i] = begin
        free[s] = begin + service[i]


def serve_at_stations(
    ready: np.ndarray, station: np.ndarray, service: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """Return start instants of jobs at single-server FCFS stations.

    ``ready`` must be non-decreasing. ``free`` contains each station's next free
    instant (use -inf for idle stations) and is updated in place, so a run can
    continue in a later call.
    """
    ready = np.ascontiguousarray(ready, dtype=np.float64)
    station = np.ascontiguousarray(station, dtype=np.int64)
    service = np.ascontiguousarray(service, dtype=np.float64)
    if not (ready.shape == station.shape == service.shape) or ready.ndim != 1:
        raise ParameterError("ready, station and service must be 1-D of one length")
    if ready.size > 1 and (np.diff(ready) < 0).any():
        raise ParameterError("ready instants must be non-decreasing; sort the jobs")
    if station.size and (station.min() < 0 or station.max() >= free.shape[0]):
        raise ParameterError(f"stations must lie in 0..{free.shape[0] - 1}")
    start = np.empty(ready.shape[0])
    _stations_kernel(ready, station, service, free, start)
    return start
