"""Causes of process endings, crash loops, restart delays and lost work."""

from __future__ import annotations

import polars as pl
import pytest
from fault_tables import attempt, processes, removals

from muosm_perf.analysis.failure_causes import (
    attribute_causes,
    cause_summary,
    crash_loops,
    restart_delays,
    tolerance_sensitivity,
)
from muosm_perf.errors import ParameterError

REMOVALS = removals([(100.0, 7), (500.0, 8)])

ATTEMPTS = processes(
    [
        # Running on machine 7 at its REMOVE (100 s), evicted 1 µs later.
        attempt(1, 0, 1, submit=10, schedule=20, end=100.000001, state="EVICT", cell=7),
        # Running on 7, evicted 30 s after the REMOVE.
        attempt(1, 1, 1, submit=10, schedule=20, end=130, state="EVICT", cell=7),
        # Running on 7, killed 200 s after: outside 60 s, inside 300 s.
        attempt(1, 2, 1, submit=10, schedule=20, end=300, state="KILL", cell=7),
        # Running on 7 since before the window, LOST 5 s after.
        attempt(
            1,
            3,
            1,
            submit=None,
            schedule=None,
            end=105,
            state="LOST",
            cell=7,
            before_window=True,
        ),
        # Evicted on machine 9, which had no REMOVE: preemption.
        attempt(2, 0, 1, submit=10, schedule=20, end=100.5, state="EVICT", cell=9),
        # Scheduled on machine 8 at 510 s, after its REMOVE at 500 s.
        attempt(2, 1, 1, submit=505, schedule=510, end=520, state="EVICT", cell=8),
        # Finished on 7 before its REMOVE.
        attempt(2, 2, 1, submit=10, schedule=20, end=90, state="FINISH", cell=7),
        # FAIL right after the REMOVE: not an attributable end state.
        attempt(2, 3, 1, submit=10, schedule=20, end=101, state="FAIL", cell=7),
    ]
)


def causes_by_key(table):
    return {
        (row["group_id"], row["process_index"]): row["cause"]
        for row in table.iter_rows(named=True)
    }


def test_attribution_default_tolerance():
    causes = causes_by_key(attribute_causes(ATTEMPTS, REMOVALS, tolerance_s=60.0))
    assert causes == {
        (1, 0): "machine_removal",
        (1, 1): "machine_removal",
        (1, 2): "user_or_dependency",
        (1, 3): "machine_removal",
        (2, 0): "preemption_or_other",
        (2, 1): "preemption_or_other",
        (2, 2): "finished",
        (2, 3): "process_failure",
    }


def test_attribution_wider_tolerance():
    causes = causes_by_key(attribute_causes(ATTEMPTS, REMOVALS, tolerance_s=300.0))
    assert causes[(1, 2)] == "machine_removal"


def test_attribution_zero_tolerance():
    causes = causes_by_key(attribute_causes(ATTEMPTS, REMOVALS, tolerance_s=0.0))
    assert causes[(1, 0)] == "preemption_or_other"
    assert causes[(1, 1)] == "preemption_or_other"


def test_attribution_delay_column():
    table = attribute_causes(ATTEMPTS, REMOVALS).filter(
        pl.col("cause") == "machine_removal"
    )
    assert sorted(table["after_removal_s"].to_list()) == pytest.approx(
        [0.000001, 5.0, 30.0]
    )


def test_open_attempts_have_no_cause():
    rows = [attempt(3, 0, 1, submit=1, schedule=2, end=None, state=None, cell=7)]
    rows[0]["end_after_window"] = True
    assert attribute_causes(processes(rows), REMOVALS).height == 0


def test_negative_tolerance_raises():
    with pytest.raises(ParameterError, match="tolerance_s must be finite"):
        attribute_causes(ATTEMPTS, REMOVALS, tolerance_s=-1.0)


def test_tolerance_sensitivity_counts():
    rows = tolerance_sensitivity(ATTEMPTS, REMOVALS, (0.001, 60.0, 300.0))
    assert rows[0] == {
        "tolerance_s": 0.001,
        "EVICT": 1,
        "LOST": 0,
        "KILL": 0,
        "other_end_states": 0,
    }
    assert rows[1]["EVICT"] == 2
    assert rows[1]["LOST"] == 1
    assert rows[1]["other_end_states"] == 1
    assert rows[2]["KILL"] == 1


