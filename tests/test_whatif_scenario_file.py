"""Scenario files: parsing, defaults, paths and errors that name file, key, value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from muosm_perf.errors import ScenarioError
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.machines import ResizeMachines
from muosm_perf.whatif.outputs import DEFAULT_OUTPUTS
from muosm_perf.whatif.scenario_file import load_scenario_file

FULL = """
name = "study"
description = "Two loads on two cluster sizes"
seed = 4

[base]
store = "stores/sample"
grid_step_s = 120

[replay]
policy = "priority+first-fit"

[outputs]
names = ["production_delay_p95_s", "machines"]

[bus]
partitions = 16

[[transforms]]
kind = "resize_machines"
fraction = 1.0
order = "largest-first"

[[transforms]]
kind = "scale_load"
label = "batch"
factor = 1.0
bands = ["middle"]

[sweep]
replicates = 2

[sweep.parameters]
"resize_machines.fraction" = [1.0, 0.9]
"batch.factor" = [1.0, 2.0]
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_full_file_parses(tmp_path):
    study = load_scenario_file(write(tmp_path, FULL))
    assert study.name == "study"
    assert study.base.store == tmp_path / "stores" / "sample"
    assert study.base.grid_step_s == 120.0
    assert study.base.unscheduled == "hold"
    assert study.evaluation.outputs == ("production_delay_p95_s", "machines")
    assert study.swept == ("resize_machines.fraction", "batch.factor")
    assert len(study.scenarios) == 2 * 2 * 2
    first = study.scenarios[0]
    assert first.policy == "priority+first-fit"
    assert first.bus_config().partitions == 16
    assert first.transforms == (
        ResizeMachines(fraction=1.0, order="largest-first"),
        ScaleLoad(factor=1.0, bands=("middle",), label="batch"),
    )
    assert [s.seed for s in study.scenarios] == [4, 5] * 4
    last = study.scenarios[-1]
    assert last.transforms[0].fraction == 0.9
    assert last.transforms[1].factor == 2.0
    assert study.search is None


def test_defaults(tmp_path):
    study = load_scenario_file(write(tmp_path, "", name="plain.toml"))
    assert study.name == "plain"
    assert study.evaluation.outputs == DEFAULT_OUTPUTS
    assert [s.name for s in study.scenarios] == ["plain"]
    assert study.template.seed == 0
    assert study.base.store is None
    assert study.base.trace is None
    assert study.base.format == "google-2011"
    assert study.base.unscheduled == "hold"
    assert study.template.calibrated
    assert study.template.replay is None


def test_replay_table_sets_policy_calibration_and_fields(tmp_path):
    text = """
[replay]
policy = "priority+sampled+preempt"
schedulers = 4
cpu_overcommit = 1.25
supervision = "backoff:2:60"
optimistic = true
"""
    study = load_scenario_file(write(tmp_path, text))
    policy = study.template.scheduler_policy()
    assert policy.name == "priority+sampled+preempt"
    assert policy.schedulers == 4
    assert policy.cpu_overcommit == 1.25
    assert policy.memory_overcommit == 1.5
    assert policy.optimistic
    assert policy.supervision.kind == "backoff"
    assert policy.supervision.base_delay_s == 2.0


def test_uncalibrated_file_replays_unscheduled(tmp_path):
    study = load_scenario_file(write(tmp_path, "[replay]\ncalibrated = false\n"))
    assert not study.template.calibrated
    assert study.base.unscheduled == "replay"
    assert study.template.scheduler_policy().cpu_overcommit == 1.0
    text = "[base]\nunscheduled = 'hold'\n[replay]\ncalibrated = false\n"
    assert load_scenario_file(write(tmp_path, text)).base.unscheduled == "hold"


def test_replay_settings_sweep_and_scenarios(tmp_path):
    text = """
[replay]
schedulers = 8

[[scenarios]]
name = "one-scheduler"
replay = { schedulers = 1, calibrated = false }

[[scenarios]]
name = "offers"
replay = { policy = "priority+first-fit+offers" }

[sweep.parameters]
"replay.cpu_overcommit" = [1.0, 1.5]
"""
    study = load_scenario_file(write(tmp_path, text))
    assert len(study.scenarios) == 4
    policies = [s.scheduler_policy() for s in study.scenarios]
    assert [p.schedulers for p in policies] == [1, 1, 8, 8]
    assert [p.cpu_overcommit for p in policies] == [1.0, 1.5, 1.0, 1.5]
    assert [p.job_decision_s for p in policies] == [0.0, 0.0, 1.5, 1.5]
    assert [p.offers for p in policies] == [False, False, True, True]
    assert study.scenarios[1].parameters == {
        "replay.cpu_overcommit": 1.5,
        "replicate": 0,
    }


