"""The workload without the effects of machine removals."""

from __future__ import annotations

import polars as pl
from fault_tables import attempt, processes, removals

from muosm_perf.analysis.faults import load_fault_history
from muosm_perf.model import schema
from muosm_perf.whatif.fault_workload import remove_failure_effects

REMOVALS = removals([(100.0, 7), (300.0, 8)])

ATTEMPTS = processes(
    [
        # Killed by the REMOVE of machine 7, resubmitted, killed again on 8,
        # resubmitted and finished.
        attempt(1, 0, 1, submit=10, schedule=20, end=100.000001, state="EVICT", cell=7),
        attempt(
            1, 0, 2, submit=100.00001, schedule=150, end=300.0, state="EVICT", cell=8
        ),
        attempt(
            1, 0, 3, submit=300.00001, schedule=310, end=400, state="FINISH", cell=9
        ),
        # Killed on machine 7 and never resubmitted inside the window.
        attempt(1, 1, 1, submit=10, schedule=20, end=100.5, state="KILL", cell=7),
        # Evicted on machine 9 (no removal), then finished: kept as it is.
        attempt(2, 0, 1, submit=10, schedule=20, end=50, state="EVICT", cell=9),
        attempt(2, 0, 2, submit=50, schedule=60, end=70, state="FINISH", cell=9),
    ]
)


def rows(table):
    return [
        (
            row["group_id"],
            row["process_index"],
            row["attempt"],
            row["submit_time_us"],
            row["end_time_us"],
            row["end_state"],
            row["end_after_window"],
        )
        for row in table.iter_rows(named=True)
    ]


def test_chain_merges_into_last_attempt():
    table, counts = remove_failure_effects(ATTEMPTS, REMOVALS)
    assert table.schema == schema.PROCESSES
    assert rows(table) == [
        (1, 0, 3, 10_000_000, 400_000_000, "FINISH", False),
        (1, 1, 1, 10_000_000, None, None, True),
        (2, 0, 1, 10_000_000, 50_000_000, "EVICT", False),
        (2, 0, 2, 50_000_000, 70_000_000, "FINISH", False),
    ]
    assert counts == {"killed_attempts": 3, "merged": 2, "reopened": 1}


def test_merged_attempt_has_no_observed_delay():
    table, _ = remove_failure_effects(ATTEMPTS, REMOVALS)
    merged = table.filter((pl.col("group_id") == 1) & (pl.col("process_index") == 0))
    assert merged["scheduling_delay_us"].to_list() == [None]
    assert merged["schedule_time_us"].to_list() == [310_000_000]
    kept = table.filter(pl.col("group_id") == 2)
    assert kept["scheduling_delay_us"].to_list() == [10_000_000, 10_000_000]


def test_no_removals_changes_nothing():
    table, counts = remove_failure_effects(ATTEMPTS, removals([]))
    assert table.equals(ATTEMPTS.sort("group_id", "process_index", "attempt"))
    assert counts == {"killed_attempts": 0, "merged": 0, "reopened": 0}


def test_sample_killed_attempts_all_resubmitted(google_2011_store):
    history = load_fault_history(google_2011_store)
    original = google_2011_store.read("processes")
    table, counts = remove_failure_effects(original, history.removals)
    assert counts["killed_attempts"] == 439
    assert table.height == original.height - counts["merged"]
    assert (
        table.select(pl.struct("group_id", "process_index").n_unique()).item()
        == original.select(pl.struct("group_id", "process_index").n_unique()).item()
    )
