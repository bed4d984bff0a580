"""Fault cells: how often machines leave, how long they stay up and away.

A machine is up from an ADD (or from the window start, if it was added before the
window) to its next REMOVE (or the window end). The mean time between failures is
taken as the total up time of all machines divided by the number of REMOVEs of
machines that were up. The mean time to repair is the mean time from a REMOVE to
the machine's next ADD inside the window. A REMOVE may be a failure or planned
maintenance: the traces do not say which, so both figures count every removal.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from muosm_perf.analysis.characterize import machine_churn
from muosm_perf.model.derive import time_class
from muosm_perf.model.store import TraceStore


def fault_window(store: TraceStore) -> tuple[int, int] | None:
    """Return the window (µs) over which machines are observed.

    It spans the store's window (its transitions) and every known time of its
    machine events, since a trace may record machines over a longer period than
    the processes read. The Google 2011 sample, for one, contains 29 days of
    machine events but only the first hours of task events.
    """
    bounds = (
        store.scan("cell_events")
        .select(
            pl.col("time_us").min().alias("start"), pl.col("time_us").max().alias("end")
        )
        .collect()
        .row(0, named=True)
    )
    starts = [bounds["start"]]
    ends = [bounds["end"]]
    window = store.manifest.get("window_us")
    if window is not None:
        starts.append(window["start"])
        ends.append(window["end"])
    starts = [int(t) for t in starts if t is not None]
    ends = [int(t) for t in ends if t is not None]
    if not starts or max(ends) <= min(starts):
        return None
    return min(starts), max(ends)


def up_and_repair_times(
    cell_events: pl.DataFrame, start_us: int, end_us: int
) -> dict[str, Any]:
    """Walk every machine's events and total its up time, removals and repairs.

    Parameters
    ----------
    cell_events
        The store's ``cell_events`` table.
    start_us, end_us
        The observation window; events before it set the state at ``start_us``
        without being counted, and events after it or without a time are left
        out.

    Returns
    -------
    dict
        ``up_time_us`` (sum over machines), ``removals`` (REMOVEs of up machines),
        ``repairs_us`` (list of REMOVE-to-ADD durations).
    """
    ordered = (
        cell_events.filter(~pl.col("after_window"))
        .filter(pl.col("before_window") | pl.col("time_us").is_not_null())
        .with_columns(
            time_class().alias("_class"),
            pl.when(pl.col("before_window"))
            .then(pl.lit(start_us))
            .otherwise(pl.col("time_us"))
            .alias("_t"),
        )
        .filter(pl.col("_t") <= end_us)
        .sort("cell_id", "_class", "_t", "source_file", "source_line")
    )
    up_time = 0
    removals = 0
    repairs: list[int] = []
    cell = None
    up_since: int | None = None
    down_since: int | None = None
    rows = ordered.select("cell_id", "event", "_t").iter_rows()
    for current, event, raw_moment in rows:
        if current != cell:
            if up_since is not None:
                up_time += end_us - up_since
            cell, up_since, down_since = current, None, None
        # Events before the window set the state at its start but count nothing.
        inside = raw_moment >= start_us
        moment = max(raw_moment, start_us)
        if event == "REMOVE":
            if up_since is not None:
                up_time += moment - up_since
                removals += int(inside)
                up_since = None
                down_since = moment if inside else None
        elif up_since is None:
            up_since = moment
            if down_since is not None:
                repairs.append(moment - down_since)
                down_since = None
    if up_since is not None:
        up_time += end_us - up_since
    return {"up_time_us": up_time, "removals": removals, "repairs_us": repairs}


def fault_cells(store: TraceStore) -> dict[str, Any]:
    """Summarize a store's fault cells.

    Returns
    -------
    dict
        ``cells``, ``cells_unknown_capacity``, ``domains`` (distinct failure
        domains above the machines, None where the trace has none), event counts
        (``adds``, ``removes``, ``updates``), ``machines_removed`` and its share,
        ``machine_days`` (total up time), ``mtbf_h`` and ``mttr_h`` (hours, None
        without removals or repairs) and ``removals_per_1000_machine_days``.
    """
    churn = machine_churn(store.scan("cells"))
    cells = store.read("cells", ["domain"])
    events = store.read("cell_events")
    domains = cells["domain"].drop_nulls().n_unique()
    counts = dict(events.group_by("event").len().iter_rows())
    result: dict[str, Any] = {
        "cells": churn["machines"],
        "cells_unknown_capacity": churn["machines_unknown_capacity"],
        "domains": int(domains) if domains else None,
        "adds": int(counts.get("ADD", 0)),
        "removes": int(counts.get("REMOVE", 0)),
        "updates": int(counts.get("UPDATE", 0)),
        "machines_removed": churn["machines_removed"],
        "machines_removed_share": churn["machines_removed_share"],
        "machine_days": None,
        "mtbf_h": None,
        "mttr_h": None,
        "removals_per_1000_machine_days": None,
    }
    window = fault_window(store)
    if window is None or events.height == 0:
        return result
    times = up_and_repair_times(events, *window)
    machine_days = times["up_time_us"] / 86_400e6
    result["machine_days"] = machine_days
    if times["removals"]:
        result["mtbf_h"] = times["up_time_us"] / times["removals"] / 3_600e6
        if machine_days > 0:
            result["removals_per_1000_machine_days"] = (
                1000 * times["removals"] / machine_days
            )
    if times["repairs_us"]:
        result["mttr_h"] = sum(times["repairs_us"]) / len(times["repairs_us"]) / 3_600e6
    return result