def test_paths_expand_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("WHATIF_TEST_ROOT", "/data/traces")
    study = load_scenario_file(
        write(tmp_path, '[base]\ntrace = "${WHATIF_TEST_ROOT}/google-2011"\n')
    )
    assert study.base.trace == Path("/data/traces/google-2011")

    monkeypatch.delenv("WHATIF_TEST_ROOT")
    study = load_scenario_file(
        write(tmp_path, '[base]\ntrace = "${WHATIF_TEST_ROOT:-up}/google-2011"\n')
    )
    assert study.base.trace == tmp_path / "up" / "google-2011"

    path = write(tmp_path, '[base]\nstore = "${WHATIF_TEST_ROOT}/s"\n')
    with pytest.raises(ScenarioError, match="environment variable WHATIF_TEST_ROOT"):
        load_scenario_file(path)


def test_scenario_list_adds_transforms_and_overrides(tmp_path):
    text = """
seed = 1
[[transforms]]
kind = "resize_machines"
fraction = 1.0

[[scenarios]]
name = "baseline"

[[scenarios]]
name = "smaller"
seed = 9
parameters = { "resize_machines.fraction" = 0.5 }

[[scenarios]]
name = "no-largest-platform"
[[scenarios.transforms]]
kind = "remove_platform"
platform = "largest"
"""
    study = load_scenario_file(write(tmp_path, text))
    names = [s.name for s in study.scenarios]
    assert names == ["baseline", "smaller", "no-largest-platform"]
    assert study.scenarios[1].transforms[0].fraction == 0.5
    assert study.scenarios[1].seed == 9
    assert study.scenarios[1].parameters == {"resize_machines.fraction": 0.5}
    assert [t.kind for t in study.scenarios[2].transforms] == [
        "resize_machines",
        "remove_platform",
    ]
    assert study.scenarios[0].seed == 1


