"""The replay kernel against its plain-Python reference, and exact small cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.reference.replay import replay_reference
from muosm_perf.kernels.replay import INT64_MAX, ReplayInput, replay_arrays
from muosm_perf.model.lifecycle import CellEvent

ADD, REMOVE, UPDATE = int(CellEvent.ADD), int(CellEvent.REMOVE), int(CellEvent.UPDATE)
NAN = float("nan")
OUTCOME = (
    "evictions",
    "cancelled",
    "unschedulable",
    "pending_at_end",
    "running_at_end",
    "placements",
)


def make_input(machines, events, tasks, grid=(), horizon=INT64_MAX):
    """Build a ReplayInput from rows.

    events: (time, machine, kind, cpu, memory); tasks: (submit, cpu, memory,
    priority, duration, end) with end None for no cancellation time.
    """
    events = list(events)
    tasks = list(tasks)
    return ReplayInput(
        machines=machines,
        machine_event_time_us=np.array([e[0] for e in events], np.int64),
        machine_event_machine=np.array([e[1] for e in events], np.int64),
        machine_event_kind=np.array([e[2] for e in events], np.int8),
        machine_event_cpu_capacity=np.array([e[3] for e in events], np.float64),
        machine_event_memory_capacity=np.array([e[4] for e in events], np.float64),
        submit_time_us=np.array([t[0] for t in tasks], np.int64),
        cpu_request=np.array([t[1] for t in tasks], np.float64),
        memory_request=np.array([t[2] for t in tasks], np.float64),
        priority=np.array([t[3] for t in tasks], np.int64),
        duration_us=np.array([t[4] for t in tasks], np.int64),
        end_time_us=np.array(
            [NULL_INT if t[5] is None else t[5] for t in tasks], np.int64
        ),
        grid_us=np.array(grid, np.int64),
        horizon_us=horizon,
    )


def assert_same(kernel, reference):
    np.testing.assert_array_equal(kernel.schedule_time_us, reference.schedule_time_us)
    np.testing.assert_array_equal(kernel.machine, reference.machine)
    np.testing.assert_array_equal(kernel.kills, reference.kills)
    np.testing.assert_array_equal(kernel.running, reference.running)
    # Exact float equality: both add the same values in the same order.
    np.testing.assert_array_equal(kernel.cpu_in_use, reference.cpu_in_use)
    np.testing.assert_array_equal(kernel.memory_in_use, reference.memory_in_use)
    np.testing.assert_array_equal(kernel.cpu_capacity, reference.cpu_capacity)
    np.testing.assert_array_equal(kernel.memory_capacity, reference.memory_capacity)
    for name in OUTCOME:
        assert kernel.totals[name] == reference.totals[name], name


def run_both(inputs):
    reference = replay_reference(inputs)
    kernel = replay_arrays(inputs)
    assert_same(kernel, reference)
    # The pass searches differently with the limit; the outcome must not change.
    for limit in (0, 1, 1000):
        assert_same(replay_arrays(inputs, grown_search_limit=limit), reference)
    return kernel


def test_empty_input():
    result = run_both(make_input(0, [], [], grid=[0, 10]))
    assert result.schedule_time_us.shape == (0,)
    np.testing.assert_array_equal(result.running, [0, 0])
    np.testing.assert_array_equal(result.cpu_capacity, [0.0, 0.0])
    assert result.totals["placements"] == 0


def test_one_task_runs_and_completes():
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [(5, 0.5, 0.25, 0, 10, None)],
        grid=[4, 5, 14, 15],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [5]
    assert result.machine.tolist() == [0]
    assert result.running.tolist() == [0, 1, 1, 0]
    assert result.cpu_in_use.tolist() == [0.0, 0.5, 0.5, 0.0]
    assert result.memory_in_use.tolist() == [0.0, 0.25, 0.25, 0.0]
    assert result.cpu_capacity.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_priority_then_enqueue_order():
    # One slot; three tasks arrive together. The highest priority goes first, and
    # among equal priorities the earlier enqueued one.
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [
            (0, 1.0, 0.0, 1, 10, None),
            (0, 1.0, 0.0, 5, 10, None),
            (0, 1.0, 0.0, 1, 10, None),
        ],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [10, 0, 20]


def test_first_fit_lowest_index():
    inputs = make_input(
        3,
        [(0, 0, ADD, 0.2, 1.0), (0, 1, ADD, 1.0, 1.0), (0, 2, ADD, 1.0, 1.0)],
        [
            (1, 0.5, 0.1, 0, -1, None),
            (1, 0.5, 0.1, 0, -1, None),
            (1, 0.5, 0.1, 0, -1, None),
        ],
    )
    result = run_both(inputs)
    assert result.machine.tolist() == [1, 1, 2]
    assert result.totals["running_at_end"] == 3


def test_completion_frees_before_arrivals_at_same_instant():
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [(0, 1.0, 1.0, 0, 5, None), (5, 1.0, 1.0, 0, 5, None)],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [0, 5]


def test_machine_removed_while_busy():
    # Two tasks on machine 0; it is removed at 4, they go to machine 1 (room for
    # one) with their full durations, and the other waits for the first to end.
    inputs = make_input(
        2,
        [(0, 0, ADD, 1.0, 1.0), (2, 1, ADD, 0.5, 1.0), (4, 0, REMOVE, NAN, NAN)],
        [(1, 0.5, 0.1, 0, 10, None), (1, 0.5, 0.1, 0, 10, None)],
        grid=[3, 4, 14],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [1, 1]
    assert result.machine.tolist() == [0, 0]
    assert result.kills.tolist() == [1, 1]
    assert result.totals["evictions"] == 2
    assert result.running.tolist() == [2, 1, 1]
    assert result.cpu_capacity.tolist() == [1.5, 0.5, 0.5]
    assert result.totals["running_at_end"] == 0
    assert result.totals["pending_at_end"] == 0


def test_task_that_fits_nowhere():
    inputs = make_input(
        2,
        [(0, 0, ADD, 0.5, 0.5), (0, 1, ADD, 0.5, 0.5)],
        [(0, 0.75, 0.1, 11, 10, None), (0, 0.25, 0.1, 0, 10, None)],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [NULL_INT, 0]
    assert result.machine.tolist() == [-1, 0]
    assert result.totals["unschedulable"] == 1


def test_update_shrinks_capacity_without_kill():
    # Capacity drops below what runs: free goes negative, nothing is killed, and
    # a new task (even a zero request) waits until free is >= 0 again.
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0), (2, 0, UPDATE, 0.25, 1.0)],
        [(1, 0.5, 0.1, 0, 10, None), (3, 0.0, 0.0, 0, 1, None)],
        grid=[2, 11],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [1, 11]
    assert result.kills.tolist() == [0, 0]
    assert result.cpu_capacity.tolist() == [0.25, 0.25]
    # At 11 the first task has ended and the second runs (until 12).
    assert result.running.tolist() == [1, 1]
    assert result.cpu_in_use.tolist() == [0.5, 0.0]


def test_unknown_capacity_machine_holds_nothing():
    inputs = make_input(
        2,
        [(0, 0, ADD, NAN, NAN), (0, 1, ADD, 0.5, NAN), (6, 0, UPDATE, 1.0, 1.0)],
        [(1, 0.0, 0.0, 0, -1, None)],
        grid=[1, 6],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [6]
    assert result.machine.tolist() == [0]
    # Machine 1 counts towards CPU capacity only.
    assert result.cpu_capacity.tolist() == [0.5, 1.5]
    assert result.memory_capacity.tolist() == [0.0, 1.0]


def test_cancelled_while_pending():
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [
            (0, 1.0, 1.0, 5, 10, None),
            (1, 1.0, 1.0, 0, -1, 7),  # still pending at 7: cancelled
            (2, 1.0, 1.0, 0, -1, 30),  # placed at 10, runs until 30
            (3, 0.1, 0.1, 0, -1, 3),  # cancelled on arrival
        ],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [0, NULL_INT, 10, NULL_INT]
    assert result.totals["cancelled"] == 2
    assert result.totals["unschedulable"] == 0


def test_zero_duration_completes_in_same_instant():
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [(1, 1.0, 1.0, 5, 0, None), (1, 1.0, 1.0, 0, 0, None)],
        grid=[1],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [1, 1]
    assert result.running.tolist() == [0]


def test_horizon_stops_processing():
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [(0, 1.0, 1.0, 0, 10, None), (1, 1.0, 1.0, 0, 10, None)],
        grid=[20],
        horizon=9,
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [0, NULL_INT]
    assert result.running.tolist() == [1]
    assert result.totals["pending_at_end"] == 1


def test_huge_duration_does_not_overflow():
    inputs = make_input(
        1,
        [(0, 0, ADD, 1.0, 1.0)],
        [(10, 1.0, 1.0, 0, INT64_MAX - 5, None), (11, 1.0, 1.0, 0, 1, None)],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [10, NULL_INT]
    assert result.totals["running_at_end"] == 1


def test_readd_after_remove_and_stale_completion():
    # A task with a cancellation time is killed and placed again: both of its
    # completion entries carry the same time, and it must end exactly once.
    inputs = make_input(
        2,
        [
            (0, 0, ADD, 1.0, 1.0),
            (3, 0, REMOVE, NAN, NAN),
            (3, 1, ADD, 1.0, 1.0),
            (5, 0, ADD, 1.0, 1.0),
        ],
        [(1, 1.0, 1.0, 0, -1, 9), (4, 1.0, 1.0, 0, 2, None)],
        grid=[8, 9],
    )
    result = run_both(inputs)
    assert result.schedule_time_us.tolist() == [1, 5]
    assert result.machine.tolist() == [0, 0]
    assert result.kills.tolist() == [1, 0]
    assert result.running.tolist() == [1, 0]


@st.composite
def replay_inputs(draw):
    machines = draw(st.integers(0, 5))
    horizon = draw(st.sampled_from([INT64_MAX, 40, 80]))
    # Coarse values make ties in time and capacity common.
    capacity = st.sampled_from([NAN, 0.0, 0.25, 0.5, 0.75, 1.0])
    events = []
    if machines:
        for m in range(machines):
            if draw(st.booleans()):
                events.append((0, m, ADD, draw(capacity), draw(capacity)))
        for _ in range(draw(st.integers(0, 8))):
            events.append(
                (
                    draw(st.integers(0, 60)),
                    draw(st.integers(0, machines - 1)),
                    draw(st.sampled_from([ADD, REMOVE, UPDATE])),
                    draw(capacity),
                    draw(capacity),
                )
            )
    events.sort(key=lambda e: e[0])
    request = st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 1.0])
    tasks = []
    for _ in range(draw(st.integers(0, 25))):
        submit = draw(st.integers(0, 50))
        duration = draw(st.sampled_from([-1, 0, 1, 5, 10, 30]))
        end = draw(st.one_of(st.none(), st.integers(0, 70)))
        if end is not None:
            duration = -1
        tasks.append(
            (
                submit,
                draw(request),
                draw(request),
                draw(st.integers(0, 3)),
                duration,
                end,
            )
        )
    tasks.sort(key=lambda t: t[0])
    grid = sorted(draw(st.lists(st.integers(0, 90), max_size=6)))
    return make_input(machines, events, tasks, grid=grid, horizon=horizon)


@settings(max_examples=400, deadline=None)
@given(replay_inputs())
def test_kernel_matches_reference(inputs):
    run_both(inputs)


def test_rejects_unsorted_submissions():
    inputs = make_input(1, [], [(5, 0, 0, 0, 1, None), (4, 0, 0, 0, 1, None)])
    with pytest.raises(ParameterError, match=r"submit_time_us must be non-decr"):
        replay_arrays(inputs)


def test_rejects_nan_request():
    inputs = make_input(1, [], [(0, NAN, 0, 0, 1, None)])
    with pytest.raises(ParameterError, match=r"cpu_request\[0\] is nan"):
        replay_arrays(inputs)


def test_rejects_machine_out_of_range():
    inputs = make_input(2, [(0, 2, ADD, 1.0, 1.0)], [])
    with pytest.raises(ParameterError, match=r"machine_event_machine\[0\] is 2"):
        replay_arrays(inputs)


def test_rejects_duration_below_minus_one():
    inputs = make_input(1, [], [(0, 0, 0, 0, -2, None)])
    with pytest.raises(ParameterError, match=r"duration_us\[0\] is -2"):
        replay_arrays(inputs)
