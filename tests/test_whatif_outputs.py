"""Outputs of a replayed scenario, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import machine_row, task_row

from muosm_perf.errors import ScenarioError
from muosm_perf.predict.replay import run_prepared
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.whatif.base import load_base
from muosm_perf.whatif.evaluate import ReplayEvaluation, apply_scenario
from muosm_perf.whatif.machines import ResizeMachines
from muosm_perf.whatif.outputs import (
    check_output_name,
    compute_outputs,
    delays_by_attempt,
    lifecycle_message_times,
    output_dtype,
)
from muosm_perf.whatif.scenario import Scenario

SUBMIT, SCHEDULE, FINISH, KILL = 0, 1, 4, 5


def s(seconds: float) -> int:
    return round(seconds * 1e6)


@pytest.fixture
def one_machine_base(make_trace, tmp_path):
    """One machine of CPU 0.5 and five attempts whose replay is worked out by hand.

    The replay places A at 1000 s; B (0.4 CPU) waits for A to end at 1100 s;
    C (middle band) waits behind B until 1140 s; D (free) is killed while pending
    at 1035 s; E requests 0.6 CPU, more than the machine has, and waits until the
    window ends at 2000 s.
    """
    tasks = [
        task_row(s(1000), 1, 0, SUBMIT, priority=9, cpu=0.4, memory=0.1),
        task_row(s(1000), 1, 0, SCHEDULE, machine=1, priority=9, cpu=0.4, memory=0.1),
        task_row(s(1010), 2, 0, SUBMIT, priority=9, cpu=0.4, memory=0.1),
        task_row(s(1010), 2, 0, SCHEDULE, machine=1, priority=9, cpu=0.4, memory=0.1),
        task_row(s(1020), 3, 0, SUBMIT, priority=4, cpu=0.4, memory=0.1),
        task_row(s(1020), 3, 0, SCHEDULE, machine=1, priority=4, cpu=0.4, memory=0.1),
        task_row(s(1025), 4, 0, SUBMIT, priority=0, cpu=0.1, memory=0.1),
        task_row(s(1030), 3, 0, FINISH, machine=1, priority=4, cpu=0.4, memory=0.1),
        task_row(s(1035), 4, 0, KILL, priority=0, cpu=0.1, memory=0.1),
        task_row(s(1050), 2, 0, FINISH, machine=1, priority=9, cpu=0.4, memory=0.1),
        task_row(s(1100), 1, 0, FINISH, machine=1, priority=9, cpu=0.4, memory=0.1),
        task_row(s(1200), 5, 0, SUBMIT, priority=4, cpu=0.6, memory=0.1),
        task_row(s(1200), 5, 0, SCHEDULE, machine=1, priority=4, cpu=0.6, memory=0.1),
        task_row(s(2000), 5, 0, FINISH, machine=1, priority=4, cpu=0.6, memory=0.1),
    ]
    trace = make_trace(tasks, machines=[machine_row(0, 1, 0, cpu=0.5, memory=0.5)])
    store = ingest_google_2011(trace, tmp_path / "store")
    return load_base(store)


def test_delays_by_attempt_by_hand(one_machine_base):
    prepared = one_machine_base.prepared
    result = run_prepared(prepared)
    delays = delays_by_attempt(result, prepared).sort("delay_s")
    assert delays["band"].to_list() == ["production", "production", "middle", "middle"]
    assert delays["delay_s"].to_list() == [0.0, 90.0, 120.0, 800.0]
    assert delays["censored"].to_list() == [False, False, False, True]


def test_outputs_by_hand(one_machine_base):
    prepared = one_machine_base.prepared
    result = run_prepared(prepared)
    names = [
        "production_delay_mean_s",
        "production_delay_p50_s",
        "production_delay_max_s",
        "middle_delay_p50_s",
        "all_delay_mean_s",
        "all_delay_p50_s",
        "all_delay_p90_s",
        "free_delay_p95_s",
        "free_submitted",
        "middle_submitted",
        "middle_unscheduled",
        "middle_unscheduled_fraction",
        "free_unscheduled_fraction",
        "machines",
        "cancelled",
        "unschedulable",
        "placements",
        "evictions",
    ]
    outputs = compute_outputs(names, result, prepared)
    assert outputs["production_delay_mean_s"] == 45.0
    assert outputs["production_delay_p50_s"] == 45.0
    assert outputs["production_delay_max_s"] == 90.0
    assert outputs["middle_delay_p50_s"] == 460.0
    assert outputs["all_delay_mean_s"] == 252.5
    assert outputs["all_delay_p50_s"] == 105.0
    # Linear interpolation between the 3rd and 4th of 4 sorted values.
    assert outputs["all_delay_p90_s"] == pytest.approx(120 + 0.7 * 680)
    assert outputs["free_delay_p95_s"] is None
    assert outputs["free_submitted"] == 0
    assert outputs["middle_submitted"] == 2
    assert outputs["middle_unscheduled"] == 1
    assert outputs["middle_unscheduled_fraction"] == 0.5
    assert outputs["free_unscheduled_fraction"] is None
    assert outputs["machines"] == 1
    assert outputs["cancelled"] == 1
    assert outputs["unschedulable"] == 1
    assert outputs["placements"] == 3
    assert outputs["evictions"] == 0


def test_no_machines_censors_every_attempt(one_machine_base):
    prepared = apply_scenario(
        one_machine_base, Scenario(transforms=(ResizeMachines(count=0),))
    )
    result = run_prepared(prepared)
    outputs = compute_outputs(
        ["all_submitted", "all_unscheduled", "all_delay_max_s", "machines"],
        result,
        prepared,
    )
    # D is killed while pending at 1035 s, so four attempts remain, all waiting.
    assert outputs["all_submitted"] == 4
    assert outputs["all_unscheduled"] == 4
    assert outputs["all_delay_max_s"] == 1000.0
    assert outputs["machines"] == 0


def test_lifecycle_messages_by_hand(one_machine_base):
    prepared = one_machine_base.prepared
    result = run_prepared(prepared)
    times = lifecycle_message_times(result, prepared) / 1e6
    submits = [1000, 1010, 1020, 1025, 1200]
    schedules = [1000, 1100, 1140]
    ends = [1100, 1140, 1150]
    np.testing.assert_array_equal(times, sorted(submits + schedules + ends))


def test_messages_leave_out_the_state_before_the_window(make_trace, tmp_path):
    # X runs from before the window to 1500 s; Y, submitted at 1000 s, waits for
    # X's CPU and is placed at 1500 s, the window's end.
    tasks = [
        task_row(0, 1, 0, SUBMIT, cpu=0.9),
        task_row(0, 1, 0, SCHEDULE, machine=1, cpu=0.9),
        task_row(s(1000), 2, 0, SUBMIT, cpu=0.5),
        task_row(s(1000), 2, 0, SCHEDULE, machine=1, cpu=0.5),
        task_row(s(1100), 2, 0, FINISH, machine=1, cpu=0.5),
        task_row(s(1500), 1, 0, FINISH, machine=1, cpu=0.9),
    ]
    trace = make_trace(tasks, machines=[machine_row(0, 1, 0, cpu=1.0, memory=1.0)])
    base = load_base(ingest_google_2011(trace, tmp_path / "store"))
    result = run_prepared(base.prepared)
    times = lifecycle_message_times(result, base.prepared) / 1e6
    np.testing.assert_array_equal(times, [1000, 1500, 1500])


def test_bus_outputs_count_messages(one_machine_base):
    evaluation = ReplayEvaluation(
        outputs=("bus_messages", "bus_latency_p99_s", "bus_max_consumer_lag")
    )
    scenario = Scenario(bus={"partitions": 2}, calibrated=False)
    outputs = evaluation(one_machine_base, scenario)
    assert outputs["bus_messages"] == 11
    assert outputs["bus_latency_p99_s"] > 0
    assert outputs["bus_max_consumer_lag"] >= 0


@pytest.mark.parametrize(
    "name",
    [
        "production_delay_p95_s",
        "all_delay_p99.9_s",
        "middle_delay_mean_s",
        "free_unscheduled_fraction",
        "monitoring_submitted",
        "cpu_utilization_max",
        "memory_capacity_mean",
        "bus_latency_p50_s",
        "bus_messages",
        "pending_at_end",
        "machines",
    ],
)
def test_valid_output_names(name):
    check_output_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("production_delay_p95", "unknown output"),
        ("gold_delay_p95_s", "unknown band 'gold'"),
        ("all_delay_p120_s", "a percentile is between p0 and p100"),
        ("disk_utilization_mean", "unknown output"),
        ("bus_latency_q3_s", "unknown output"),
    ],
)
def test_invalid_output_names(name, message):
    with pytest.raises(ScenarioError, match=message):
        check_output_name(name)


def test_output_types():
    assert output_dtype("middle_unscheduled").is_integer()
    assert output_dtype("middle_unscheduled_fraction").is_float()
    assert output_dtype("evictions").is_integer()
    assert output_dtype("production_delay_p95_s").is_float()
    assert output_dtype("bus_messages").is_integer()


def test_evaluation_rejects_duplicate_outputs():
    with pytest.raises(ScenarioError, match="outputs are named twice: machines"):
        ReplayEvaluation(outputs=("machines", "machines"))
    with pytest.raises(ScenarioError, match=r"outputs\[1\] = 'speed'"):
        ReplayEvaluation(outputs=("machines", "speed"))
