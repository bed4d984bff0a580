"""Scenarios, transform parameters, parameter paths and sweep expansion."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from muosm_perf.errors import ScenarioError
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.predict.replay import DEFAULT_POLICY
from muosm_perf.predict.views import CALIBRATION
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.machines import RemovePlatform, ResizeMachines
from muosm_perf.whatif.scenario import Scenario, expand_sweep
from muosm_perf.whatif.transforms import transform_from_mapping, transform_rng


def test_resize_needs_exactly_one_target():
    with pytest.raises(
        ScenarioError, match="exactly one of count, fraction and remove"
    ):
        ResizeMachines()
    with pytest.raises(ScenarioError, match="got count, fraction"):
        ResizeMachines(count=3, fraction=0.5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"count": -1}, r"count = -1: must be >= 0"),
        ({"count": 2.5}, r"count = 2.5: must be a whole number"),
        ({"fraction": float("nan")}, r"fraction = nan: must be finite"),
        ({"remove": True}, r"remove = True: must be a whole number"),
        ({"fraction": 0.5, "order": "oldest"}, r"order = 'oldest': must be one of"),
    ],
)
def test_resize_rejects_bad_values(arguments, message):
    with pytest.raises(ScenarioError, match=message):
        ResizeMachines(**arguments)


def test_scale_load_rejects_bad_values():
    with pytest.raises(ScenarioError, match=r"factor = -1.0: must be >= 0"):
        ScaleLoad(factor=-1.0)
    with pytest.raises(ScenarioError, match=r"factor = 0.0: must be > 0"):
        ScaleLoad(factor=0.0, method="compress")
    with pytest.raises(ScenarioError, match="compress scales every band"):
        ScaleLoad(factor=2.0, method="compress", bands=("middle",))
    with pytest.raises(ScenarioError, match="jitter_s applies to replicated"):
        ScaleLoad(factor=2.0, method="compress", jitter_s=5.0)
    with pytest.raises(ScenarioError, match=r"bands = \(\): must be a non-empty"):
        ScaleLoad(factor=2.0, bands=())
    with pytest.raises(ScenarioError, match="method = 'copy': must be one of"):
        ScaleLoad(factor=2.0, method="copy")


def test_label_must_be_a_name():
    with pytest.raises(ScenarioError, match="label = 'two words'"):
        ScaleLoad(factor=2.0, label="two words")


def test_transform_from_mapping_builds_and_rejects():
    transform = transform_from_mapping(
        {"kind": "scale_load", "factor": 2, "bands": ["middle"]}
    )
    assert transform == ScaleLoad(factor=2, bands=("middle",))
    with pytest.raises(ScenarioError, match=r"did you mean 'scale_load'"):
        transform_from_mapping({"kind": "scale_lod", "factor": 2})
    with pytest.raises(ScenarioError, match=r"fator = 2: unknown key .*'factor'"):
        transform_from_mapping({"kind": "scale_load", "fator": 2})
    with pytest.raises(ScenarioError, match="a transform needs a kind"):
        transform_from_mapping({"factor": 2})


def test_describe_lists_set_parameters():
    transform = ScaleLoad(factor=2.0, bands=("middle", "free"))
    assert (
        transform.describe()
        == "scale_load(factor=2.0, method=replicate, bands=middle+free, jitter_s=0.0)"
    )
    assert Scenario().describe() == "none"


def test_with_parameter_sets_transform_and_records_it():
    scenario = Scenario(transforms=(ResizeMachines(fraction=1.0),))
    changed = scenario.with_parameter("resize_machines.fraction", 0.8)
    assert changed.transforms[0].fraction == 0.8
    assert changed.parameters == {"resize_machines.fraction": 0.8}
    assert scenario.transforms[0].fraction == 1.0


def test_with_parameter_sets_policy_seed_and_bus():
    scenario = Scenario()
    assert scenario.with_parameter("seed", 5).seed == 5
    changed = scenario.with_parameter("policy", "fifo+best-fit+preempt")
    assert changed.policy == "fifo+best-fit+preempt"
    assert changed.scheduler_policy().preemption
    assert scenario.with_parameter("bus.partitions", 16).bus_config().partitions == 16


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("nothing", 1, "a parameter path is 'policy'"),
        ("scale_load.factor", 2.0, "no transform is named 'scale_load'"),
        ("resize_machines.speed", 2.0, "has no parameter 'speed'"),
        ("resize_machines.fraction", -0.5, r"resize_machines.fraction = -0.5: must"),
        ("bus.speed", 1, "unknown bus setting"),
        ("bus.partitions", 0, r"bus.partitions = 0: .*partitions must be"),
        ("seed", -3, r"seed = -3: must be a whole number >= 0"),
        ("policy", "x", r"policy = 'x': policy 'x' is not known"),
        ("policy", "priority+first-fit+fast", r"optionally followed by \+preempt"),
        ("replay.speed", 1, "unknown replay setting; settings: calibrated"),
        ("replay.policy", "fifo+first-fit", "the policy's path is 'policy'"),
        ("replay.schedulers", 0, r"replay.schedulers = 0: must be a whole number"),
        ("replay.schedulers", 2.5, r"replay.schedulers = 2.5: must be a whole"),
        ("replay.cpu_overcommit", 0, r"replay.cpu_overcommit = 0: must be a number"),
        ("replay.cpu_overcommit", "1.5", r"replay.cpu_overcommit = '1.5': must"),
        ("replay.job_decision_s", -1, r"replay.job_decision_s = -1: must be"),
        ("replay.optimistic", 1, r"replay.optimistic = 1: must be true or false"),
        ("replay.supervision", "later", r"supervision 'later' is not valid"),
        ("replay.calibrated", "yes", r"replay.calibrated = 'yes': must be true"),
        ("replay.framework_placements", ["any-fit"], "must be a list of placements"),
    ],
)
def test_with_parameter_rejects(path, value, message):
    scenario = Scenario(transforms=(ResizeMachines(fraction=1.0),))
    with pytest.raises(ScenarioError, match=message):
        scenario.with_parameter(path, value)


def test_two_transforms_of_one_kind_need_labels():
    scenario = Scenario(
        transforms=(ScaleLoad(factor=2.0, bands=("middle",)), ScaleLoad(factor=1.0))
    )
    with pytest.raises(ScenarioError, match="2 transforms are named 'scale_load'"):
        scenario.with_parameter("scale_load.factor", 3.0)
    labelled = Scenario(
        transforms=(
            ScaleLoad(factor=2.0, bands=("middle",), label="batch"),
            ScaleLoad(factor=1.0, label="everything"),
        )
    )
    changed = labelled.with_parameter("everything.factor", 3.0)
    assert [t.factor for t in changed.transforms] == [2.0, 3.0]


def test_grid_covers_every_combination_last_fastest():
    template = Scenario(
        name="s", transforms=(ResizeMachines(fraction=1.0), ScaleLoad(factor=1.0))
    )
    scenarios = expand_sweep(
        template,
        {"resize_machines.fraction": [1.0, 0.5], "scale_load.factor": [1, 2, 3]},
    )
    pairs = [(s.transforms[0].fraction, s.transforms[1].factor) for s in scenarios]
    assert pairs == [(1.0, 1), (1.0, 2), (1.0, 3), (0.5, 1), (0.5, 2), (0.5, 3)]
    assert scenarios[4].name == "s[resize_machines.fraction=0.5, scale_load.factor=2]"
    assert {s.seed for s in scenarios} == {0}


def test_zip_pairs_values_and_checks_lengths():
    template = Scenario(transforms=(RemovePlatform(), ScaleLoad(factor=1.0)))
    scenarios = expand_sweep(
        template,
        {"remove_platform.platform": ["a", "b"], "scale_load.factor": [1.0, 2.0]},
        mode="zip",
    )
    assert [(s.transforms[0].platform, s.transforms[1].factor) for s in scenarios] == [
        ("a", 1.0),
        ("b", 2.0),
    ]
    with pytest.raises(ScenarioError, match="zip mode needs value lists of one length"):
        expand_sweep(
            template,
            {"remove_platform.platform": ["a"], "scale_load.factor": [1.0, 2.0]},
            mode="zip",
        )


def test_replicates_use_consecutive_seeds_at_every_point():
    template = Scenario(name="r", transforms=(ScaleLoad(factor=1.0),), seed=10)
    scenarios = expand_sweep(template, {"scale_load.factor": [1.0, 2.0]}, replicates=3)
    assert [s.seed for s in scenarios] == [10, 11, 12, 10, 11, 12]
    assert [s.parameters["replicate"] for s in scenarios] == [0, 1, 2, 0, 1, 2]
    assert scenarios[1].name == "r[scale_load.factor=1.0]#1"


@pytest.mark.parametrize(
    ("parameters", "options", "message"),
    [
        ({"scale_load.factor": []}, {}, "must be a non-empty list"),
        ({"scale_load.factor": "2"}, {}, "must be a non-empty list"),
        ({"scale_load.factor": [1.0]}, {"replicates": 0}, "replicates = 0"),
        ({"scale_load.factor": [1.0]}, {"mode": "cross"}, "mode = 'cross'"),
        ({"scale_load.factor": [1.0, -2.0]}, {}, r"scale_load.factor = -2.0"),
    ],
)
def test_sweep_rejects(parameters, options, message):
    template = Scenario(transforms=(ScaleLoad(factor=1.0),))
    with pytest.raises(ScenarioError, match=message):
        expand_sweep(template, parameters, **options)


def test_transform_streams_are_separate_and_repeatable():
    first = transform_rng(3, "scale_load", 0, 1).random(4)
    again = transform_rng(3, "scale_load", 0, 1).random(4)
    other_slot = transform_rng(3, "scale_load", 0, 2).random(4)
    other_kind = transform_rng(3, "resize_machines", 0, 1).random(4)
    other_occurrence = transform_rng(3, "scale_load", 1, 1).random(4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_slot)
    assert not np.array_equal(first, other_kind)
    assert not np.array_equal(first, other_occurrence)


def test_default_policy_is_calibrated():
    policy = Scenario(seed=4).scheduler_policy()
    expected = SchedulerPolicy.parse(DEFAULT_POLICY, seed=4).with_fields(**CALIBRATION)
    assert policy == expected
    assert policy.cpu_overcommit == 1.5
    assert policy.schedulers == 40


def test_uncalibrated_policy_has_plain_fields():
    policy = Scenario(policy="fifo+sampled", calibrated=False).scheduler_policy()
    assert policy == SchedulerPolicy.parse("fifo+sampled")


def test_overrides_win_over_calibration():
    scenario = Scenario(
        policy="priority+first-fit+offers",
        replay={
            "schedulers": 1,
            "cpu_overcommit": 1,
            "supervision": "give-up:2",
            "framework_placements": ["best-fit", "sampled"],
        },
    )
    policy = scenario.scheduler_policy()
    assert policy.offers
    assert policy.schedulers == 1
    assert policy.cpu_overcommit == 1.0
    assert isinstance(policy.cpu_overcommit, float)
    assert policy.memory_overcommit == CALIBRATION["memory_overcommit"]
    assert policy.job_decision_s == CALIBRATION["job_decision_s"]
    assert policy.supervision.kind == "give-up"
    assert policy.supervision.max_restarts == 2
    assert policy.framework_placements == ("best-fit", "sampled")


def test_replay_paths_set_settings_and_record_them():
    scenario = Scenario().with_parameter("replay.schedulers", 3)
    scenario = scenario.with_parameter("replay.calibrated", False)
    assert scenario.parameters == {"replay.schedulers": 3, "replay.calibrated": False}
    policy = scenario.scheduler_policy()
    assert policy.schedulers == 3
    assert policy.cpu_overcommit == 1.0


def test_conflicting_settings_are_rejected():
    with pytest.raises(ScenarioError, match="offers and optimistic schedulers"):
        Scenario(policy="priority+first-fit+offers", replay={"optimistic": True})
    with pytest.raises(ScenarioError, match="framework_placements is set but"):
        Scenario(replay={"framework_placements": ["best-fit"]})
    with pytest.raises(ScenarioError, match="replay = 3: must be a table"):
        Scenario(replay=3)


def test_scenario_with_settings_survives_pickle():
    scenario = Scenario(
        policy="priority+sampled+preempt",
        replay={"schedulers": 2, "supervision": "backoff:1:60+group"},
        calibrated=False,
    )
    copy = pickle.loads(pickle.dumps(scenario))
    assert copy == scenario
    assert copy.scheduler_policy() == scenario.scheduler_policy()
