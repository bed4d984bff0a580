"""Characterization and occupancy, checked against independent computations."""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from conftest import machine_row, task_row, write_shard

from muosm_perf.analysis.characterize import (
    characterize,
    delay_by_band,
    distribution_summary,
    occupancy,
)
from muosm_perf.analysis.occupancy import default_grid, occupancy_series
from muosm_perf.analysis.usage import usage_against_request
from muosm_perf.errors import ParameterError
from muosm_perf.model import schema
from muosm_perf.traces.google2011 import ingest_google_2011


def _band(priority: int) -> str:
    if priority <= 1:
        return "free"
    if priority <= 8:
        return "middle"
    return "production"


def test_sample_delays_match_raw_events(samples, google_2011_store):
    """Recompute delays from the raw shards with a plain walk over the events."""
    pending_since: dict[tuple[str, str], int] = {}
    delays = defaultdict(list)
    shards = sorted((samples / "google-2011" / "task_events").glob("*.csv.gz"))
    for shard in shards:
        with gzip.open(shard, "rt", newline="") as handle:
            for row in csv.reader(handle):
                key = (row[2], row[3])
                time, kind = int(row[0]), int(row[5])
                if kind == 0:
                    pending_since[key] = time
                elif kind == 1:
                    submitted = pending_since.pop(key, None)
                    if submitted is not None and submitted > 0:
                        delays[_band(int(row[8]))].append((time - submitted) / 1e6)
    result = characterize(google_2011_store)["scheduling_delay_s"]
    for band, sample in delays.items():
        expected = distribution_summary(np.array(sample))
        assert result[band]["n"] == expected["n"]
        for statistic in ("mean", "p50", "p90", "p99"):
            assert result[band][statistic] == pytest.approx(
                expected[statistic], rel=1e-12
            )


def test_sample_machine_removed_share(samples, google_2011_store):
    machines, removed = set(), set()
    shard = samples / "google-2011" / "machine_events" / "part-00000-of-00001.csv.gz"
    with gzip.open(shard, "rt", newline="") as handle:
        for row in csv.reader(handle):
            machines.add(row[1])
            if row[2] == "1":
                removed.add(row[1])
    churn = characterize(google_2011_store)["churn"]
    assert (len(removed), len(machines)) == (5141, 12583)
    assert churn["machines"] == len(machines)
    assert churn["machines_removed"] == len(removed)
    assert churn["machines_removed_share"] == len(removed) / len(machines)


def test_sample_characterization_keys(google_2011_store):
    result = characterize(google_2011_store)
    transitions = google_2011_store.read("transitions")
    assert set(result["scheduling_delay_s"]) == {"free", "middle", "production", "all"}
    all_delays = result["scheduling_delay_s"]["all"]
    assert all_delays["n"] == sum(
        result["scheduling_delay_s"][band]["n"]
        for band in ("free", "middle", "production")
    )
    assert (
        result["events_by_type"]["SUBMIT"]
        == transitions.filter(pl.col("event") == "SUBMIT").height
    )
    assert (
        result["processes"]
        == transitions.select(pl.struct("group_id", "process_index").n_unique()).item()
    )
    assert result["groups"] == len(
        set(transitions["group_id"].to_list())
        | set(google_2011_store.read("group_transitions")["group_id"].to_list())
    )
    assert result["cells"] == 12583


