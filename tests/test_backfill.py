"""FCFS and EASY replay: kernel against the reference, hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.backfill import replay_schedule
from muosm_perf.kernels.reference.backfill import replay_reference


def both(jobs, capacity, policy):
    """Replay ``(submit, processors, run, estimate)`` tuples with both versions."""
    submit, processors, run, estimate = (list(c) for c in zip(*jobs, strict=True))
    kernel = replay_schedule(
        np.array(submit),
        np.array(run),
        np.array(estimate),
        np.array(processors),
        capacity,
        policy,
    )
    reference = replay_reference(submit, run, estimate, processors, capacity, policy)
    as_list = [None if s == NULL_INT else int(s) for s in kernel]
    assert as_list == reference
    return as_list


# A (4 processors) blocks B; C ends before B's reservation; D would delay it.
SHORT_JOB_BACKFILL = [(0, 2, 10, 10), (1, 4, 5, 5), (2, 2, 3, 3), (3, 2, 20, 20)]


def test_easy_backfills_short_job():
    assert both(SHORT_JOB_BACKFILL, 4, "easy") == [0, 10, 2, 15]


def test_fcfs_keeps_submit_order():
    assert both(SHORT_JOB_BACKFILL, 4, "fcfs") == [0, 10, 15, 15]


# B reserves 4 of 6 processors at t=10, leaving 2 extra: C (2, long) uses them.
EXTRA_PROCESSORS = [(0, 4, 10, 10), (1, 4, 5, 5), (2, 2, 100, 100), (3, 1, 1, 1)]


def test_easy_backfills_into_extra_processors():
    assert both(EXTRA_PROCESSORS, 6, "easy") == [0, 10, 2, 15]


def test_fcfs_without_extra_processors():
    assert both(EXTRA_PROCESSORS, 6, "fcfs") == [0, 10, 10, 15]


def test_overdue_job_counts_as_ending_now():
    # A underestimates (5 for 10). At t=7 the reservation is at 7, not at 5, so C
    # (estimate 0) starts at 7 and, running longer than estimated, delays B.
    jobs = [(0, 2, 10, 5), (1, 3, 1, 1), (7, 1, 4, 0)]
    assert both(jobs, 3, "easy") == [0, 11, 7]


def test_completion_before_arrival_at_same_instant():
    assert both([(0, 2, 5, 5), (5, 2, 1, 1)], 2, "fcfs") == [0, 5]
    assert both([(0, 2, 5, 5), (5, 2, 1, 1)], 2, "easy") == [0, 5]


def test_zero_run_times_start_at_once():
    jobs = [(0, 2, 0, 0), (0, 2, 0, 0), (0, 2, 0, 0)]
    assert both(jobs, 2, "easy") == [0, 0, 0]
    assert both(jobs, 2, "fcfs") == [0, 0, 0]


def test_same_submit_keeps_input_order():
    jobs = [(3, 2, 4, 4), (3, 2, 1, 1), (3, 1, 1, 1)]
    assert both(jobs, 2, "fcfs") == [3, 7, 8]
    # EASY: the third job (1 processor) cannot use the 0 free processors either.
    assert both(jobs, 2, "easy") == [3, 7, 8]


def test_empty_input():
    empty = np.array([], dtype=np.int64)
    result = replay_schedule(empty, empty, empty, empty, 4, "easy")
    assert result.shape == (0,)
    assert replay_reference([], [], [], [], 4, "easy") == []


def test_one_job():
    assert both([(5, 3, 7, 9)], 4, "easy") == [5]


def test_unreplayable_jobs_left_out():
    jobs = [
        (0, 8, 5, 5),  # more processors than the machine
        (0, 0, 5, 5),  # no processors
        (0, 2, -1, 5),  # unknown run time
        (1, 2, 3, -1),  # unknown estimate: the run time is used
    ]
    assert both(jobs, 4, "easy") == [None, None, None, 1]


def test_unknown_submit_left_out():
    assert both([(NULL_INT, 1, 1, 1), (2, 1, 1, 1)], 1, "fcfs") == [None, 2]


@st.composite
def workloads(draw):
    capacity = draw(st.integers(1, 6))
    n = draw(st.integers(0, 14))
    jobs = [
        (
            draw(st.integers(0, 25)),
            draw(st.integers(-1, capacity + 1)),
            draw(st.integers(-1, 12)),
            draw(st.integers(-1, 15)),
        )
        for _ in range(n)
    ]
    return jobs, capacity


@settings(max_examples=300, deadline=None)
@given(workloads(), st.sampled_from(["fcfs", "easy"]))
def test_kernel_matches_reference(workload, policy):
    jobs, capacity = workload
    if not jobs:
        return
    starts = both(jobs, capacity, policy)

    # Processors in use never exceed the machine, and nothing starts early.
    events = []
    for (submit, processors, run, _), start in zip(jobs, starts, strict=True):
        if start is None:
            continue
        assert start >= submit
        events.append((start + run, -processors))
        events.append((start, processors))
    in_use = 0
    for _, change in sorted(events):
        in_use += change
        assert in_use <= capacity


@settings(max_examples=200, deadline=None)
@given(workloads())
def test_fcfs_starts_in_submit_order(workload):
    jobs, capacity = workload
    if not jobs:
        return
    starts = both(jobs, capacity, "fcfs")
    replayed = sorted(
        (submit, index, start)
        for index, ((submit, *_), start) in enumerate(zip(jobs, starts, strict=True))
        if start is not None
    )
    times = [start for *_, start in replayed]
    assert times == sorted(times)


def test_rejects_unknown_policy():
    one = np.array([1])
    with pytest.raises(ParameterError, match="policy must be one of fcfs, easy"):
        replay_schedule(one, one, one, one, 4, "sjf")


def test_rejects_bad_capacity():
    one = np.array([1])
    with pytest.raises(ParameterError, match="capacity must be a whole number"):
        replay_schedule(one, one, one, one, 0, "easy")


def test_rejects_length_mismatch():
    with pytest.raises(ParameterError, match="run must be a 1-D array of 2 values"):
        replay_schedule(
            np.array([1, 2]), np.array([1]), np.array([1, 1]), np.array([1, 1]), 4
        )


def test_rejects_sentinel_times():
    with pytest.raises(ParameterError, match="turn sentinels such as 2\\^63-1"):
        replay_schedule(
            np.array([2**63 - 1]), np.array([1]), np.array([1]), np.array([1]), 4
        )