LOOPING = processes(
    [
        attempt(5, 0, 1, submit=0, schedule=1, end=11, state="FAIL", cell=1, cpu=0.5),
        attempt(5, 0, 2, submit=11, schedule=12, end=22, state="FAIL", cell=1, cpu=0.5),
        attempt(5, 0, 3, submit=22, schedule=23, end=33, state="FAIL", cell=1, cpu=0.5),
        attempt(5, 0, 4, submit=33, schedule=34, end=40, state="FINISH", cell=1),
        # Two FAILs only: below the default of three.
        attempt(5, 1, 1, submit=0, schedule=1, end=2, state="FAIL", cell=1),
        attempt(5, 1, 2, submit=2, schedule=3, end=4, state="FAIL", cell=1),
        # Three FAILs, never resubmitted after the last.
        attempt(6, 0, 1, submit=0, schedule=1, end=2, state="FAIL", cell=2),
        attempt(6, 0, 2, submit=2, schedule=3, end=4, state="FAIL", cell=2),
        attempt(6, 0, 3, submit=4, schedule=5, end=6, state="FAIL", cell=2),
        # FAIL, EVICT, FAIL, FAIL, FAIL, then still running at the end.
        attempt(7, 0, 1, submit=0, schedule=1, end=2, state="FAIL", cell=3),
        attempt(7, 0, 2, submit=2, schedule=3, end=4, state="EVICT", cell=3),
        attempt(7, 0, 3, submit=4, schedule=5, end=6, state="FAIL", cell=3),
        attempt(7, 0, 4, submit=6, schedule=7, end=8, state="FAIL", cell=3),
        attempt(7, 0, 5, submit=8, schedule=9, end=10, state="FAIL", cell=3),
        attempt(
            7,
            0,
            6,
            submit=10,
            schedule=11,
            end=None,
            state=None,
            cell=3,
            open_at_end=True,
        ),
    ]
)


def test_crash_loops_found():
    loops = crash_loops(LOOPING)
    rows = [
        (row["group_id"], row["first_attempt"], row["failures"], row["outcome"])
        for row in loops.iter_rows(named=True)
    ]
    assert rows == [
        (5, 1, 3, "FINISH"),
        (6, 1, 3, "not_resubmitted"),
        (7, 3, 3, "running_at_end"),
    ]
    assert loops["cpu_core_s"][0] == pytest.approx(3 * 10 * 0.5)


def test_crash_loops_threshold_two():
    loops = crash_loops(LOOPING, min_failures=2)
    assert loops.height == 4


def test_crash_loops_do_not_cross_processes():
    rows = [
        attempt(8, 0, 1, submit=0, schedule=1, end=2, state="FAIL"),
        attempt(8, 0, 2, submit=2, schedule=3, end=4, state="FAIL"),
        attempt(8, 1, 1, submit=0, schedule=1, end=2, state="FAIL"),
    ]
    assert crash_loops(processes(rows), min_failures=3).height == 0


def test_crash_loops_reject_zero():
    with pytest.raises(ParameterError, match="min_failures must be at least 1"):
        crash_loops(LOOPING, min_failures=0)


def test_restart_delays():
    rows = [
        attempt(9, 0, 1, submit=0, schedule=1, end=10, state="FAIL"),
        attempt(9, 0, 2, submit=10.5, schedule=12, end=20, state="FINISH"),
        attempt(9, 1, 1, submit=0, schedule=1, end=5, state="EVICT"),
    ]
    delays = restart_delays(processes(rows))
    assert delays["end_state"].to_list() == ["FAIL"]
    assert delays["resubmit_s"].to_list() == pytest.approx([0.5])
    assert delays["reschedule_s"].to_list() == pytest.approx([2.0])


def test_cause_summary_lost_work():
    summary = cause_summary(
        ATTEMPTS,
        REMOVALS,
        pl.DataFrame(
            {"cell_id": [7, 8, 9], "platform": ["a", "b", "a"], "domain": [None] * 3},
            schema={"cell_id": pl.Int64, "platform": pl.String, "domain": pl.String},
        ),
        window_start_us=0,
    )
    assert summary["by_end_state"]["EVICT"] == {
        "machine_removal": 2,
        "preemption_or_other": 2,
    }
    assert summary["removal_attributed"]["attempts"] == 3
    assert summary["removal_attributed"]["removals_with_casualties"] == 1
    lost = summary["lost_work"]
    # Removal casualties with a known start: 80.000001 s and 110 s at 0.5 cores.
    assert lost["by_cause"]["machine_removal"]["cpu_core_s"] == pytest.approx(
        0.5 * (80.000001 + 110.0)
    )
    assert lost["attempts_start_unknown"] == 1
    assert lost["cpu_core_s_lower_bound_started_before_window"] == pytest.approx(
        0.5 * 105.0
    )
    platform = summary["by_fault_cell"]["platform"]
    assert platform["top"][0] == {"key": "a", "attempts": 3, "removals": 1}
    assert summary["attempts_per_process"]["max"] == 1