def test_sample_running_count_brute_force(google_2011_store):
    series = occupancy(google_2011_store)
    processes = google_2011_store.read("processes")
    window_start = google_2011_store.manifest["window_us"]["start"]
    start = (
        processes["schedule_time_us"].fill_null(window_start).to_numpy().astype(float)
    )
    ran = (
        processes["schedule_time_us"].is_not_null()
        | processes["schedule_before_window"]
    ).to_numpy()
    end = processes["end_time_us"].fill_null(np.inf).to_numpy().astype(float)
    for index in (0, 7, series.height // 2, series.height - 1):
        t = series["time_us"][index]
        expected = int(np.sum(ran & (start <= t) & (end > t)))
        assert series["running"][index] == expected


def _processes(rows: list[dict]) -> pl.DataFrame:
    base = {name: None for name in schema.PROCESSES.names()}
    base.update(schedule_before_window=False, end_after_window=False)
    frame = pl.DataFrame([{**base, **row} for row in rows], schema=schema.PROCESSES)
    return frame


def test_occupancy_small_exact():
    processes = _processes(
        [
            {"schedule_time_us": 10, "end_time_us": 20, "cpu_request": 0.25},
            {"schedule_time_us": 15, "end_after_window": True, "cpu_request": 0.5},
            {"schedule_before_window": True, "end_time_us": 12, "cpu_request": 0.125},
            {"schedule_time_us": None, "end_time_us": 14, "cpu_request": 1.0},
        ]
    )
    cells = pl.DataFrame(
        [
            {
                "time_us": None,
                "before_window": True,
                "cell_id": 1,
                "event": "ADD",
                "cpu_capacity": 1.0,
                "memory_capacity": 1.0,
            },
            {
                "time_us": 16,
                "before_window": False,
                "cell_id": 1,
                "event": "UPDATE",
                "cpu_capacity": 0.5,
                "memory_capacity": 1.0,
            },
            {
                "time_us": 18,
                "before_window": False,
                "cell_id": 2,
                "event": "ADD",
                "cpu_capacity": None,
                "memory_capacity": None,
            },
            {
                "time_us": 19,
                "before_window": False,
                "cell_id": 1,
                "event": "REMOVE",
                "cpu_capacity": 1.0,
                "memory_capacity": 1.0,
            },
        ],
        schema_overrides={"event": schema.CELL_EVENTS["event"]},
    ).with_columns(
        pl.lit(False).alias("after_window"),
        pl.lit(0, dtype=pl.UInt16).alias("source_file"),
        pl.int_range(pl.len()).cast(pl.UInt32).alias("source_line"),
    )
    grid = np.array([0, 10, 12, 15, 16, 18, 19, 20, 30])
    series = occupancy_series(processes, cells, grid, window_start_us=0)
    assert series["running"].to_list() == [1, 2, 1, 2, 2, 2, 2, 1, 1]
    assert series["cpu_requested"].to_list() == [
        0.125,
        0.375,
        0.25,
        0.75,
        0.75,
        0.75,
        0.75,
        0.5,
        0.5,
    ]
    assert series["cpu_capacity"].to_list() == [1, 1, 1, 1, 0.5, 0.5, 0, 0, 0]
    assert series["alive"].to_list() == [1, 1, 1, 1, 1, 2, 1, 1, 1]
    assert series["unknown_capacity"].to_list() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert series["cpu_utilization"].to_list()[:5] == [0.125, 0.375, 0.25, 0.75, 1.5]
    assert series["cpu_utilization"].to_list()[6:] == [None, None, None]


def test_default_grid():
    grid = default_grid(0, 3_600_000_000)
    assert grid[0] == 0
    assert grid[-1] == 3_600_000_000
    assert np.all(np.diff(grid) == 60_000_000)
    long = default_grid(0, 29 * 86_400 * 1_000_000)
    assert len(long) <= 2000
    with pytest.raises(ParameterError, match="grid step must be positive"):
        default_grid(0, 10, step_s=0)


def test_distribution_summary_empty_is_null():
    summary = distribution_summary(np.array([]))
    assert summary == {"n": 0, "mean": None, "p50": None, "p90": None, "p99": None}


def test_distribution_summary_one_value():
    summary = distribution_summary(np.array([4.0]))
    assert summary == {"n": 1, "mean": 4.0, "p50": 4.0, "p90": 4.0, "p99": 4.0}


def test_band_without_delays_is_null(make_trace, tmp_path):
    trace = make_trace(
        [
            task_row(600_000_000, 1, 0, 0, priority=0),
            task_row(601_000_000, 1, 0, 1, priority=0, machine=1),
        ],
        machines=[machine_row(0, 1, 0)],
    )
    result = characterize(ingest_google_2011(trace, tmp_path / "store"))
    assert result["scheduling_delay_s"]["free"]["p50"] == 1.0
    assert result["scheduling_delay_s"]["production"] == {
        "n": 0,
        "mean": None,
        "p50": None,
        "p90": None,
        "p99": None,
    }


def test_usage_ratio_null_for_zero_request(make_trace, tmp_path):
    trace = make_trace(
        [
            task_row(600_000_000, 1, 0, 0, cpu=0.0, memory=0.1),
            task_row(600_000_000, 1, 0, 1, cpu=0.0, memory=0.1, machine=1),
            task_row(600_000_000, 1, 1, 0, cpu=0.25, memory=0.1),
            task_row(600_000_000, 1, 1, 1, cpu=0.25, memory=0.1, machine=1),
        ],
        machines=[machine_row(0, 1, 0, cpu=0.5, memory=0.5)],
    )
    usage_row = [600_000_000, 900_000_000, 1, 0, 1, 0.01, *[0.05] * 12, 1, 0.01]
    over_row = [600_000_000, 900_000_000, 1, 1, 1, 0.75, *[0.05] * 12, 1, 0.7]
    write_shard(
        trace / "task_usage" / "part-00000-of-00001.csv.gz", [usage_row, over_row]
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    usage = usage_against_request(store).sort("process_index")
    assert usage["cpu_request"].to_list() == [0.0, 0.25]
    assert usage["cpu_usage_to_request"].to_list() == [None, 3.0]
    assert usage["cpu_usage"].to_list() == [0.01, 0.75]
    assert usage["over_capacity"].to_list() == [False, True]
    assert usage["memory_usage_to_request"].to_list() == [
        pytest.approx(0.5),
        pytest.approx(0.5),
    ]


def test_delays_without_priority_are_reported():
    delays = pl.DataFrame(
        {"band": [None, None, "free"], "delay_s": [10.0, 0.0, 2.0]},
        schema={"band": schema.PROCESSES["band"], "delay_s": pl.Float64},
    )
    result = delay_by_band(delays)
    assert result["unbanded"]["n"] == 2
    assert result["unbanded"]["mean"] == 5.0
    assert result["all"]["n"] == 3
    assert result["free"]["n"] == 1
    assert result["production"]["n"] == 0
