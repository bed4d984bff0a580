"""Sweeps and their execution: in this process, in spawned processes, on Dask."""

from __future__ import annotations

import io
import os

import polars as pl
import pytest
from whatif_helpers import ToyBase, failing_evaluation, toy_evaluation

from muosm_perf.errors import ParameterError, ScenarioError
from muosm_perf.whatif.execution import DaskRunner, LocalRunner, open_runner
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.machines import ResizeMachines
from muosm_perf.whatif.scenario import Scenario, expand_sweep
from muosm_perf.whatif.sweep import results_table, run_sweep, value_dtype

BASE = ToyBase(machines=100, offered_load=60.0)
MODEL_COLUMNS = ["utilization", "delay_s"]


def scenarios(replicates: int = 2) -> list[Scenario]:
    template = Scenario(
        name="toy",
        transforms=(ResizeMachines(count=100), ScaleLoad(factor=1.0)),
        seed=7,
    )
    return expand_sweep(
        template,
        {"resize_machines.count": [70, 80, 90, 100], "scale_load.factor": [1.0, 1.1]},
        replicates=replicates,
    )


def test_table_has_one_row_per_scenario_in_order():
    sweep = scenarios()
    table = run_sweep(BASE, sweep, toy_evaluation)
    assert table.height == 16
    assert table["scenario"].to_list() == [s.name for s in sweep]
    assert table.columns[:6] == [
        "scenario",
        "resize_machines.count",
        "scale_load.factor",
        "replicate",
        "seed",
        "policy",
    ]
    assert table.schema["resize_machines.count"] == pl.Int64
    assert table.schema["scale_load.factor"] == pl.Float64
    assert table.schema["utilization"] == pl.Float64
    assert table["seed"].to_list() == [7, 8] * 8
    row = table.row(2, named=True)
    assert row["resize_machines.count"] == 70
    assert row["scale_load.factor"] == 1.1
    assert row["utilization"] == pytest.approx(66.0 / 70)
    assert row["transforms"] == (
        "resize_machines(count=70, order=random); "
        "scale_load(factor=1.1, method=replicate, jitter_s=0.0)"
    )


def test_sweep_is_reproducible_bit_for_bit(tmp_path):
    first = run_sweep(BASE, scenarios(), toy_evaluation)
    second = run_sweep(BASE, scenarios(), toy_evaluation)
    assert first.equals(second)
    first.write_parquet(tmp_path / "a.parquet")
    second.write_parquet(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (
        tmp_path / "b.parquet"
    ).read_bytes()


def test_spawned_processes_match_this_process():
    sweep = scenarios()
    inline = run_sweep(BASE, sweep, toy_evaluation)
    with LocalRunner(BASE, toy_evaluation, workers=2) as runner:
        spawned = run_sweep(BASE, sweep, toy_evaluation, runner=runner)
    columns = ["scenario", "seed", *MODEL_COLUMNS]
    assert spawned.select(columns).equals(inline.select(columns))
    # The base reached each worker process once, not once per scenario.
    assert set(spawned["payload_loads"].to_list()) == {1}
    assert spawned["worker_pid"].n_unique() <= 2
    assert os.getpid() not in spawned["worker_pid"].to_list()


def test_dask_local_cluster_matches_local_run():
    sweep = scenarios()
    inline = run_sweep(BASE, sweep, toy_evaluation)
    with DaskRunner(BASE, toy_evaluation, "local", workers=2) as runner:
        assert runner.workers == 2
        assert "127.0.0.1" in runner.description
        on_dask = run_sweep(BASE, sweep, toy_evaluation, runner=runner)
    columns = ["scenario", "seed", *MODEL_COLUMNS]
    assert on_dask.select(columns).equals(inline.select(columns))
    # Scattered with broadcast: one copy per worker, however many tasks ran.
    assert set(on_dask["payload_loads"].to_list()) == {1}
    assert on_dask["worker_pid"].n_unique() <= 2


def test_failed_scenario_is_named():
    sweep = [Scenario(name="good"), Scenario(name="bad")]
    with pytest.raises(ScenarioError, match="scenario 'bad': the toy model rejects"):
        run_sweep(BASE, sweep, failing_evaluation)
    with (
        LocalRunner(BASE, failing_evaluation, workers=1) as runner,
        pytest.raises(ScenarioError, match="scenario 'bad'"),
    ):
        run_sweep(BASE, sweep, failing_evaluation, runner=runner)


def test_duplicate_names_are_rejected():
    with pytest.raises(ScenarioError, match="repeated: same"):
        run_sweep(BASE, [Scenario(name="same"), Scenario(name="same")], toy_evaluation)


def test_progress_bar_goes_to_the_given_stream(capsys):
    run_sweep(BASE, scenarios(1), toy_evaluation, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "8/8" in captured.err


def test_bad_worker_count_and_address():
    with pytest.raises(ParameterError, match="workers must be a whole number >= 0"):
        LocalRunner(BASE, toy_evaluation, workers=-1)
    with pytest.raises(ParameterError, match="could not connect to the Dask scheduler"):
        DaskRunner(BASE, toy_evaluation, "tcp://127.0.0.1:9", timeout_s=1)
    assert isinstance(open_runner(BASE, toy_evaluation, workers=0), LocalRunner)


def test_value_types_follow_an_explicit_rule():
    assert value_dtype([1, 2, None]) == pl.Int64
    assert value_dtype([1, 2.5]) == pl.Float64
    assert value_dtype([True, False]) == pl.Boolean
    assert value_dtype([True, 1]) == pl.String
    assert value_dtype(["a", 1]) == pl.String
    assert value_dtype([None]) == pl.String


def test_results_table_rejects_clashing_names():
    with pytest.raises(ScenarioError, match="column names are used twice: seed"):
        results_table([Scenario()], [{"seed": 1}])


def test_results_table_joins_list_parameters():
    scenario = Scenario(transforms=(ScaleLoad(factor=1.0),)).with_parameter(
        "scale_load.bands", ["middle", "free"]
    )
    table = results_table([scenario], [{"x": 1}])
    assert table["scale_load.bands"].to_list() == ["middle+free"]
    buffer = io.StringIO()
    table.write_csv(buffer)
    assert "middle+free" in buffer.getvalue()
