"""Checks that the hand-made fixtures under traces/fixtures contain what
traces/README.md states.

The expected numbers are written out here by hand from the fixture rows. The
attempts are derived by the package's lifecycle kernel, and the last tests read the
fixtures with the package's Google 2011 reader.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from google2011_checks import (
    AFTER,
    EVICT,
    FINISH,
    KILL,
    NULL,
    by_task,
    check_task_lifecycle,
    derive_kernel_attempts,
    read_lines,
    read_trace,
)

from muosm_perf.model.lifecycle import Event
from muosm_perf.model.store import TraceStore
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.traces.synthetic import GOOGLE_2011_COLUMNS

FIXTURES = Path(__file__).resolve().parents[1] / "traces" / "fixtures"
NAMES = ["lifecycle-ties", "sentinels-and-usage", "machine-failure"]
DURATION_S = 3600


def attempts_of(name: str) -> tuple[dict[tuple[int, int], list[dict]], dict]:
    """Attempts of each task of a fixture, as dictionaries, and the anomalies."""
    trace = read_trace(FIXTURES / name, DURATION_S)
    arrays, anomalies, keys = derive_kernel_attempts(trace)
    found: dict[tuple[int, int], list[dict]] = {}
    for i in range(len(arrays["attempt"])):
        row = {field: arrays[field][i].item() for field in arrays}
        found.setdefault(keys[row["process"]], []).append(row)
    return found, anomalies


def seconds(start: int, end: int) -> float | None:
    if start == NULL or end == NULL:
        return None
    return (end - start) / 1e6


def test_fixture_folders_present():
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_rows_match_schema(name: str):
    widths = {
        pattern.split("/")[0]: len(columns)
        for pattern, columns in GOOGLE_2011_COLUMNS.items()
    }
    tables = [p for p in (FIXTURES / name).iterdir() if p.is_dir()]
    assert {"task_events", "job_events", "machine_events"} <= {t.name for t in tables}
    for table in tables:
        for path in table.iterdir():
            with path.open(newline="") as handle:
                rows = list(csv.reader(handle))
            assert rows, path
            assert all(len(r) == widths[table.name] for r in rows), path
            times = [int(r[0]) for r in rows]
            assert times == sorted(times), f"{path} is not in time order"


def test_lifecycle_ties_fixture():
    trace = read_trace(FIXTURES / "lifecycle-ties", DURATION_S)
    faults = {
        key: check_task_lifecycle(events, trace.window_end)
        for key, events in by_task(trace).items()
    }
    # In file order the ties break the state machine; only the kernel's ordering
    # of same-instant events makes task 100/0 valid. Task 101/0 is an orphan.
    assert faults[100, 0] == "SCHEDULE while unsubmitted"
    assert faults[101, 0] == "event 4 while unsubmitted"
    assert faults[300, 0] is None

    attempts, anomalies = attempts_of("lifecycle-ties")
    first, second = attempts[100, 0]
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert seconds(first["submit_time_us"], first["schedule_time_us"]) == 0.0
    assert seconds(second["submit_time_us"], second["schedule_time_us"]) == 4.0
    assert seconds(first["schedule_time_us"], first["end_time_us"]) == 5.0
    assert seconds(second["schedule_time_us"], second["end_time_us"]) == 11.0
    assert (first["end_event"], second["end_event"]) == (Event.EVICT, Event.FINISH)
    assert (first["cell"], second["cell"]) == (11, 12)

    assert (101, 0) not in attempts
    assert anomalies["orphan_terminal"] == 1
    assert sum(anomalies.values()) == 1

    reused = attempts[300, 0]
    assert [a["end_event"] for a in reused] == [Event.FINISH, Event.KILL]
    assert [seconds(a["schedule_time_us"], a["end_time_us"]) for a in reused] == [
        59.0,
        98.0,
    ]
    job_300 = [r["event"] for r in trace.job_events if r["job"] == 300]
    assert job_300 == [0, 1, FINISH, 0, 1, KILL]
    assert {r["job"] for r in trace.task_events}.isdisjoint({200})
    assert [r["event"] for r in trace.job_events if r["job"] == 200] == [0, KILL]


def test_sentinels_and_usage_fixture():
    trace = read_trace(FIXTURES / "sentinels-and-usage", DURATION_S)
    attempts, anomalies = attempts_of("sentinels-and-usage")
    assert sum(anomalies.values()) == 0

    (censored,) = attempts[400, 0]
    assert censored["submit_class"] == 0
    assert censored["schedule_class"] == 0
    assert censored["end_class"] == 2
    assert censored["end_time_us"] == NULL
    assert censored["end_event"] == Event.FINISH
    rows = by_task(trace)[400, 0]
    assert rows[0]["missing"] == 2
    assert rows[0]["cpu"] is None
    assert rows[-1]["time"] == AFTER

    (zero_cpu,) = attempts[401, 0]
    assert zero_cpu["end_event"] == Event.KILL
    assert zero_cpu["end_time_us"] == 1_200_000_000
    assert {r["cpu"] for r in by_task(trace)[401, 0]} == {0.0}

    capacity = {r["machine"]: r["cpu"] for r in trace.machine_events}
    assert capacity == {21: 0.5, 22: None}
    rates = [(int(r[2]), float(r[5])) for r in trace.task_usage]
    assert [rate > capacity[21] for _, rate in rates] == [True, False, False, False]
    assert all(rate > 0 for job, rate in rates if job == 401)


def test_machine_failure_fixture():
    trace = read_trace(FIXTURES / "machine-failure", DURATION_S)
    attempts, anomalies = attempts_of("machine-failure")
    assert sum(anomalies.values()) == 0

    removal = [r for r in trace.machine_events if r["event"] == 1]
    assert [(r["machine"], r["time"]) for r in removal] == [(31, 700_000_000)]
    evictions = [r for r in trace.task_events if r["event"] == EVICT]
    assert {(r["machine"], r["time"]) for r in evictions} == {(31, 700_000_000)}
    assert len(evictions) == 2

    delays = {
        key: [seconds(a["submit_time_us"], a["schedule_time_us"]) for a in found]
        for key, found in attempts.items()
    }
    assert delays[501, 0] == [1.000001, 1.999993]
    assert delays[501, 1] == [1.999998, 2.999993]
    assert delays[502, 0] == [None]
    assert [a["cell"] for a in attempts[501, 0]] == [31, 32]
    assert attempts[502, 0][0]["end_event"] == Event.KILL
    assert attempts[502, 0][0]["cell"] == NULL

    readd = [r for r in trace.machine_events if r["machine"] == 31 and r["time"] > 0]
    assert [(r["event"], r["time"]) for r in readd] == [(1, 7e8), (0, 1.7e9)]
    assert read_lines(FIXTURES / "machine-failure" / "machine_events")[3][2] == "2"


# ------------------------------------------------------- through the reader


def ingest(name: str, tmp_path: Path) -> TraceStore:
    return ingest_google_2011(FIXTURES / name, tmp_path / f"{name}-store")


@pytest.mark.parametrize("name", NAMES)
def test_reader_accepts_every_fixture_row(name: str, tmp_path: Path):
    store = ingest(name, tmp_path)
    assert store.manifest["tables"]["quarantine"]["rows"] == 0
    for table, counts in store.manifest["source_tables"].items():
        assert counts["rows_rejected"] == 0, table
        rows = len(read_lines(FIXTURES / name / table))
        assert counts["rows_read"] == rows, table


def test_reader_lifecycle_ties_answers(tmp_path: Path):
    store = ingest("lifecycle-ties", tmp_path)
    anomalies = {k: v for k, v in store.manifest["anomalies"].items() if v}
    assert anomalies == {"orphan_terminal": 1}

    processes = store.read("processes").sort("group_id", "process_index", "attempt")
    task_100 = processes.filter(pl.col("group_id") == 100)
    assert task_100["scheduling_delay_us"].to_list() == [0, 4_000_000]
    assert task_100["run_time_us"].to_list() == [5_000_000, 11_000_000]
    assert task_100["end_state"].to_list() == ["EVICT", "FINISH"]

    groups = store.read("groups")
    reused = groups.filter(pl.col("group_id") == 300).sort("incarnation")
    assert reused["end_state"].to_list() == ["FINISH", "KILL"]
    no_tasks = groups.filter(pl.col("group_id") == 200)
    assert no_tasks["processes"].to_list() == [0]


def test_reader_sentinel_answers(tmp_path: Path):
    store = ingest("sentinels-and-usage", tmp_path)
    processes = store.read("processes").sort("group_id")
    censored = processes.row(0, named=True)
    assert censored["end_after_window"] is True
    assert censored["submit_before_window"] is True
    assert censored["end_time_us"] is None
    assert censored["run_time_us"] is None
    usage = store.read("usage").sort("start_time_us", "group_id")
    assert usage["over_capacity"].to_list() == [True, False, False, False]
    assert usage["cpu_usage"][0] == 0.6012
