"""Up and down intervals of machines, with censoring at both ends of the window."""

from __future__ import annotations

import polars as pl
import pytest
from fault_tables import cell_events, cells

from muosm_perf.analysis.faults import analyze_faults
from muosm_perf.analysis.outages import (
    INTERVALS,
    ObservationWindow,
    cell_intervals,
    machine_summary,
    removal_times,
)
from muosm_perf.errors import ParameterError
from muosm_perf.model import schema
from muosm_perf.model.store import StoreWriter, TraceStore

WINDOW = ObservationWindow(start_us=100_000_000, end_us=1_000_000_000)  # 100-1000 s


def rows_of(intervals: pl.DataFrame, cell: int) -> list[tuple]:
    part = intervals.filter(pl.col("cell_id") == cell).sort("start_us")
    return [
        (
            row["state"],
            row["start_us"] / 1e6,
            row["end_us"] / 1e6,
            row["left_censored"],
            row["right_censored"],
        )
        for row in part.iter_rows(named=True)
    ]


def test_intervals_alternate_and_censor():
    events = cell_events(
        [(None, 1, "ADD"), (300, 1, "REMOVE"), (450, 1, "ADD"), (900, 1, "REMOVE")]
    )
    intervals = cell_intervals(events, cells({1: ("p", None)}), WINDOW)
    assert intervals.schema == INTERVALS
    assert rows_of(intervals, 1) == [
        ("up", 100.0, 300.0, True, False),
        ("down", 300.0, 450.0, False, False),
        ("up", 450.0, 900.0, False, False),
        ("down", 900.0, 1000.0, False, True),
    ]
    limits = intervals.sort("start_us")["censor_limit_s"].to_list()
    assert limits == [900.0, 700.0, 550.0, 100.0]


def test_first_seen_by_remove_is_up_before():
    events = cell_events([(250, 2, "REMOVE"), (400, 2, "ADD")])
    intervals = cell_intervals(events, cells({2: (None, None)}), WINDOW)
    assert rows_of(intervals, 2) == [
        ("up", 100.0, 250.0, True, False),
        ("down", 250.0, 400.0, False, False),
        ("up", 400.0, 1000.0, False, True),
    ]


def test_repeated_add_and_updates_ignored():
    events = cell_events(
        [
            (None, 3, "ADD"),
            (None, 3, "UPDATE"),
            (200, 3, "ADD"),
            (500, 3, "UPDATE"),
            (600, 3, "REMOVE"),
            (650, 3, "REMOVE"),
        ]
    )
    intervals = cell_intervals(events, cells({3: (None, None)}), WINDOW)
    assert rows_of(intervals, 3) == [
        ("up", 100.0, 600.0, True, False),
        ("down", 600.0, 1000.0, False, True),
    ]


def test_events_outside_window_clip():
    window = ObservationWindow(start_us=300_000_000, end_us=800_000_000)
    events = cell_events(
        [
            (None, 4, "ADD"),
            (200, 4, "REMOVE"),
            (250, 4, "ADD"),
            (500, 4, "REMOVE"),
            (900, 4, "ADD"),
            ("after", 4, "REMOVE"),
        ]
    )
    intervals = cell_intervals(events, cells({4: (None, None)}), window)
    # Only the last event at or before the start sets the state at the start.
    assert rows_of(intervals, 4) == [
        ("up", 300.0, 500.0, True, False),
        ("down", 500.0, 800.0, False, True),
    ]


def test_event_at_window_end_counts():
    events = cell_events([(None, 5, "ADD"), (1000, 5, "REMOVE")])
    intervals = cell_intervals(events, cells({5: (None, None)}), WINDOW)
    assert rows_of(intervals, 5) == [
        ("up", 100.0, 1000.0, True, False),
        ("down", 1000.0, 1000.0, False, True),
    ]


def test_platform_comes_from_cells_table():
    events = cell_events([(None, 6, "ADD")]).with_columns(
        pl.lit("placeholder").alias("platform")
    )
    intervals = cell_intervals(events, cells({6: ("real", "switch-1")}), WINDOW)
    assert intervals["platform"].to_list() == ["real"]
    assert intervals["domain"].to_list() == ["switch-1"]


