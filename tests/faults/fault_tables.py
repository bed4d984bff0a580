"""Small hand-made tables for the fault-cell tests."""

from __future__ import annotations

import polars as pl

from muosm_perf.model import schema


def cell_events(rows: list[tuple]) -> pl.DataFrame:
    """Build a ``cell_events`` table from (time_s or None, cell, event) rows.

    A time of None means "before the window"; the string "after" means after it.
    Source lines follow the row order.
    """
    records = []
    for line, (time_s, cell, event) in enumerate(rows, start=1):
        before = time_s is None
        after = time_s == "after"
        records.append(
            {
                "time_us": None if before or after else round(time_s * 1e6),
                "before_window": before,
                "after_window": after,
                "cell_id": cell,
                "event": event,
                "source_code": 0,
                "platform": None,
                "domain": None,
                "cpu_capacity": 0.5,
                "memory_capacity": 0.5,
                "source_file": 0,
                "source_line": line,
            }
        )
    return pl.DataFrame(records, schema=schema.CELL_EVENTS)


def cells(mapping: dict[int, tuple[str | None, str | None]]) -> pl.DataFrame:
    """Build a ``cells`` table from cell -> (platform, domain)."""
    return pl.DataFrame(
        {
            "cell_id": list(mapping),
            "platform": [value[0] for value in mapping.values()],
            "domain": [value[1] for value in mapping.values()],
        },
        schema={"cell_id": pl.Int64, "platform": pl.String, "domain": pl.String},
    )


def attempt(
    group,
    index,
    number,
    *,
    submit,
    schedule,
    end,
    state,
    cell=None,
    cpu=0.5,
    before_window=False,
    open_at_end=False,
):
    """One attempt row; times in seconds, schedule None with before_window."""
    to_us = lambda t: None if t is None else round(t * 1e6)  # noqa: E731
    return {
        "group_id": group,
        "process_index": index,
        "attempt": number,
        "submit_time_us": to_us(submit),
        "submit_before_window": before_window,
        "schedule_time_us": to_us(schedule),
        "schedule_before_window": before_window,
        "end_time_us": to_us(end),
        "end_after_window": open_at_end,
        "end_state": state,
        "missing_submit": False,
        "cell_id": cell,
        "priority": 2,
        "band": "middle",
        "scheduling_class": 1,
        "cpu_request": cpu,
        "memory_request": 0.1,
        "disk_request": 0.0,
        "scheduling_delay_us": None
        if submit is None or schedule is None
        else to_us(schedule - submit),
        "run_time_us": None
        if schedule is None or end is None
        else to_us(end - schedule),
    }


def processes(rows):
    return pl.DataFrame(rows, schema=schema.PROCESSES)


def removals(pairs):
    """Removal table from (time_s, cell) pairs."""
    return pl.DataFrame(
        {
            "time_us": [round(t * 1e6) for t, _ in pairs],
            "cell_id": [c for _, c in pairs],
            "platform": ["p"] * len(pairs),
            "domain": [None] * len(pairs),
        },
        schema={
            "time_us": pl.Int64,
            "cell_id": pl.Int64,
            "platform": pl.String,
            "domain": pl.String,
        },
    )
