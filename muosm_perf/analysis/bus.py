"""The message bus: lifecycle events per unit of time, and how bursty they are.

The μ-OSM message bus of a trace is the stream of lifecycle events of its
processes and groups. Each row of the ``transitions`` and ``group_transitions``
tables whose instant lies in the trace window is one message: task and job events
in Google 2011, instance and collection events in Google 2019. :func:`bus_events`
is that one definition, and both ``muosm bus`` and the comparison report count it.

Its load is the event rate; its burstiness is the index of dispersion of counts
(IDC): the variance of the number of events in consecutive bins of ``T`` seconds
divided by their mean. A Poisson stream has an IDC of 1 at every ``T``. Clustered
events give an IDC above 1, which grows with ``T`` while the clusters are longer
than the bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.model.lifecycle import google_2011_band, google_2019_band
from muosm_perf.model.store import TraceStore

BIN_SECONDS = (1, 10, 60, 600, 3600)
"""Bin widths (seconds) at which :func:`message_bus` reports the IDC."""

BUS_TABLES = {"transitions": "process", "group_transitions": "group"}
"""The tables whose events travel on the bus, and the ``source`` label of each."""

BAND_MAPPINGS = {"google-2011": google_2011_band, "google-2019": google_2019_band}
"""Priority-to-band mapping per source format; other formats have no bands."""

BUS_EVENTS_LABEL = "process and group lifecycle events"
"""Label of the events the bus counts, for output (tasks and jobs in Google 2011)."""


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


def bus_events(store: TraceStore) -> pl.DataFrame:
    """Return the events of the store's message bus in time order.

    Every process and group lifecycle event with an instant inside the trace window
    is one message. Events before or after the window, and events whose time the
    trace does not record, are left out.

    Returns
    -------
    polars.DataFrame
        ``time_us`` (Int64, trace microseconds), ``source`` (``"process"`` or
        ``"group"``) and ``band``. The band is the process's priority band as a
        string. It is null for group events, which carry no priority, and where
        the priority is unknown. Ties keep the order of the tables, processes
        first.
    """
    band = BAND_MAPPINGS.get(store.source_format)
    frames = []
    for table, source in BUS_TABLES.items():
        frame = store.scan(table)
        if source == "process" and band is not None:
            band_column = band(pl.col("priority")).cast(pl.String)
        else:
            band_column = pl.lit(None, dtype=pl.String)
        frames.append(
            frame.filter(pl.col("time_us").is_not_null()).select(
                pl.col("time_us").cast(pl.Int64),
                pl.lit(source).alias("source"),
                band_column.alias("band"),
            )
        )
    return pl.concat(frames).sort("time_us", maintain_order=True).collect()


def message_bus(
    store: TraceStore, *, bins_s: tuple[float, ...] = BIN_SECONDS
) -> dict[str, Any]:
    """Summarize a store's message bus.

    Returns
    -------
    dict
        ``events`` counts the events of :func:`bus_events`, and
        ``process_events`` and ``group_events`` its two parts.
        ``events_unknown_time`` counts events inside the window without a
        recorded time. ``window_s`` is the span of the events, ``rate_per_s``
        the events per second over it, and ``peak_per_s`` the largest count in
        one second, with bins starting at the first event. ``idc`` maps a bin
        width in seconds, as a string, to the index of dispersion (None where
        undefined).
    """
    events = bus_events(store)
    times = events["time_us"].to_numpy()
    sources = events["source"]
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
        for table in BUS_TABLES
    )
    result: dict[str, Any] = {
        "events": int(times.size),
        "process_events": int((sources == "process").sum()),
        "group_events": int((sources == "group").sum()),
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