def test_machine_summary_exact():
    events = cell_events(
        [
            (None, 1, "ADD"),
            (300, 1, "REMOVE"),
            (450, 1, "ADD"),
            (900, 1, "REMOVE"),
            (None, 2, "ADD"),
        ]
    )
    intervals = cell_intervals(events, cells({1: ("p", None), 2: ("p", None)}), WINDOW)
    summary = machine_summary(intervals, WINDOW).sort("cell_id")
    first = summary.row(0, named=True)
    assert first["removals"] == 2
    assert first["repairs"] == 1
    assert first["up_s"] == pytest.approx(200 + 450)
    assert first["down_s"] == pytest.approx(150 + 100)
    assert first["down_at_end"]
    assert first["mtbf_s"] == pytest.approx(650 / 2)
    assert first["mttr_s"] == pytest.approx(250 / 1)
    assert first["availability"] == pytest.approx(650 / 900)
    second = summary.row(1, named=True)
    assert second["removals"] == 0
    assert second["mtbf_s"] is None
    assert second["mttr_s"] is None
    assert second["availability"] == pytest.approx(1.0)


def test_removal_times_sorted():
    events = cell_events(
        [(None, 1, "ADD"), (700, 1, "REMOVE"), (None, 2, "ADD"), (300, 2, "REMOVE")]
    )
    intervals = cell_intervals(
        events, cells({1: (None, None), 2: (None, None)}), WINDOW
    )
    removals = removal_times(intervals)
    assert removals["cell_id"].to_list() == [2, 1]
    assert removals["down_s"].to_list() == [700.0, 300.0]
    assert removals["right_censored"].to_list() == [True, True]


def test_empty_events_give_no_intervals():
    intervals = cell_intervals(cell_events([]), cells({}), WINDOW)
    assert intervals.height == 0
    assert intervals.schema == INTERVALS


def test_window_end_before_start_raises():
    with pytest.raises(ParameterError, match="not after its start"):
        ObservationWindow(start_us=10, end_us=10)


def test_analysis_of_store_with_switches(tmp_path):
    events = cell_events(
        [
            (None, 1, "ADD"),
            (None, 2, "ADD"),
            (None, 3, "ADD"),
            (200, 1, "REMOVE"),
            (200.5, 2, "REMOVE"),
            (201, 3, "REMOVE"),
            (500, 1, "ADD"),
            (600, 2, "ADD"),
        ]
    ).with_columns(
        pl.col("cell_id").replace_strict({1: "s1", 2: "s1", 3: "s2"}).alias("domain"),
        pl.lit("p").alias("platform"),
    )
    with StoreWriter(tmp_path / "store", "test") as writer:
        writer.manifest["clock"] = {"trace_start_us": 100_000_000}
        writer.write_part("cell_events", events)
        writer.write_part(
            "cells",
            events.group_by("cell_id")
            .agg(
                pl.col("platform").first(),
                pl.col("domain").first(),
                pl.lit(None, dtype=pl.Int64).alias("first_seen_us"),
                pl.lit(value=True).alias("first_seen_before_window"),
                pl.lit(0.5).alias("cpu_capacity"),
                pl.lit(0.5).alias("memory_capacity"),
                pl.lit(1, dtype=pl.UInt32).alias("adds"),
                (pl.col("event") == "REMOVE").sum().cast(pl.UInt32).alias("removes"),
                pl.lit(0, dtype=pl.UInt32).alias("updates"),
            )
            .select(schema.CELLS.names())
            .cast(dict(schema.CELLS)),
        )
    result = analyze_faults(TraceStore(tmp_path / "store"), bootstrap_samples=20)
    assert result["observation_s"]["start"] == 100.0
    assert result["observation_s"]["end"] == 600.0
    switches = {group["key"]: group for group in result["levels"]["domain"]}
    assert switches["s1"]["removals"] == 2
    assert switches["s1"]["mttr"]["mean_s"] == pytest.approx((300 + 399.5) / 2)
    assert switches["s2"]["machines_down_at_end"] == 1
    assert result["bursts"]["bursts"] == 1
    assert result["bursts"]["same_group"]["domain"]["same_group"] == 1
    assert result["process_outcomes"] is None
