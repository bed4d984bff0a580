"""Plain-Python producer batching and FCFS stations, per the kernel module's rules."""

from __future__ import annotations


def batch_messages(
    times: list[float],
    partitions: list[int],
    max_messages: int,
    linger: float,
) -> tuple[list[int], list[float], list[int], list[int]]:
    """Return the batch of each message and each batch's close, partition and size.

    Batches are numbered in the order they open.
    """
    batches: list[dict] = []
    open_by_partition: dict[int, dict] = {}
    batch_of_message = []
    for t, p in zip(times, partitions, strict=True):
        current = open_by_partition.get(p)
        if current is not None and t > current["start"] + linger:
            current["close"] = current["start"] + linger
            current = None
        if current is None:
            current = {
                "id": len(batches),
                "start": t,
                "size": 0,
                "partition": p,
                "close": None,
            }
            batches.append(current)
            open_by_partition[p] = current
        current["size"] += 1
        batch_of_message.append(current["id"])
        if current["size"] == max_messages:
            current["close"] = t
            del open_by_partition[p]
    for batch in batches:
        if batch["close"] is None:
            batch["close"] = batch["start"] + linger
    return (
        batch_of_message,
        [b["close"] for b in batches],
        [b["partition"] for b in batches],
        [b["size"] for b in batches],
    )


def serve_at_stations(
    ready: list[float], station: list[int], service: list[float], stations: int
) -> list[float]:
    """Return start instants at idle single-server FCFS stations."""
    free = [float("-inf")] * stations
    starts = []
    for when, where, work in zip(ready, station, service, strict=True):
        begin = max(when, free[where])
        starts.append(begin)
        free[where] = begin + work
    return starts
