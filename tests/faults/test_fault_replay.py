"""Failure what-ifs by replay: the kill log read as lost work and recovery."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from muosm_perf.cli import main
from muosm_perf.kernels._replay_kernel import (
    GAVE_UP_AFTER_KILL,
    KILLED,
    KILLED_WITH_GROUP,
    PLACED_AGAIN,
)
from muosm_perf.kernels.supervision import SupervisionPolicy
from muosm_perf.whatif.fault_replay import (
    _peak_per_minute,
    compare_supervision,
    kill_table,
    run_metrics,
)

S = 1_000_000  # microseconds per second


def fake_replay():
    """A replay of three processes with a hand-written kill log."""
    attempts = pl.DataFrame(
        {
            "group_id": [1, 1, 2],
            "process_index": [0, 1, 0],
            "attempt": [1, 1, 1],
            "predicted_schedule_time_us": [10 * S, 20 * S, None],
        },
        schema={
            "group_id": pl.Int64,
            "process_index": pl.Int64,
            "attempt": pl.Int32,
            "predicted_schedule_time_us": pl.Int64,
        },
    )
    log = np.array(
        [
            [0, 1, 0, 0, 0],
            [50 * S, 50 * S, 60 * S, 80 * S, 80 * S],
            [KILLED, KILLED_WITH_GROUP, PLACED_AGAIN, KILLED, GAVE_UP_AFTER_KILL],
        ],
        dtype=np.int64,
    )
    result = SimpleNamespace(
        attempts=attempts,
        kill_log=log,
        totals={"running_at_end": 1, "pending_at_end": 1},
        kernel_seconds=0.0,
        summary=lambda: {"bands": {}},
    )
    prepared = SimpleNamespace(
        inputs=SimpleNamespace(processes=3, cpu_request=np.array([0.5, 0.25, 1.0])),
        window_us={"start": 0, "end": 3600 * S},
    )
    return result, prepared


def test_kill_table_pairs_kills_and_placements():
    result, prepared = fake_replay()
    table = kill_table(result, prepared, result.kill_log)
    rows = table.select(
        "process",
        "killed_us",
        "with_group",
        "run_start_us",
        "given_up",
        "recovered_us",
    ).rows()
    assert rows == [
        (0, 50 * S, False, 10 * S, False, 60 * S),
        (1, 50 * S, True, 20 * S, False, None),
        (0, 80 * S, False, 60 * S, True, None),
    ]
    assert table["lost_cpu_core_s"].to_list() == pytest.approx([20.0, 7.5, 10.0])
    assert table["recovery_s"].to_list() == [10.0, None, None]


def test_run_metrics_counts():
    result, prepared = fake_replay()
    metrics = run_metrics(
        result, prepared, SupervisionPolicy(kind="give-up", max_restarts=1)
    )
    assert metrics["kills"] == 3
    assert metrics["kills_with_group"] == 1
    assert metrics["given_up"] == 1
    assert metrics["restarts"] == 2
    assert metrics["restarts_per_hour"] == pytest.approx(2.0)
    assert metrics["lost_cpu_core_s"] == pytest.approx(37.5)
    assert metrics["recovery_s"]["n"] == 1
    assert metrics["recovery_s"]["p50"] == pytest.approx(10.0)
    assert metrics["unrecovered_at_end"] == 1
    assert metrics["restarts_peak_per_minute"] == 2


def test_peak_per_minute():
    times = np.array([0, 30, 59, 61, 200], dtype=np.int64) * S
    assert _peak_per_minute(times) == 3
    assert _peak_per_minute(np.empty(0, np.int64)) == 0


@pytest.fixture(scope="module")
def strategies(google_2011_store):
    return compare_supervision(google_2011_store, ("immediate", "give-up:0"))


def test_give_up_restarts_nothing(strategies):
    immediate, give_up = strategies["runs"]
    assert give_up["supervision"] == "give-up:0"
    assert give_up["restarts"] == 0
    assert give_up["given_up"] == give_up["kills"]
    assert immediate["given_up"] == 0
    assert immediate["restarts"] == immediate["kills"]
    recovered = immediate["recovery_s"]["n"]
    assert recovered + immediate["unrecovered_at_end"] == immediate["restarts"]


def test_replay_kills_near_observed_endings(strategies):
    observed = strategies["observed_removal_endings"]
    assert observed["total"] == observed["EVICT"] + observed["KILL"] + observed["LOST"]
    assert strategies["workload"]["killed_attempts"] == observed["total"]
    predicted = strategies["runs"][0]["kills"]
    # The replay places processes elsewhere than the trace did, so the machines
    # that fail hold other processes; the count agrees only roughly.
    assert 0.5 * observed["total"] < predicted < 1.5 * observed["total"]


def test_cli_compares_strategies(google_2011_store, capsys):
    status = main(
        [
            "fault-whatif",
            str(google_2011_store.path),
            "--supervision",
            "immediate",
            "--supervision",
            "backoff:10:3600",
            "--json",
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert [run["supervision"] for run in result["runs"]] == [
        "immediate",
        "backoff:10:3600",
    ]


def test_cli_scenario_with_replay(google_2011_store, capsys):
    status = main(
        [
            "fault-whatif",
            str(google_2011_store.path),
            "--scale-failures",
            "2",
            "--replay",
            "--json",
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    baseline = result["replay"]["baseline"]["runs"][0]
    scenario = result["replay"]["scenario"]["runs"][0]
    assert baseline["supervision"] == "immediate"
    assert scenario["kills"] > baseline["kills"]
    change = result["replay"]["change"]["immediate"]
    assert change["kills"] == scenario["kills"] - baseline["kills"]
    assert change["lost_cpu_core_s"] == pytest.approx(
        scenario["lost_cpu_core_s"] - baseline["lost_cpu_core_s"]
    )
