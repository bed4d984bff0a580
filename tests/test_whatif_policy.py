"""The policy a scenario replays with: calibration by default, overrides, records."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import machine_row, task_row
from whatif_helpers import ToyBase, synthetic_store, toy_evaluation  # noqa: F401

from muosm_perf.predict.replay import (
    DEFAULT_POLICY,
    prepare_replay,
    resolve_policy,
    run_prepared,
)
from muosm_perf.predict.views import CALIBRATION
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.whatif.base import load_base
from muosm_perf.whatif.evaluate import ReplayEvaluation
from muosm_perf.whatif.outputs import DEFAULT_OUTPUTS, compute_outputs
from muosm_perf.whatif.scenario import Scenario, expand_sweep
from muosm_perf.whatif.search import find_min_machines
from muosm_perf.whatif.sweep import REPLAY_COLUMN_TYPES, REPLAY_COLUMNS, run_sweep

SUBMIT, SCHEDULE, FINISH = 0, 1, 4

OUTPUTS = (*DEFAULT_OUTPUTS, "all_delay_mean_s", "all_delay_max_s", "placements")


def s(seconds: float) -> int:
    return int(seconds * 1_000_000)


def test_default_evaluation_equals_calibrated_replay(synthetic_store):  # noqa: F811
    base = load_base(synthetic_store)
    evaluation = ReplayEvaluation(outputs=OUTPUTS)
    table = run_sweep(base, [Scenario(name="default", seed=3)], evaluation)

    prepared = prepare_replay(synthetic_store, unscheduled="hold")
    assert base.unscheduled == "hold"
    assert base.prepared.inputs.processes == prepared.inputs.processes
    policy = resolve_policy(DEFAULT_POLICY, 3).with_fields(**CALIBRATION)
    result = run_prepared(prepared, policy=policy, seed=3)
    expected = compute_outputs(OUTPUTS, result, prepared, seed=3)

    row = table.row(0, named=True)
    for name in OUTPUTS:
        assert row[name] == expected[name], name
    assert row["placements"] == result.totals["placements"]
    assert row["policy"] == DEFAULT_POLICY
    assert row["replay.calibrated"] is True
    assert row["replay.cpu_overcommit"] == CALIBRATION["cpu_overcommit"]
    assert row["replay.schedulers"] == CALIBRATION["schedulers"]
    assert row["replay.job_decision_s"] == CALIBRATION["job_decision_s"]

    plain = run_prepared(prepared, policy=DEFAULT_POLICY, seed=3)
    assert result.totals["batches"] > 0
    assert plain.totals["scheduler_busy_us"] == 0
    assert result.totals["scheduler_busy_us"] > 0


@pytest.fixture
def one_machine_store(make_trace, tmp_path):
    """One machine of CPU 0.5 and six one-task jobs submitted at 1000 s.

    Every task requests 0.1 CPU and the trace schedules all of them at once, so
    with the trace's capacity five fit and the sixth waits for one to end at
    1900 s; with capacity taken 1.5 times all six fit.
    """
    tasks = []
    for job in range(1, 7):
        tasks.append(task_row(s(1000), job, 0, SUBMIT, priority=9, cpu=0.1))
        tasks.append(
            task_row(s(1000), job, 0, SCHEDULE, machine=1, priority=9, cpu=0.1)
        )
        tasks.append(task_row(s(1900), job, 0, FINISH, machine=1, priority=9, cpu=0.1))
    tasks.append(task_row(s(3000), 99, 0, SUBMIT, priority=0, cpu=0.0))
    trace = make_trace(tasks, machines=[machine_row(0, 1, 0, cpu=0.5, memory=1.0)])
    return ingest_google_2011(trace, tmp_path / "store")


def test_one_scheduler_serializes_decisions(one_machine_store):
    base = load_base(one_machine_store)
    evaluation = ReplayEvaluation(outputs=("all_delay_max_s", "all_delay_mean_s"))
    parallel = evaluation(base, Scenario())
    serial = evaluation(base, Scenario(replay={"schedulers": 1}))
    # 40 schedulers take the six jobs at once, 1.5 s each; one takes them in turn.
    assert parallel["all_delay_max_s"] == pytest.approx(1.5)
    assert serial["all_delay_max_s"] == pytest.approx(6 * 1.5)
    assert serial["all_delay_mean_s"] == pytest.approx(1.5 * (1 + 6) / 2)


def test_overcommit_changes_placements(one_machine_store):
    base = load_base(one_machine_store)
    evaluation = ReplayEvaluation(outputs=("all_delay_max_s", "placements"))
    overcommitted = evaluation(base, Scenario(replay={"job_decision_s": 0.0}))
    exact = evaluation(
        base, Scenario(replay={"job_decision_s": 0.0, "cpu_overcommit": 1.0})
    )
    assert overcommitted["all_delay_max_s"] == 0.0
    # Five tasks of 0.1 CPU fill the machine; the sixth waits 900 s for one to end.
    assert exact["all_delay_max_s"] == pytest.approx(900.0)
    assert overcommitted["placements"] == exact["placements"] == 6


def test_uncalibrated_scenario_is_the_plain_replay(one_machine_store):
    base = load_base(one_machine_store)
    evaluation = ReplayEvaluation(outputs=("all_delay_max_s",))
    plain = evaluation(base, Scenario(calibrated=False))
    assert plain["all_delay_max_s"] == pytest.approx(900.0)


def test_table_records_the_settings_each_row_ran_with():
    template = Scenario(name="toy", replay={"schedulers": 5}, seed=2)
    scenarios = expand_sweep(
        template,
        {
            "policy": ["priority+first-fit", "fifo+sampled+preempt"],
            "replay.cpu_overcommit": [1, 2.0],
            "replay.calibrated": [True, False],
        },
    )
    table = run_sweep(ToyBase(machines=10, offered_load=5.0), scenarios, toy_evaluation)
    for column in REPLAY_COLUMNS:
        assert table.schema[column] == REPLAY_COLUMN_TYPES[column]
    assert table.columns.count("replay.cpu_overcommit") == 1
    assert (
        table["policy"].to_list()
        == ["priority+first-fit"] * 4 + ["fifo+sampled+preempt"] * 4
    )
    assert table["replay.cpu_overcommit"].to_list() == [1.0, 1.0, 2.0, 2.0] * 2
    assert table["replay.calibrated"].to_list() == [True, False] * 4
    assert table["replay.memory_overcommit"].to_list() == [1.5, 1.0] * 4
    assert table["replay.job_decision_s"].to_list() == [1.5, 0.0] * 4
    assert table["replay.schedulers"].unique().to_list() == [5]
    assert table["replay.supervision"].unique().to_list() == ["immediate"]


def test_search_uses_the_template_policy():
    template = Scenario(
        name="toy",
        policy="fifo+best-fit",
        calibrated=False,
        replay={"schedulers": 3, "optimistic": True},
    )
    result = find_min_machines(
        ToyBase(machines=100, offered_load=60.0),
        toy_evaluation,
        objective="delay_s",
        threshold=2.0,
        template=template,
    )
    table = result.table
    assert table.height == result.points.height
    assert table["policy"].unique().to_list() == ["fifo+best-fit"]
    assert table["replay.schedulers"].unique().to_list() == [3]
    assert table["replay.optimistic"].unique().to_list() == [True]
    assert table["replay.calibrated"].unique().to_list() == [False]
    assert table["replay.cpu_overcommit"].unique().to_list() == [1.0]


def test_swept_policy_with_option_replays(synthetic_store):  # noqa: F811
    base = load_base(synthetic_store)
    evaluation = ReplayEvaluation(outputs=("all_submitted", "placements"))
    scenarios = expand_sweep(
        Scenario(name="policies"),
        {
            "policy": [
                "priority+first-fit",
                "priority+first-fit+preempt",
                "priority+sampled+offers",
            ]
        },
    )
    table = run_sweep(base, scenarios, evaluation)
    assert table["policy"].to_list() == [
        "priority+first-fit",
        "priority+first-fit+preempt",
        "priority+sampled+offers",
    ]
    assert table["all_submitted"].n_unique() == 1
    assert table.filter(pl.col("placements") <= 0).height == 0