def test_search_section(tmp_path):
    text = """
[outputs]
names = ["production_delay_p95_s"]
[search]
kind = "min_machines"
objective = "production_delay_p95_s"
threshold = 10
high = 500
order = "smallest-first"
"""
    study = load_scenario_file(write(tmp_path, text))
    assert study.search.kind == "min_machines"
    assert study.search.threshold == 10.0
    assert study.search.options == {"high": 500, "order": "smallest-first"}
    assert study.scenarios == []


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(path)
    message = str(caught.value)
    assert message.startswith(str(path) + ": ")
    return message[len(str(path)) + 2 :]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nmae = 'x'\n", "nmae = 'x': unknown key (did you mean 'name'?)"),
        ("seed = -1\n", "seed = -1: must be a whole number >= 0"),
        ("[base]\nstore = 'a'\ntrace = 'b'\n", "base = {"),
        ("[base]\ngrid_step_s = 0\n", "base.grid_step_s = 0: must be"),
        ("[base]\nunscheduled = 'drop'\n", "base.unscheduled = 'drop': must be one"),
        ("[outputs]\nnames = ['speed']\n", "outputs.names = 'speed': unknown output"),
        (
            "[outputs]\nnames = ['gold_delay_p95_s']\n",
            "outputs.names = 'gold_delay_p95_s': unknown band 'gold'",
        ),
        (
            "[outputs]\nnames = ['all_delay_p101_s']\n",
            "outputs.names = 'all_delay_p101_s': a percentile is between",
        ),
        ("[replay]\npolicy = 3\n", "replay.policy = 3: must be a policy name"),
        (
            "[[scenarios]]\nname = 'x'\nbus = 'oops'\n",
            "scenarios[0].bus = 'oops': must be a table",
        ),
        (
            "[replay]\npolicy = 'priority+first-fit+fast'\n",
            "replay.policy = 'priority+first-fit+fast': policy 'priority+first-fit+f",
        ),
        (
            "[replay]\npolicy = 'lifo+first-fit'\n",
            "replay.policy = 'lifo+first-fit': policy 'lifo+first-fit' is not known",
        ),
        ("[replay]\nschedulers = 0\n", "replay.schedulers = 0: must be a whole"),
        ("[replay]\nschedulers = '4'\n", "replay.schedulers = '4': must be a whole"),
        ("[replay]\ncalibrated = 1\n", "replay.calibrated = 1: must be true"),
        (
            "[replay]\nmemory_overcommit = -1.0\n",
            "replay.memory_overcommit = -1.0: must be a number > 0",
        ),
        (
            "[replay]\nsupervision = 'give-up'\n",
            "replay.supervision = 'give-up': supervision 'give-up' is not valid",
        ),
        (
            "[replay]\nschedulrs = 4\n",
            "replay.schedulrs = 4: unknown key (did you mean 'schedulers'?)",
        ),
        (
            "[replay]\npolicy = 'priority+first-fit+offers'\noptimistic = true\n",
            "replay = {'optimistic': True}: policy 'priority+first-fit+offers': offers",
        ),
        (
            "[[scenarios]]\nname = 'a'\nreplay = { task_decision_s = 'slow' }\n",
            "scenarios[0].replay.task_decision_s = 'slow': must be a number",
        ),
        (
            "[sweep.parameters]\n'replay.schedulers' = [4, 0]\n",
            'sweep.parameters."replay.schedulers" = 0: must be a whole number >= 1',
        ),
        ("[bus]\npartitions = 0\n", "bus = {'partitions': 0}: partitions must be"),
        ("[bus]\nspeed = 2\n", "bus.speed = 2: unknown bus setting"),
        (
            "[[transforms]]\nkind = 'resize_machines'\nfraction = 1.0\n"
            "[[transforms]]\nkind = 'scale_load'\nfactor = -2\n",
            "transforms[1].factor = -2: must be >= 0",
        ),
        (
            "[[transforms]]\nkind = 'remove_machines'\n",
            "transforms[0].kind = 'remove_machines': unknown transform kind",
        ),
        (
            "[[transforms]]\nkind = 'scale_load'\nfactor = 1.0\n"
            "[sweep.parameters]\n'scale_load.factor' = [1.0, 'double']\n",
            "sweep.parameters.\"scale_load.factor\" = 'double': must be a number",
        ),
        (
            "[sweep.parameters]\n'scale_load.factor' = [1.0]\n",
            'sweep.parameters."scale_load.factor" = 1.0: no transform is named',
        ),
        (
            "[[transforms]]\nkind = 'scale_load'\nfactor = 1.0\n"
            "[sweep]\nreplicates = 0\nparameters = { 'scale_load.factor' = [1.0] }\n",
            "sweep.replicates = 0: must be a whole number >= 1",
        ),
        ("[[scenarios]]\nseed = 2\n", "scenarios[0].name: each scenario needs a name"),
        (
            "[outputs]\nnames = ['machines']\n[search]\nkind = 'min_machines'\n"
            "objective = 'production_delay_p95_s'\nthreshold = 10\n",
            "search.objective = 'production_delay_p95_s': must be one of the outputs",
        ),
        (
            "[outputs]\nnames = ['machines']\n[search]\nkind = 'min_machines'\n"
            "objective = 'machines'\nthreshold = 10\nhigh = 2.5\n",
            "search.high = 2.5: must be a whole number of machines",
        ),
        (
            "[outputs]\nnames = ['machines']\n[search]\nkind = 'max_load'\n"
            "objective = 'machines'\nthreshold = 10\norder = 'random'\n",
            "search.order = 'random': applies to min_machines searches only",
        ),
        (
            "[outputs]\nnames = ['machines']\n[search]\nkind = 'min_machines'\n"
            "objective = 'machines'\nthreshold = 10\nlow = 50\nhigh = 40\n",
            "search.low = 50: must be below search.high (40)",
        ),
        (
            "[outputs]\nnames = ['machines']\n[search]\nkind = 'max_load'\n"
            "objective = 'machines'\nthreshold = 10\ntolerance = 0\n",
            "search.tolerance = 0: must be > 0",
        ),
    ],
)
def test_errors_name_file_key_and_value(tmp_path, text, expected):
    assert error_for(tmp_path, text).startswith(expected)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match=re.escape("not valid TOML")):
        load_scenario_file(write(tmp_path, "name = \n"))
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario_file(tmp_path / "absent.toml")
