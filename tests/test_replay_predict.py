"""Replay inputs built from a store, and the validation against the observations."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from conftest import machine_row, task_row
from scipy import stats

import muosm_perf
from muosm_perf.analysis.characterize import characterize
from muosm_perf.cli import main
from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.predict.replay import prepare_replay, replay, run_prepared
from muosm_perf.predict.validation import (
    censored_summary,
    delay_validation,
    ks_distance,
    utilization_mae,
)
from muosm_perf.traces.google2011 import ingest_google_2011

SUBMIT, SCHEDULE, FINISH, KILL = 0, 1, 4, 5
AFTER_WINDOW = 2**63 - 1


@pytest.fixture
def small_store(make_trace, tmp_path):
    tasks = [
        # A: submitted and scheduled before the window, finishes inside it.
        task_row(0, 10, 0, SUBMIT),
        task_row(0, 10, 0, SCHEDULE, machine=1),
        # B: observed delay 2 s.
        task_row(1_000_000_000, 11, 0, SUBMIT),
        task_row(1_002_000_000, 11, 0, SCHEDULE, machine=1),
        # C: scheduled without a SUBMIT.
        task_row(1_500_000_000, 12, 0, SCHEDULE, machine=2),
        # D: killed while pending.
        task_row(1_600_000_000, 13, 0, SUBMIT),
        task_row(1_700_000_000, 13, 0, KILL),
        # E: still pending at the end.
        task_row(1_800_000_000, 14, 0, SUBMIT),
        # F: observed delay 1 s, ends after the window.
        task_row(1_900_000_000, 15, 0, SUBMIT),
        task_row(1_901_000_000, 15, 0, SCHEDULE, machine=2),
        task_row(AFTER_WINDOW, 15, 0, FINISH, machine=2),
        task_row(2_000_000_000, 11, 0, FINISH, machine=1),
        task_row(2_500_000_000, 12, 0, FINISH, machine=2),
        task_row(3_000_000_000, 10, 0, FINISH, machine=1),
    ]
    machines = [
        machine_row(0, 1, 0, cpu=0.5, memory=0.5),
        machine_row(0, 2, 0, cpu=0.5, memory=0.5),
        machine_row(5_000_000_000, 2, 2, cpu=0.25, memory=0.5),
    ]
    trace = make_trace(sorted(tasks, key=lambda row: row[0]), machines=machines)
    return ingest_google_2011(trace, tmp_path / "store")


def by_job(prepared):
    frame = prepared.attempts.with_row_index("position")
    return {row["group_id"]: row for row in frame.iter_rows(named=True)}


def test_inputs_from_store(small_store):
    prepared = prepare_replay(small_store, grid_step_s=60)
    inputs = prepared.inputs
    start, end = 1_000_000_000, 3_000_000_000
    assert prepared.window_us == {"start": start, "end": end}
    rows = by_job(prepared)
    position = {job: rows[job]["position"] for job in rows}

    submit = inputs.submit_time_us
    assert submit[position[10]] == start  # SUBMIT before the window
    assert submit[position[12]] == 1_500_000_000  # the SCHEDULE, SUBMIT missing
    assert submit[position[13]] == 1_600_000_000
    assert np.all(np.diff(submit) >= 0)

    duration = inputs.duration_us
    assert duration[position[10]] == end - start  # scheduled before the window
    assert duration[position[11]] == 2_000_000_000 - 1_002_000_000
    assert duration[position[12]] == 1_000_000_000
    assert duration[position[13]] == -1
    assert duration[position[14]] == -1
    assert duration[position[15]] == -1  # ends after the window

    cancel = inputs.end_time_us
    assert cancel[position[13]] == 1_700_000_000
    assert cancel[position[11]] == NULL_INT
    assert cancel[position[14]] == NULL_INT

    assert inputs.machines == 2
    assert inputs.machine_event_time_us.tolist() == [start, start]
    assert prepared.input_counts["machine_events_dropped"] == 1
    assert inputs.horizon_us == end
    assert rows[11]["observed_delay_s"] == pytest.approx(2.0)
    assert rows[12]["observed_delay_s"] is None


def test_replay_of_small_store(small_store):
    result = replay(small_store, grid_step_s=60)
    rows = {row["group_id"]: row for row in result.attempts.iter_rows(named=True)}
    start = 1_000_000_000
    # Every request fits at once: each attempt is placed when it arrives.
    assert rows[10]["predicted_schedule_time_us"] == start
    assert rows[13]["predicted_schedule_time_us"] == 1_600_000_000
    assert rows[10]["predicted_cell_id"] == 1
    assert rows[10]["predicted_delay_s"] is None  # SUBMIT before the window
    assert rows[12]["predicted_delay_s"] is None  # SUBMIT missing
    assert rows[11]["predicted_delay_s"] == 0.0
    assert result.totals["cancelled"] == 0
    assert result.totals["unschedulable"] == 0

    middle = result.validation.filter(pl.col("band") == "middle").row(0, named=True)
    assert middle["observed_n"] == 2
    assert middle["observed_p50_s"] == pytest.approx(1.5)
    # Both sides are B and F, the attempts with an observed delay; D and E have
    # none, so their predicted delays stay out.
    assert middle["predicted_n"] == 2
    assert middle["predicted_censored"] == 0
    assert middle["predicted_p50_s"] == 0.0
    expected_ks = stats.ks_2samp([2.0, 1.0], [0.0] * 2).statistic
    assert middle["ks_distance"] == pytest.approx(expected_ks)
    free = result.validation.filter(pl.col("band") == "free").row(0, named=True)
    assert free["observed_n"] == 0
    assert free["ks_distance"] is None

    summary = result.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["bands"]["middle"]["observed"]["p50"] == pytest.approx(1.5)
    assert summary["bands"]["middle"]["censored"] == 0
    assert summary["counts"]["evictions_by_band"]["middle"] == {
        "observed": 0,
        "predicted": 0,
        "preempted": 0,
    }
    assert summary["offers"] == {}


def test_predicted_occupancy_small_store(small_store):
    result = replay(small_store, grid_step_s=60)
    occupancy = result.occupancy
    assert (
        occupancy["time_us"].to_list() == result.observed_occupancy["time_us"].to_list()
    )
    at = dict(zip(occupancy["time_us"], occupancy["running"], strict=True))
    # The grid has a point every 60 s from 1e9. At the start A and B run; at
    # 1.66e9 also C and D; after D's end at 1.7e9 and E's arrival at 1.8e9, A, B,
    # C and E; from 1.9e9 F as well.
    assert at[1_000_000_000] == 2
    assert at[1_660_000_000] == 4
    assert at[1_840_000_000] == 4
    assert at[1_960_000_000] == 5
    last = occupancy.row(-1, named=True)
    assert last["cpu_capacity"] == 1.0
    # The last point is 2.98e9: B and C have ended, A ends at 3e9, E and F run on.
    assert last["time_us"] == 2_980_000_000
    assert last["running"] == 3
    assert last["cpu_utilization"] == pytest.approx(0.3)


def test_unknown_policy_rejected(small_store):
    prepared = prepare_replay(small_store)
    with pytest.raises(ParameterError, match=r"policy 'lottery' is not known"):
        run_prepared(prepared, policy="lottery")


def test_utilization_mae_skips_nulls():
    observed = pl.DataFrame(
        {"cpu_utilization": [0.5, None, 0.2], "memory_utilization": [0.1, 0.2, 0.3]}
    )
    predicted = pl.DataFrame(
        {"cpu_utilization": [0.25, 0.9, 0.3], "memory_utilization": [None] * 3},
        schema={"cpu_utilization": pl.Float64, "memory_utilization": pl.Float64},
    )
    result = utilization_mae(observed, predicted)
    assert result["cpu"] == pytest.approx(100 * (0.25 + 0.1) / 2)
    assert result["memory"] is None


def test_sample_replay_validation(google_2011_store):
    result = replay(google_2011_store)
    processes = google_2011_store.read("processes")
    assert result.attempts.height == processes.height
    assert result.input_counts["machines"] == 12583

    # The observed side is the store's own characterization.
    observed = characterize(google_2011_store)["scheduling_delay_s"]
    for row in result.validation.iter_rows(named=True):
        expected = observed[row["band"]]
        assert row["observed_n"] == expected["n"]
        assert row["observed_p50_s"] == pytest.approx(expected["p50"], rel=1e-12)

    # Predicted placements never precede the submission.
    placed = result.attempts.filter(pl.col("predicted_schedule_time_us").is_not_null())
    assert (placed["predicted_schedule_time_us"] >= placed["submit_time_us"]).all()
    delays = result.attempts["predicted_delay_s"].drop_nulls()
    assert delays.min() >= 0

    # The error is recomputed here from the two series.
    both = pl.DataFrame(
        {
            "o": result.observed_occupancy["cpu_utilization"],
            "p": result.occupancy["cpu_utilization"],
        }
    ).drop_nulls()
    expected_mae = 100 * np.mean(np.abs(both["p"].to_numpy() - both["o"].to_numpy()))
    assert result.utilization_mae["cpu"] == pytest.approx(expected_mae)

    # Requests never exceed capacity in the model.
    assert (result.occupancy["cpu_requested"] <= result.occupancy["cpu_capacity"]).all()
    summary = result.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["events_per_second"] > 0


def test_cli_replay_json(small_store, capsys):
    status = main(
        [
            "replay",
            str(small_store.path),
            "--policy",
            "fifo+worst-fit",
            "--job-decision-s",
            "0.5",
            "--json",
        ]
    )
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["policy"] == "fifo+worst-fit"
    assert set(summary["bands"]["middle"]) == {
        "observed",
        "predicted",
        "censored",
        "ks",
    }
    for side in ("observed", "predicted"):
        assert {"p50", "p90", "p99"} <= set(summary["bands"]["middle"][side])
    assert set(summary["utilization_mae"]) == {"cpu", "memory"}
    assert summary["events_per_second"] > 0
    # Every batch costs 0.5 s: B is placed 0.5 s after its SUBMIT.
    assert summary["bands"]["middle"]["predicted"]["p50"] == pytest.approx(0.5)


def test_cli_rejects_bad_supervision(small_store, capsys):
    status = main(["replay", str(small_store.path), "--supervision", "sometimes"])
    assert status == 2
    assert "supervision 'sometimes' is not valid" in capsys.readouterr().err


def test_package_replay_from_path(small_store):
    result = muosm_perf.replay(small_store.path, policy="priority+best-fit", seed=3)
    assert result.policy.name == "priority+best-fit"
    assert result.policy.seed == 3


def test_hold_leaves_out_never_scheduled(small_store):
    held = prepare_replay(small_store, unscheduled="hold")
    replayed = prepare_replay(small_store)
    # E (job 14) is the only attempt never scheduled and pending at the end.
    assert held.input_counts["held_unscheduled"] == 1
    assert held.inputs.processes == replayed.inputs.processes - 1
    assert 14 not in held.attempts["group_id"].to_list()


def test_same_seed_same_result(small_store):
    prepared = prepare_replay(small_store)
    first = run_prepared(prepared, policy="shortest+sampled", seed=11)
    second = run_prepared(prepared, policy="shortest+sampled", seed=11)
    assert first.attempts.equals(second.attempts)
    assert first.occupancy.equals(second.occupancy)


def test_validation_censors_unplaced_attempts():
    # Middle band: observed delays 1, 2, 3 and 4 s; the replay placed three of
    # those attempts after 0.5, 1.5 and 2.5 s and never placed the fourth. A fifth
    # attempt has no observed delay and a sixth no predicted side: both leave.
    attempts = pl.DataFrame(
        {
            "band": ["middle"] * 6,
            "observed_delay_s": [1.0, 2.0, 3.0, 4.0, None, 5.0],
            "predicted_delay_s": [0.5, 1.5, 2.5, None, 9.0, None],
            "predicted_censored": [False, False, False, True, False, False],
        }
    )
    row = (
        delay_validation(attempts).filter(pl.col("band") == "middle").row(0, named=True)
    )
    assert row["observed_n"] == 4
    assert row["observed_p50_s"] == pytest.approx(2.5)
    assert row["predicted_n"] == 4
    assert row["predicted_censored"] == 1
    # Ranks 0..3 with the censored one last: p50 sits between ranks 1 and 2.
    assert row["predicted_p50_s"] == pytest.approx(2.0)
    assert row["predicted_p90_s"] is None
    assert row["predicted_mean_s"] is None
    # The predicted distribution function is 1/4, 1/2, 3/4 at 0.5, 1.5, 2.5 and
    # stays at 3/4; the observed one is 1 from 4 s on. The largest gap is 1/4.
    assert row["ks_distance"] == pytest.approx(0.25)


def test_ks_distance_with_censoring_matches_infinity():
    rng = np.random.default_rng(5)
    observed = rng.exponential(size=40)
    predicted = rng.exponential(size=30)
    with_infinity = np.concatenate([predicted, np.full(7, np.inf)])
    expected = stats.ks_2samp(observed, with_infinity).statistic
    assert ks_distance(observed, predicted, censored=7) == pytest.approx(expected)


def test_censored_summary_without_censoring():
    values = np.array([3.0, 1.0, 2.0])
    summary = censored_summary(values, 0)
    assert summary["n"] == 3
    assert summary["mean"] == pytest.approx(2.0)
    assert summary["p50"] == pytest.approx(2.0)


def test_censored_summary_all_censored():
    summary = censored_summary(np.zeros(0), 3)
    assert summary["n"] == 3
    assert summary["p50"] is None


def test_cli_replay_options(small_store, capsys):
    status = main(
        [
            "replay",
            str(small_store.path),
            "--policy",
            "priority+first-fit+offers",
            "--refuse-s",
            "2",
            "--framework-placements",
            "best-fit,worst-fit",
        ]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "policy      priority+first-fit+offers" in text
    assert "offers middle" in text
    status = main(["replay", str(small_store.path), "--policy", "fifo+first-fit+x"])
    assert status == 2
    assert "policy 'fifo+first-fit+x' is not valid" in capsys.readouterr().err


def test_cli_replay_names_the_bad_option(small_store, capsys):
    argv = ["replay", str(small_store.path)]
    assert main([*argv, "--cpu-overcommit", "0"]) == 2
    assert "--cpu-overcommit is 0.0; give a finite factor > 0" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--seed", "-1"]) == 2
    assert "--seed is -1" in capsys.readouterr().err


def test_cli_replay_warns_of_ignored_options(small_store, caplog):
    argv = ["replay", str(small_store.path), "--refuse-s", "2", "--candidates", "3"]
    with caplog.at_level("WARNING", logger="muosm_perf.cli.replay"):
        assert main(argv) == 0
    assert "--refuse-s applies only with +offers; ignored" in caplog.text
    assert "--candidates applies only to 'sampled' placement; ignored" in caplog.text


def test_preemption_replay_counts_by_band(small_store):
    result = replay(small_store, grid_step_s=60, policy="priority+first-fit+preempt")
    assert result.policy.preemption
    counts = result.summary()["counts"]["evictions_by_band"]
    assert set(counts) >= {"free", "middle", "production"}
    total = sum(band["predicted"] for band in counts.values())
    assert total == result.totals["evictions"]
    preempted = sum(band["preempted"] for band in counts.values())
    assert preempted == result.totals["preemptions"]
