"""Polars schemas of the canonical tables of a trace store.

Times are integer microseconds on the trace's own clock. A time outside the trace
window is never stored as a number: the time column is null and a flag says on which
side of the window it lies. Resources stay in the trace's own normalized units, which
the store's manifest names.
"""

from __future__ import annotations

import polars as pl

from muosm_perf.model.lifecycle import BAND_DTYPE, CELL_EVENT_DTYPE, EVENT_DTYPE

TIME = pl.Int64
"""Microseconds on the trace's clock."""

TRANSITIONS = pl.Schema(
    {
        "time_us": TIME,
        "before_window": pl.Boolean,
        "after_window": pl.Boolean,
        "group_id": pl.Int64,
        "process_index": pl.Int64,
        "event": EVENT_DTYPE,
        "source_code": pl.Int16,
        "missing_info": pl.Int8,
        "cell_id": pl.Int64,
        "priority": pl.Int16,
        "scheduling_class": pl.Int8,
        "cpu_request": pl.Float64,
        "memory_request": pl.Float64,
        "disk_request": pl.Float64,
        "different_cells": pl.Boolean,
        "source_file": pl.UInt16,
        "source_line": pl.UInt32,
    }
)
"""One row per lifecycle event of a distributed process."""

GROUP_TRANSITIONS = pl.Schema(
    {
        "time_us": TIME,
        "before_window": pl.Boolean,
        "after_window": pl.Boolean,
        "group_id": pl.Int64,
        "event": EVENT_DTYPE,
        "source_code": pl.Int16,
        "missing_info": pl.Int8,
        "user": pl.String,
        "scheduling_class": pl.Int8,
        "name": pl.String,
        "logical_name": pl.String,
        "source_file": pl.UInt16,
        "source_line": pl.UInt32,
    }
)
"""One row per lifecycle event of a process group (a job)."""

PROCESSES = pl.Schema(
    {
        "group_id": pl.Int64,
        "process_index": pl.Int64,
        "attempt": pl.Int32,
        "submit_time_us": TIME,
        "submit_before_window": pl.Boolean,
        "schedule_time_us": TIME,
        "schedule_before_window": pl.Boolean,
        "end_time_us": TIME,
        "end_after_window": pl.Boolean,
        "end_state": EVENT_DTYPE,
        "missing_submit": pl.Boolean,
        "cell_id": pl.Int64,
        "priority": pl.Int16,
        "band": BAND_DTYPE,
        "scheduling_class": pl.Int8,
        "cpu_request": pl.Float64,
        "memory_request": pl.Float64,
        "disk_request": pl.Float64,
        "scheduling_delay_us": TIME,
        "run_time_us": TIME,
    }
)
"""One row per attempt of a process: a SUBMIT (or a first sighting) to its end.

``run_time_us`` is ``end_time_us - schedule_time_us``, except in traces that record a
duration without its instants (SWF logs without wait times): there both instants are
null and ``run_time_us`` is the recorded duration.
"""

GROUPS = pl.Schema(
    {
        "group_id": pl.Int64,
        "incarnation": pl.Int32,
        "submit_time_us": TIME,
        "submit_before_window": pl.Boolean,
        "schedule_time_us": TIME,
        "schedule_before_window": pl.Boolean,
        "end_time_us": TIME,
        "end_after_window": pl.Boolean,
        "end_state": EVENT_DTYPE,
        "user": pl.String,
        "scheduling_class": pl.Int8,
        "name": pl.String,
        "logical_name": pl.String,
        "processes": pl.UInt32,
        "attempts": pl.UInt32,
    }
)
"""One row per incarnation of a process group; a reused ID gets a new incarnation."""

CELL_EVENTS = pl.Schema(
    {
        "time_us": TIME,
        "before_window": pl.Boolean,
        "after_window": pl.Boolean,
        "cell_id": pl.Int64,
        "event": CELL_EVENT_DTYPE,
        "source_code": pl.Int16,
        "platform": pl.String,
        "domain": pl.String,
        "cpu_capacity": pl.Float64,
        "memory_capacity": pl.Float64,
        "source_file": pl.UInt16,
        "source_line": pl.UInt32,
    }
)
"""Machine ADD, REMOVE and UPDATE history; ``domain`` is the failure domain above."""

CELLS = pl.Schema(
    {
        "cell_id": pl.Int64,
        "platform": pl.String,
        "domain": pl.String,
        "first_seen_us": TIME,
        "first_seen_before_window": pl.Boolean,
        "cpu_capacity": pl.Float64,
        "memory_capacity": pl.Float64,
        "adds": pl.UInt32,
        "removes": pl.UInt32,
        "updates": pl.UInt32,
    }
)
"""One row per machine, with its last known capacity (null if never given)."""

USAGE = pl.Schema(
    {
        "start_time_us": TIME,
        "end_time_us": TIME,
        "group_id": pl.Int64,
        "process_index": pl.Int64,
        "cell_id": pl.Int64,
        "cpu_usage": pl.Float64,
        "memory_usage": pl.Float64,
        "assigned_memory": pl.Float64,
        "unmapped_page_cache": pl.Float64,
        "total_page_cache": pl.Float64,
        "max_memory_usage": pl.Float64,
        "disk_io_time": pl.Float64,
        "local_disk_usage": pl.Float64,
        "max_cpu_usage": pl.Float64,
        "max_disk_io_time": pl.Float64,
        "cycles_per_instruction": pl.Float64,
        "memory_accesses_per_instruction": pl.Float64,
        "sample_portion": pl.Float64,
        "aggregated": pl.Boolean,
        "sampled_cpu_usage": pl.Float64,
        "over_capacity": pl.Boolean,
        "cpu_usage_percentiles": pl.Array(pl.Float64, 11),
        "cpu_usage_tail_percentiles": pl.Array(pl.Float64, 9),
    }
)
"""Measured resource usage of a process over a window (5 minutes in Google 2011).

``over_capacity`` flags a usage above the machine's normalized capacity; such rows are
real measurements and are kept as they are, never clipped.

``cpu_usage_percentiles`` contains the 0th, 10th, ..., 100th percentiles of the CPU
usage samples of the window and ``cpu_usage_tail_percentiles`` the 91st to 99th
(Google 2019 ``cpu_usage_distribution`` and ``tail_cpu_usage_distribution``). Both
are null where the trace has no distribution.
"""

QUARANTINE = pl.Schema(
    {
        "table": pl.String,
        "file": pl.String,
        "line": pl.Int64,
        "column": pl.String,
        "value": pl.String,
        "reason": pl.String,
        "raw": pl.String,
    }
)
"""Rejected input rows with the reason, kept instead of being dropped."""

GROUP_DEPENDENCIES = pl.Schema(
    {
        "group_id": pl.Int64,
        "depends_on_group_id": pl.Int64,
        "kind": pl.String,
    }
)
"""Edges between process groups.

``kind`` is ``start_after`` or ``dag`` when ``group_id`` may start only after
``depends_on_group_id`` has finished, and ``parent`` when ``group_id`` is stopped as
soon as its parent ``depends_on_group_id`` ends.
"""

CANONICAL = {
    "transitions": TRANSITIONS,
    "group_transitions": GROUP_TRANSITIONS,
    "processes": PROCESSES,
    "groups": GROUPS,
    "cell_events": CELL_EVENTS,
    "cells": CELLS,
    "usage": USAGE,
    "quarantine": QUARANTINE,
}
"""Schemas of the tables every store has (possibly empty)."""

OPTIONAL = {
    "group_dependencies": GROUP_DEPENDENCIES,
}
"""Schemas of canonical tables that only formats which have such data write."""
