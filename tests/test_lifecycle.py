"""Attempt derivation: the kernel against the reference, and the hard cases."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from conftest import task_row
from hypothesis import given, settings
from hypothesis import strategies as st

from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.lifecycle import ANOMALIES, ATTEMPT_FIELDS, derive_attempts
from muosm_perf.kernels.reference.lifecycle import derive_attempts_reference
from muosm_perf.model.lifecycle import Event
from muosm_perf.traces.google2011 import ingest_google_2011

S = 1_000_000  # microseconds per second


def run_kernel(events: list[dict]) -> tuple[list[dict], dict[str, int]]:
    """Run the kernel on reference-style event dictionaries."""
    processes = [e["process"] for e in events]
    starts = [0]
    if events:
        starts += [i for i in range(1, len(events)) if processes[i] != processes[i - 1]]
        starts.append(len(events))

    def ints(name):
        return np.array(
            [NULL_INT if e.get(name) is None else e[name] for e in events],
            dtype=np.int64,
        )

    def floats(name):
        return np.array(
            [np.nan if e.get(name) is None else e[name] for e in events],
            dtype=np.float64,
        )

    attempts, anomalies = derive_attempts(
        np.array(starts, dtype=np.int64),
        np.array([e["time_class"] for e in events], dtype=np.int8),
        np.array([e["time_us"] or 0 for e in events], dtype=np.int64),
        np.array([int(e["event"]) for e in events], dtype=np.int8),
        ints("cell"),
        ints("priority"),
        ints("scheduling_class"),
        floats("cpu"),
        floats("memory"),
        floats("disk"),
    )
    rows = []
    process_names = [processes[s] for s in starts[:-1]]
    for i in range(len(attempts["attempt"])):
        row = {name: attempts[name][i].item() for name in ATTEMPT_FIELDS}
        row["process"] = process_names[row["process"]]
        rows.append(row)
    return rows, anomalies


def normalize(rows: list[dict]) -> list[dict]:
    """Map the kernel's null markers and the reference's None to one form."""
    result = []
    for row in rows:
        clean = {}
        for name in ATTEMPT_FIELDS:
            value = row[name]
            if (
                value is None
                or value == NULL_INT
                or (isinstance(value, float) and math.isnan(value))
            ):
                value = None
            elif name == "end_event":
                value = None if value == -1 else int(value)
            clean[name] = value
        result.append(clean)
    return result


def event(process, seconds, kind, time_class=1, **fields):
    return {
        "process": process,
        "time_class": time_class,
        "time_us": None if time_class != 1 else seconds * S,
        "event": kind,
        **fields,
    }


def test_resubmission_after_eviction_with_ties():
    # Same-instant events are given out of lifecycle order on purpose.
    events = [
        event(1, 0, Event.SCHEDULE, cell=4),
        event(1, 0, Event.SUBMIT),
        event(1, 5, Event.SUBMIT),
        event(1, 5, Event.EVICT),
        event(1, 9, Event.SCHEDULE, cell=5),
        event(1, 20, Event.FINISH),
        event(2, 100, Event.FINISH),
    ]
    rows, anomalies = run_kernel(events)
    assert len(rows) == 2
    assert [r["attempt"] for r in rows] == [1, 2]
    assert [r["end_event"] for r in rows] == [Event.EVICT, Event.FINISH]
    delays = [(r["schedule_time_us"] - r["submit_time_us"]) / S for r in rows]
    assert delays == [0, 4]
    run = sum((r["end_time_us"] - r["schedule_time_us"]) / S for r in rows)
    assert run == 16
    assert anomalies["orphan_terminal"] == 1
    assert all(r["process"] == 1 for r in rows)


def test_resubmission_through_the_reader(make_trace, tmp_path):
    base = 1000 * S
    trace = make_trace(
        [
            task_row(base, 1, 0, 1, machine=1),
            task_row(base, 1, 0, 0),
            task_row(base + 5 * S, 1, 0, 0),
            task_row(base + 5 * S, 1, 0, 2, machine=1),
            task_row(base + 9 * S, 1, 0, 1, machine=1),
            task_row(base + 20 * S, 1, 0, 4, machine=1),
            task_row(base + 100 * S, 2, 0, 4, machine=1),
        ]
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    processes = store.read("processes").sort("group_id", "attempt")
    assert processes.height == 2
    assert processes["group_id"].to_list() == [1, 1]
    assert processes["end_state"].to_list() == ["EVICT", "FINISH"]
    assert processes["scheduling_delay_us"].to_list() == [0, 4 * S]
    assert processes["run_time_us"].sum() == 16 * S
    assert (processes["run_time_us"] == 0).sum() == 0
    assert store.manifest["anomalies"]["orphan_terminal"] == 1
    groups = store.read("groups")
    assert sorted(groups["group_id"].to_list()) == [1, 2]
    assert groups.filter(pl.col("group_id") == 2)["attempts"].to_list() == [0]


def test_empty_input():
    rows, anomalies = run_kernel([])
    assert rows == []
    assert set(anomalies) == set(ANOMALIES)
    assert sum(anomalies.values()) == 0


def test_one_event():
    rows, _ = run_kernel([event("a", 3, Event.SUBMIT, cpu=0.5)])
    assert len(rows) == 1
    assert rows[0]["submit_time_us"] == 3 * S
    assert rows[0]["end_class"] == -1
    assert rows[0]["cpu"] == 0.5


def test_kill_while_pending_at_submit_instant():
    rows, anomalies = run_kernel([event(1, 3, Event.KILL), event(1, 3, Event.SUBMIT)])
    assert len(rows) == 1
    assert rows[0]["end_event"] == Event.KILL
    assert rows[0]["schedule_class"] == -1
    assert sum(anomalies.values()) == 0


def test_submit_while_running_closes_attempt():
    rows, anomalies = run_kernel(
        [
            event(1, 1, Event.SUBMIT),
            event(1, 2, Event.SCHEDULE),
            event(1, 3, Event.SUBMIT),
        ]
    )
    assert [r["end_class"] for r in rows] == [3, -1]
    assert anomalies["submit_while_running"] == 1


def test_before_window_events_are_censored():
    rows, _ = run_kernel(
        [
            event(1, 0, Event.SCHEDULE, time_class=0),
            event(1, 0, Event.SUBMIT, time_class=0),
            event(1, 50, Event.FINISH),
        ]
    )
    assert rows[0]["submit_class"] == 0
    assert rows[0]["submit_time_us"] == NULL_INT
    assert rows[0]["schedule_class"] == 0
    assert rows[0]["end_time_us"] == 50 * S


def test_requests_follow_pending_updates():
    rows, _ = run_kernel(
        [
            event(1, 1, Event.SUBMIT, cpu=0.1, priority=2),
            event(1, 2, Event.UPDATE_PENDING, cpu=0.2),
            event(1, 3, Event.SCHEDULE, cell=9),
            event(1, 4, Event.UPDATE_RUNNING, cpu=0.9, priority=11),
        ]
    )
    assert rows[0]["cpu"] == 0.2
    assert rows[0]["priority"] == 2
    assert rows[0]["cell"] == 9


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="time_us has 1 elements, event has 2"):
        derive_attempts(
            np.array([0, 2]),
            np.ones(2, np.int8),
            np.zeros(1, np.int64),
            np.zeros(2, np.int8),
            *(np.zeros(2, np.int64) for _ in range(3)),
            *(np.zeros(2) for _ in range(3)),
        )


EVENT_KINDS = st.sampled_from(
    [
        Event.SUBMIT,
        Event.SCHEDULE,
        Event.EVICT,
        Event.FAIL,
        Event.FINISH,
        Event.KILL,
        Event.LOST,
        Event.UPDATE_PENDING,
        Event.UPDATE_RUNNING,
        Event.QUEUE,
        Event.ENABLE,
    ]
)
EVENTS = st.lists(
    st.fixed_dictionaries(
        {
            "process": st.integers(0, 3),
            "time_class": st.sampled_from([0, 1, 1, 1, 1, 2]),
            "time_us": st.integers(0, 4),
            "event": EVENT_KINDS,
            "cell": st.one_of(st.none(), st.integers(0, 5)),
            "priority": st.one_of(st.none(), st.integers(0, 11)),
            "cpu": st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5])),
        }
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_kernel_matches_reference(events):
    for e in events:
        if e["time_class"] != 1:
            e["time_us"] = None
    events.sort(key=lambda e: (e["process"], e["time_class"], e["time_us"] or 0))
    kernel_rows, kernel_anomalies = run_kernel(events)
    reference_rows, reference_anomalies = derive_attempts_reference(events)
    assert normalize(kernel_rows) == normalize(reference_rows)
    assert kernel_anomalies == reference_anomalies


def test_attempt_frame_on_sample(google_2011_store):
    processes = google_2011_store.read("processes")
    transitions = google_2011_store.read("transitions")
    submits = transitions.filter(pl.col("event") == "SUBMIT").height
    # The sample has no lifecycle anomalies, so every SUBMIT opens one attempt.
    assert processes.height == submits
    assert sum(google_2011_store.manifest["anomalies"].values()) == 0
    assert processes.filter(pl.col("scheduling_delay_us") < 0).height == 0
