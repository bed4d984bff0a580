"""Machine and load transforms on prepared replay inputs."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import polars as pl
import pytest
from conftest import task_row
from whatif_helpers import synthetic_store  # noqa: F401 - a fixture

from muosm_perf.errors import ScenarioError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.replay import INT64_MAX, validate_input
from muosm_perf.model.lifecycle import CellEvent
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.whatif.base import load_base
from muosm_perf.whatif.evaluate import ReplayEvaluation, apply_scenario
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.machines import RemovePlatform, ResizeMachines
from muosm_perf.whatif.scenario import Scenario
from muosm_perf.whatif.state import (
    EVENT_ARRAYS,
    PROCESS_ARRAYS,
    present_machines,
    process_arrays,
)

SUBMIT, SCHEDULE, FINISH = 0, 1, 4
ADD, REMOVE = 0, 1


def s(seconds: float) -> int:
    return round(seconds * 1e6)


@pytest.fixture
def small_base(make_trace, tmp_path):
    """Five machines on three platforms, one added after the window, and jobs.

    Machines 1 and 2 (platform A, CPU 0.5 each), 3 (B, 0.75) and 4 (C, 0.25) are
    there from before the window. Machine 4 goes away at 1500 s and comes back at
    1600 s. Machine 6 is added after the window ends, so it is not present.
    """
    machines = [
        "0,1,0,A,0.5,0.5",
        "0,2,0,A,0.5,0.5",
        "0,3,0,B,0.75,0.75",
        "0,4,0,C,0.25,0.25",
        f"{s(1500)},4,1,C,,",
        f"{s(1600)},4,0,C,0.25,0.25",
        f"{s(9000)},6,0,A,0.5,0.5",
    ]
    tasks = []
    for job, (submit, priority) in enumerate(
        [(1000, 9), (1100, 4), (1200, 4), (1300, 0), (1400, 4)], start=1
    ):
        for task in range(2):
            tasks.append(task_row(s(submit), job, task, SUBMIT, priority=priority))
            tasks.append(
                task_row(
                    s(submit + 5), job, task, SCHEDULE, machine=1, priority=priority
                )
            )
            tasks.append(
                task_row(
                    s(submit + 60), job, task, FINISH, machine=1, priority=priority
                )
            )
    tasks.append(task_row(s(2000), 9, 0, SUBMIT, priority=4))
    trace = make_trace(tasks, machines=machines)
    return load_base(ingest_google_2011(trace, tmp_path / "store"))


def apply(base, *transforms, seed=0):
    return apply_scenario(base, Scenario(transforms=transforms, seed=seed))


def present_cells(base, prepared) -> set[int]:
    return set(np.asarray(prepared.cell_ids)[present_machines(prepared)].tolist())


def test_base_counts_present_machines(small_base):
    assert small_base.present_machines == 4
    assert present_cells(small_base, small_base.prepared) == {1, 2, 3, 4}
    assert small_base.platforms()["platform"].to_list() == ["A", "B", "C"]


def test_resize_removes_whole_machines(small_base):
    prepared = apply(small_base, ResizeMachines(count=2))
    kept = present_cells(small_base, prepared)
    assert len(kept) == 2
    cells = np.asarray(prepared.cell_ids)[prepared.inputs.machine_event_machine]
    assert set(cells.tolist()) <= kept | {6}
    base_inputs = small_base.prepared.inputs
    base_cells = np.asarray(small_base.prepared.cell_ids)[
        base_inputs.machine_event_machine
    ]
    expected = int(np.isin(base_cells, [*kept, 6]).sum())
    assert prepared.inputs.machine_event_time_us.shape[0] == expected
    validate_input(prepared.inputs)


def test_random_removal_is_nested(small_base):
    for seed in range(5):
        kept = [
            present_cells(
                small_base, apply(small_base, ResizeMachines(count=k), seed=seed)
            )
            for k in (4, 3, 2, 1, 0)
        ]
        for larger, smaller in itertools.pairwise(kept):
            assert smaller < larger


@pytest.mark.parametrize(
    ("order", "kept"),
    [("smallest-first", {1, 2, 3}), ("largest-first", {1, 2, 4})],
)
def test_resize_orders_by_capacity(small_base, order, kept):
    prepared = apply(small_base, ResizeMachines(count=3, order=order))
    assert present_cells(small_base, prepared) == kept


def test_resize_remove_and_fraction(small_base):
    assert (
        len(present_cells(small_base, apply(small_base, ResizeMachines(remove=1)))) == 3
    )
    assert (
        len(present_cells(small_base, apply(small_base, ResizeMachines(fraction=0.5))))
        == 2
    )
    with pytest.raises(ScenarioError, match="cannot remove more than the 4 machines"):
        apply(small_base, ResizeMachines(remove=5))


def test_resize_copies_machines_with_their_events(small_base):
    prepared = apply(small_base, ResizeMachines(count=6, order="largest-first"))
    inputs = prepared.inputs
    assert inputs.machines == 7
    cell_ids = np.asarray(prepared.cell_ids)
    assert cell_ids[5:].tolist() == [7, 8]
    assert present_machines(prepared).sum() == 6
    validate_input(inputs)
    times = inputs.machine_event_time_us
    assert np.all(np.diff(times) >= 0)

    # Largest first: machine 3 (B, 0.75), then 2 and 1 (A, 0.5; higher index first).
    base_inputs = small_base.prepared.inputs
    for copy, source_cell in ((5, 3), (6, 2)):
        source = int(np.flatnonzero(small_base.prepared.cell_ids == source_cell)[0])
        original = base_inputs.machine_event_machine == source
        copied = inputs.machine_event_machine == copy
        for name in ("machine_event_time_us", "machine_event_kind"):
            np.testing.assert_array_equal(
                getattr(inputs, name)[copied], getattr(base_inputs, name)[original]
            )
        np.testing.assert_array_equal(
            inputs.machine_event_cpu_capacity[copied],
            base_inputs.machine_event_cpu_capacity[original],
        )


def test_copies_cycle_through_the_machines(small_base):
    prepared = apply(small_base, ResizeMachines(count=10, order="smallest-first"))
    assert present_machines(prepared).sum() == 10
    adds = prepared.inputs.machine_event_kind == int(CellEvent.ADD)
    per_machine = np.bincount(prepared.inputs.machine_event_machine[adds])
    # Machine 4 (cell 4, index 3) has two ADDs and is first in smallest-first
    # order. The six copies take the four machines in order, then two again.
    assert per_machine[3] == 2
    assert per_machine[5] == 2
    assert per_machine[9] == 2


def test_remove_largest_platform(small_base):
    prepared = apply(small_base, RemovePlatform())
    assert present_cells(small_base, prepared) == {3, 4}
    prepared = apply(small_base, RemovePlatform(platform="C"))
    assert present_cells(small_base, prepared) == {1, 2, 3}


def test_remove_platform_with_replacement(small_base):
    prepared = apply(small_base, RemovePlatform(replace=True), seed=4)
    present = present_machines(prepared)
    assert present.sum() == 4
    cells = np.asarray(prepared.cell_ids)[present]
    assert set(cells[cells <= 6].tolist()) == {3, 4}
    # The two copies (new cell IDs 7 and 8) repeat the events of machines 3 and 4.
    assert sorted(cells[cells > 6].tolist()) == [7, 8]
    copies = prepared.inputs.machine_event_machine >= 5
    capacity = prepared.inputs.machine_event_cpu_capacity[copies]
    # A REMOVE carries no capacity (NaN).
    assert set(np.nan_to_num(capacity, nan=-1.0).tolist()) <= {0.75, 0.25, -1.0}
    with pytest.raises(ScenarioError, match="replace = 'yes': must be true or false"):
        RemovePlatform(replace="yes")


def test_remove_unknown_platform_is_rejected(small_base):
    with pytest.raises(ScenarioError, match="platforms: A, B, C, or 'largest'"):
        RemovePlatform(platform="Z").check_base(small_base)


def attempt_keys(prepared) -> list[tuple]:
    return list(
        prepared.attempts.select("group_id", "process_index", "attempt").iter_rows()
    )


def test_replicate_doubles_jobs_of_a_band(small_base):
    prepared = apply(small_base, ScaleLoad(factor=2.0, bands=("middle",)))
    before = small_base.prepared.attempts["band"].value_counts().sort("band")
    after = prepared.attempts["band"].value_counts().sort("band")
    counts_before = dict(before.iter_rows())
    counts_after = dict(after.iter_rows())
    assert counts_after["middle"] == 2 * counts_before["middle"]
    assert counts_after["production"] == counts_before["production"]
    assert counts_after["free"] == counts_before["free"]
    validate_input(prepared.inputs)


def test_replicate_zero_removes_the_band(small_base):
    prepared = apply(small_base, ScaleLoad(factor=0.0, bands=("middle",)))
    assert "middle" not in prepared.attempts["band"].cast(pl.String).to_list()
    # Three middle jobs of two tasks; the base holds out the middle attempt that
    # the trace never scheduled.
    assert prepared.inputs.processes == small_base.prepared.inputs.processes - 6


def test_copies_match_their_originals(small_base):
    prepared = apply(small_base, ScaleLoad(factor=3.0, jitter_s=30.0))
    base = small_base.prepared
    original = {key: row for row, key in enumerate(attempt_keys(base))}
    replica = prepared.attempts["replica"].to_numpy()
    assert sorted(np.bincount(replica).tolist()) == [base.inputs.processes] * 3
    offsets = []
    for row, key in enumerate(attempt_keys(prepared)):
        source = original[key]
        for name in PROCESS_ARRAYS:
            if name in ("submit_time_us", "end_time_us"):
                continue
            assert (
                getattr(prepared.inputs, name)[row]
                == getattr(base.inputs, name)[source]
            )
        offset = (
            prepared.inputs.submit_time_us[row] - base.inputs.submit_time_us[source]
        )
        if replica[row] == 0:
            assert offset == 0
        else:
            offsets.append(offset)
            assert prepared.attempts["observed_delay_s"][row] is None
        end = base.inputs.end_time_us[source]
        if end != NULL_INT:
            assert prepared.inputs.end_time_us[row] == end + offset
    assert min(offsets) >= 0
    assert max(offsets) < 30e6
    assert np.all(np.diff(prepared.inputs.submit_time_us) >= 0)


def test_copies_are_jobs_of_their_own(small_base):
    prepared = apply(small_base, ScaleLoad(factor=2.0))
    inputs = prepared.inputs
    replica = prepared.attempts["replica"].to_numpy()
    original_groups = set(inputs.group[replica == 0].tolist())
    copy_groups = set(inputs.group[replica == 1].tolist())
    assert original_groups == set(small_base.prepared.inputs.group.tolist())
    assert len(copy_groups) == len(original_groups)
    assert not original_groups & copy_groups
    assert not inputs.bypass_scheduler[replica == 1].any()


def test_unknown_process_array_is_reported(small_base):
    @dataclasses.dataclass(frozen=True)
    class WiderInput(type(small_base.prepared.inputs)):
        deadline_us: np.ndarray | None = None

    inputs = small_base.prepared.inputs
    wider = WiderInput(
        **{f.name: getattr(inputs, f.name) for f in dataclasses.fields(inputs)},
        deadline_us=np.zeros(inputs.processes, dtype=np.int64),
    )
    with pytest.raises(RuntimeError, match="unknown per-process array 'deadline_us'"):
        process_arrays(wider)
    assert "group" in process_arrays(inputs)


def test_replicate_subsets_are_nested(synthetic_store):  # noqa: F811
    base = load_base(synthetic_store)
    copies = {}
    for factor in (0.3, 0.6, 1.0, 1.4, 1.8, 2.5):
        prepared = apply(base, ScaleLoad(factor=factor, bands=("middle",)), seed=3)
        copies[factor] = set(
            prepared.attempts.select("group_id", "process_index", "attempt", "replica")
            .filter(pl.col("group_id").is_not_null())
            .iter_rows()
        )
    factors = sorted(copies)
    for smaller, larger in itertools.pairwise(factors):
        assert copies[smaller] < copies[larger]


def test_replicate_count_follows_the_factor(synthetic_store):  # noqa: F811
    base = load_base(synthetic_store)
    jobs = base.prepared.attempts.filter(pl.col("band") == "middle")["group_id"]
    groups = jobs.n_unique()
    prepared = apply(base, ScaleLoad(factor=1.5, bands=("middle",)), seed=5)
    copied_groups = prepared.attempts.filter(pl.col("replica") == 1)[
        "group_id"
    ].n_unique()
    # Each job is copied with probability 0.5: a binomial count, within 4 sigma.
    sigma = (groups * 0.25) ** 0.5
    assert abs(copied_groups - groups / 2) < 4 * sigma


def test_compress_scales_arrivals_and_horizon(small_base):
    base = small_base.prepared
    prepared = apply(small_base, ScaleLoad(factor=2.0, method="compress"))
    start = base.window_us["start"]
    expected = start + np.rint((base.inputs.submit_time_us - start) / 2.0).astype(
        np.int64
    )
    np.testing.assert_array_equal(prepared.inputs.submit_time_us, expected)
    assert prepared.inputs.horizon_us == start + round(
        (base.inputs.horizon_us - start) / 2.0
    )
    assert prepared.window_us["end"] == prepared.inputs.horizon_us
    np.testing.assert_array_equal(prepared.inputs.duration_us, base.inputs.duration_us)
    for name in EVENT_ARRAYS:
        np.testing.assert_array_equal(
            getattr(prepared.inputs, name), getattr(base.inputs, name)
        )
    assert prepared.inputs.grid_us.shape == base.inputs.grid_us.shape
    assert prepared.inputs.grid_us[-1] <= prepared.inputs.horizon_us + 1


def test_compress_keeps_an_open_horizon(small_base):
    prepared = small_base.prepared
    open_ended = dataclasses.replace(
        prepared,
        inputs=dataclasses.replace(prepared.inputs, horizon_us=INT64_MAX),
    )
    base = dataclasses.replace(small_base, prepared=open_ended)
    compressed = apply(base, ScaleLoad(factor=0.5, method="compress"))
    assert compressed.inputs.horizon_us == INT64_MAX
    assert compressed.window_us["end"] == INT64_MAX


def test_compress_keeps_time_to_cancellation(synthetic_store):  # noqa: F811
    base = load_base(synthetic_store)
    prepared = apply(base, ScaleLoad(factor=3.0, method="compress"))
    before = base.prepared.inputs
    after = prepared.inputs
    cancels = before.end_time_us != NULL_INT
    assert cancels.any()
    np.testing.assert_array_equal(
        after.end_time_us[cancels] - after.submit_time_us[cancels],
        before.end_time_us[cancels] - before.submit_time_us[cancels],
    )


def test_transforms_leave_the_base_unchanged(small_base):
    before = {
        name: getattr(small_base.prepared.inputs, name).copy()
        for name in PROCESS_ARRAYS
    }
    apply(small_base, ResizeMachines(count=1), ScaleLoad(factor=2.0))
    for name, values in before.items():
        np.testing.assert_array_equal(getattr(small_base.prepared.inputs, name), values)
    assert small_base.present_machines == 4


def test_replay_runs_on_every_transform(synthetic_store):  # noqa: F811
    base = load_base(synthetic_store)
    evaluation = ReplayEvaluation(outputs=("machines", "all_submitted"))
    cases = [
        (ResizeMachines(fraction=0.5),),
        (ResizeMachines(fraction=2.0, order="smallest-first"),),
        (RemovePlatform(),),
        (ScaleLoad(factor=2.0, jitter_s=60.0),),
        (ScaleLoad(factor=1.5, method="compress"),),
    ]
    baseline = evaluation(base, Scenario())
    for transforms in cases:
        outputs = evaluation(base, Scenario(transforms=transforms))
        assert outputs["machines"] >= 0
        assert outputs["all_submitted"] > 0
    doubled = evaluation(base, Scenario(transforms=(ScaleLoad(factor=2.0),)))
    # Copies killed while pending do not count, and more of them wait: at most 2x.
    assert baseline["all_submitted"] < doubled["all_submitted"]
    assert doubled["all_submitted"] <= 2 * baseline["all_submitted"]
    assert evaluation(base, Scenario(transforms=cases[0]))["machines"] == 20
    cells = synthetic_store.read("cells")
    by_platform = cells.group_by("platform").agg(
        pl.col("cpu_capacity").sum(), pl.len().alias("machines")
    )
    largest = by_platform.sort("cpu_capacity", descending=True)["machines"][0]
    assert (
        evaluation(base, Scenario(transforms=cases[2]))["machines"]
        == cells.height - largest
    )
