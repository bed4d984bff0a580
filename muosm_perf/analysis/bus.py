"""The message bus: lifecycle events per unit of time, and how bursty they are.

The bus of a trace is the stream of lifecycle transitions of its processes and
groups. Its load is the event rate; its burstiness is the index of dispersion of
counts (IDC): the variance of the number of events in consecutive bins of ``T``
seconds divided by their mean. A Poisson stream has an IDC of 1 at every ``T``.
Clustered events give an IDC above 1, which grows with ``T`` while the clusters are
longer than the bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.model.store import TraceStore

BIN_SECONDS = (1, 10, 60, 600, 3600)
"""Bin widths (seconds) at which :func:`message_bus` reports the IDC."""


def counts_per_bin(
    times_us: np.ndarray, start_us: int, end_us: int, bin_s: float
) -> np.ndarray:
    """Count events in consecutive bins of ``bin_s`` seconds from ``start_us``.

    Bins cover ``[start_us, end_us]``; the last bin is dropped when it is partial,
    so every bin has the same width (a window shorter than one bin gives no bin).
    Events outside the window are ignored.
    """
    if bin_s <= 0:
        raise ParameterError(f"bin width must be positive, got {bin_s} s")
    width_us = round(bin_s * 1e6)
    bins = (end_us - start_us) // width_us
    if bins <= 0:
        return np.zeros(0, dtype=np.int64)
    times = np.asarray(times_us, dtype=np.int64)
    offsets = times - start_us
    inside = (offsets >= 0) & (offsets < bins * width_us)
    return np.bincount(offsets[inside] // width_us, minlength=bins).astype(np.int64)


def index_of_dispersion(counts: np.ndarray) -> float | None:
    """Return variance / mean of bin counts (population variance), or None.

    None when there are fewer than two bins or no event at all.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size < 2:
        return None
    mean = counts.mean()
    if mean == 0:
        return None
    return float(counts.var() / mean)


def event_times(store: TraceStore) -> np.ndarray:
    """Return the in-window times (µs) of every process and group transition.

    Events before or after the window, and events whose time the trace does not
    record, are left out.
    """
    times = [
        store.scan(table)
        .select(pl.col("time_us").drop_nulls())
        .collect()["time_us"]
        .to_numpy()
        for table in ("transitions", "group_transitions")
    ]
    return np.concatenate(times) if times else np.zeros(0, dtype=np.int64)


def message_bus(
    store: TraceStore, *, bins_s: tuple[float, ...] = BIN_SECONDS
) -> dict[str, Any]:
    """Summarize a store's message bus.

    Returns
    -------
    dict
        ``events`` (with a known time), ``events_unknown_time``, ``window_s``,
        ``rate_per_s`` (events per second over the window), ``peak_per_s``
        (largest count in one second) and ``idc`` (bin width in seconds, as a
        string → index of dispersion, None where undefined).
    """
    times = event_times(store)
    unknown = sum(
        store.scan(table)
        .filter(
            pl.col("time_us").is_null()
            & ~pl.col("before_window")
            & ~pl.col("after_window")
        )
        .select(pl.len())
        .collect()
        .item()
        for table in ("transitions", "group_transitions")
    )
    result: dict[str, Any] = {
        "events": int(times.size),
        "events_unknown_time": int(unknown),
        "window_s": None,
        "rate_per_s": None,
        "peak_per_s": None,
        "idc": {str(b): None for b in bins_s},
    }
    if times.size == 0:
        return result
    start, end = int(times.min()), int(times.max())
    span_s = (end - start) / 1e6
    result["window_s"] = span_s
    result["rate_per_s"] = times.size / span_s if span_s > 0 else None
    per_second = counts_per_bin(times, start, end + 1, 1)
    result["peak_per_s"] = int(per_second.max()) if per_second.size else None
    for width in bins_s:
        value = index_of_dispersion(counts_per_bin(times, start, end + 1, width))
        result["idc"][str(width)] = (
            None if value is None or math.isnan(value) else value
        )
    return result
