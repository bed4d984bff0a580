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
