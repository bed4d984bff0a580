"""First-order impact of failure scenarios with the observed placement kept."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from fault_tables import attempt, cell_events, processes, removals

from muosm_perf.analysis.outages import ObservationWindow, observation_window
from muosm_perf.cli import main
from muosm_perf.errors import ParameterError
from muosm_perf.whatif.fault_impact import (
    killed_attempts,
    scenario_events,
    static_impact,
)
from muosm_perf.whatif.fault_scenarios import fail_fault_cell, scale_failure_rate

ATTEMPTS = processes(
    [
        # On machine 1 from 10 s to 50 s: killed by the REMOVE at 30 s.
        attempt(1, 0, 1, submit=0, schedule=10, end=50, state="FINISH", cell=1),
        # Running since before the window (0 s): killed at 30 s after 30 s.
        attempt(
            1,
            1,
            1,
            submit=None,
            schedule=None,
            end=40,
            state="EVICT",
            cell=1,
            before_window=True,
            cpu=0.25,
        ),
        # Ended before the REMOVE.
        attempt(1, 2, 1, submit=0, schedule=5, end=20, state="FINISH", cell=1),
        # Started after the first REMOVE: killed by the second at 80 s.
        attempt(
            1,
            3,
            1,
            submit=60,
            schedule=70,
            end=None,
            state=None,
            cell=1,
            open_at_end=True,
        ),
        # Never scheduled.
        attempt(1, 4, 1, submit=0, schedule=None, end=35, state="KILL", cell=None),
        # On another machine.
        attempt(2, 0, 1, submit=0, schedule=10, end=50, state="FINISH", cell=2),
    ]
)


def test_killed_attempts_hand_case():
    killed = killed_attempts(ATTEMPTS, removals([(30.0, 1), (80.0, 1)]), 0)
    rows = [
        (row["process_index"], row["killed_us"], row["run_s"], row["cpu_core_s"])
        for row in killed.iter_rows(named=True)
    ]
    assert rows == [
        (0, 30_000_000, 20.0, 10.0),
        (1, 30_000_000, 30.0, 7.5),
        (3, 80_000_000, 10.0, 5.0),
    ]


def test_killed_attempts_none_without_removals():
    assert killed_attempts(ATTEMPTS, removals([]), 0).height == 0


def test_static_impact_fail_cell():
    window = ObservationWindow(0, 100_000_000)
    events = cell_events([(None, 1, "ADD"), (None, 2, "ADD")])
    cells = pl.DataFrame(
        {
            "cell_id": [1, 2],
            "platform": ["a", "b"],
            "domain": [None, None],
            "first_seen_us": [None, None],
            "first_seen_before_window": [True, True],
        },
        schema={
            "cell_id": pl.Int64,
            "platform": pl.String,
            "domain": pl.String,
            "first_seen_us": pl.Int64,
            "first_seen_before_window": pl.Boolean,
        },
    )
    scenario = fail_fault_cell(
        events,
        cells,
        window,
        level="cell",
        key=None,
        at_us=30_000_000,
        duration_s=20.0,
    )
    impact = static_impact(
        ATTEMPTS, cells, events, scenario, window, {"start": 0, "end": 100_000_000}
    )
    assert impact["baseline"]["removals"] == 0
    assert impact["baseline"]["killed_attempts"] == 0
    assert impact["scenario"]["removals"] == 2
    # Two machines down for 20 s out of 100 s each.
    assert impact["scenario"]["availability"] == pytest.approx(0.8)
    # Killed at 30 s: attempts 0 and 1 on machine 1, and the one on machine 2.
    assert impact["scenario"]["killed_attempts"] == 3
    assert impact["scenario"]["lost_cpu_core_s"] == pytest.approx(10 + 7.5 + 10)
    assert impact["change"]["killed_attempts"] == 3
    assert impact["scenario"]["resubmissions_per_hour"] == pytest.approx(
        3 / (100 / 3600)
    )


def test_static_impact_sample_baseline(google_2011_store):
    events = google_2011_store.read("cell_events")
    cells = google_2011_store.read("cells")
    window = observation_window(google_2011_store)
    task_window = google_2011_store.manifest["window_us"]
    same = scale_failure_rate(events, cells, window, 1.0, rng=np.random.default_rng(0))
    impact = static_impact(
        google_2011_store.read("processes"), cells, events, same, window, task_window
    )
    for key, change in impact["change"].items():
        assert change == pytest.approx(0.0), key
    # Every attempt running on a machine at its REMOVE is killed at that instant.
    assert impact["baseline"]["killed_attempts"] >= 439
    assert impact["baseline"]["removals_in_task_window"] == 51


def test_cli_fault_whatif_json(google_2011_store, capsys):
    status = main(
        [
            "fault-whatif",
            str(google_2011_store.path),
            "--fail-level",
            "cell",
            "--fail-at",
            "5000",
            "--fail-for",
            "600",
            "--json",
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    machines_present = google_2011_store.read("cells").filter(
        pl.col("first_seen_before_window") | (pl.col("first_seen_us") <= 5_000_000_000)
    )
    # Every machine present and up at 5000 s goes down then; those already down
    # keep their own outage.
    added = result["change"]["removals"]
    assert 0 < added <= machines_present.height
    assert result["scenario"]["killed_attempts"] > result["baseline"]["killed_attempts"]
    assert (
        result["scenario"]["description"] == "the whole cell down at 5000 s for 600 s"
    )


def test_cli_fault_whatif_text(google_2011_store, capsys):
    status = main(
        ["fault-whatif", str(google_2011_store.path), "--scale-failures", "0"]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "failure rate x0" in text
    assert "attempts killed" in text


def test_cli_fault_whatif_needs_scenario(google_2011_store, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fault-whatif", str(google_2011_store.path)])
    assert exit_info.value.code == 2
    assert "give a scenario" in capsys.readouterr().err


def test_scenario_events_need_time():
    with pytest.raises(ParameterError, match="fail_at_us is missing"):
        scenario_events(None, ObservationWindow(0, 1), fail_level="cell")
