"""What-if transforms and runners on the real Google 2011 sample.

Expected counts are computed here from the store's tables with Polars, apart from
the transform code.
"""

from __future__ import annotations

import polars as pl
import pytest

from muosm_perf.whatif.base import load_base
from muosm_perf.whatif.evaluate import ReplayEvaluation, apply_scenario
from muosm_perf.whatif.execution import DaskRunner
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.machines import RemovePlatform, ResizeMachines
from muosm_perf.whatif.scenario import Scenario
from muosm_perf.whatif.sweep import run_sweep


@pytest.fixture(scope="module")
def sample_base(google_2011_store):
    return load_base(google_2011_store)


def present_cell_ids(store) -> pl.Series:
    """Machines with an ADD before the window or at or before its end."""
    end = store.manifest["window_us"]["end"]
    return (
        store.read("cell_events")
        .filter(
            (pl.col("event") == "ADD")
            & (pl.col("before_window") | (pl.col("time_us") <= end))
        )["cell_id"]
        .unique()
    )


def test_present_machines_match_the_tables(google_2011_store, sample_base):
    assert sample_base.present_machines == present_cell_ids(google_2011_store).len()
    # The published sample has 12,583 machines in 29 days; fewer are up in the
    # task window.
    assert 12_000 < sample_base.present_machines < 12_583


def test_largest_platform_is_removed(google_2011_store, sample_base):
    present = present_cell_ids(google_2011_store)
    cells = google_2011_store.read("cells").filter(
        pl.col("cell_id").is_in(present.implode())
    )
    ranked = (
        cells.group_by("platform")
        .agg(pl.col("cpu_capacity").sum(), pl.len().alias("machines"))
        .sort("cpu_capacity", descending=True)
    )
    largest = ranked.row(0, named=True)
    evaluation = ReplayEvaluation(outputs=("machines",))
    outputs = evaluation(sample_base, Scenario(transforms=(RemovePlatform(),)))
    assert outputs["machines"] == sample_base.present_machines - largest["machines"]


def test_doubling_the_middle_band(sample_base):
    prepared = apply_scenario(
        sample_base, Scenario(transforms=(ScaleLoad(factor=2.0, bands=("middle",)),))
    )

    def counts(attempts):
        return dict(attempts["band"].cast(pl.String).value_counts().iter_rows())

    before = counts(sample_base.prepared.attempts)
    after = counts(prepared.attempts)
    assert after["middle"] == 2 * before["middle"]
    assert after["production"] == before["production"]
    assert after["free"] == before["free"]


def test_half_the_machines_leaves_more_unscheduled(sample_base):
    evaluation = ReplayEvaluation(
        outputs=("all_unscheduled_fraction", "machines", "production_delay_p95_s")
    )
    full = evaluation(sample_base, Scenario())
    half = evaluation(sample_base, Scenario(transforms=(ResizeMachines(fraction=0.5),)))
    assert half["machines"] == round(0.5 * sample_base.present_machines)
    assert half["all_unscheduled_fraction"] > full["all_unscheduled_fraction"]
    assert half["production_delay_p95_s"] >= full["production_delay_p95_s"]


def test_held_attempts_leave_the_base(google_2011_store, sample_base):
    replayed = load_base(google_2011_store, unscheduled="replay")
    count = sample_base.prepared.input_counts["held_unscheduled"]
    assert sample_base.unscheduled == "hold"
    assert count > 0
    assert (
        sample_base.prepared.inputs.processes
        == replayed.prepared.inputs.processes - count
    )
    evaluation = ReplayEvaluation(outputs=("all_unscheduled_fraction",))
    plain = Scenario(calibrated=False)
    assert (
        evaluation(sample_base, plain)["all_unscheduled_fraction"]
        < evaluation(replayed, plain)["all_unscheduled_fraction"]
    )


def test_calibrated_default_places_most_attempts(sample_base):
    evaluation = ReplayEvaluation(outputs=("all_unscheduled_fraction",))
    calibrated = evaluation(sample_base, Scenario())["all_unscheduled_fraction"]
    plain = evaluation(sample_base, Scenario(calibrated=False))
    assert calibrated < 0.05
    assert calibrated < plain["all_unscheduled_fraction"]


def test_dask_replay_matches_this_process(sample_base):
    evaluation = ReplayEvaluation(
        outputs=("production_delay_p95_s", "all_unscheduled_fraction", "machines")
    )
    scenarios = [
        Scenario(name="base"),
        Scenario(name="fewer", transforms=(ResizeMachines(fraction=0.8),), seed=2),
    ]
    inline = run_sweep(sample_base, scenarios, evaluation)
    with DaskRunner(sample_base, evaluation, "local", workers=1) as runner:
        on_dask = run_sweep(sample_base, scenarios, evaluation, runner=runner)
    assert on_dask.equals(inline)
