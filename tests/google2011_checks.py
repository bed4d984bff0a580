"""Independent readers and checkers of Google 2011 trace folders, for tests.

They are written from the trace documentation, apart from the package's readers
and generator, and serve the tests of the synthetic generator and of the hand-made
fixtures.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muosm_perf.kernels.lifecycle import derive_attempts
from muosm_perf.model.lifecycle import GOOGLE_2011_EVENTS

AFTER = 2**63 - 1
WINDOW_START = 600_000_000
SUBMIT, SCHEDULE, EVICT, FAIL, FINISH, KILL = 0, 1, 2, 3, 4, 5
NULL = -(2**63)
TOLERANCE = 1e-9  # float sums of at most a few hundred 4-digit requests


# ---------------------------------------------------------------- reading back


@dataclass
class Trace:
    folder: Path
    window_end: int
    task_events: list[dict]
    job_events: list[dict]
    machine_events: list[dict]
    task_usage: list[list[str]]


def read_lines(folder: Path) -> list[list[str]]:
    """Read every shard of a table folder, gzip-compressed or plain, in name order."""
    rows = []
    for path in sorted(folder.glob("part-*-of-*.csv*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            rows.extend(csv.reader(handle))
    return rows


def optional_int(text: str) -> int | None:
    return None if text == "" else int(text)


def optional_float(text: str) -> float | None:
    return None if text == "" else float(text)


def read_trace(folder: Path, duration_s: int) -> Trace:
    """Parse the tables of a trace folder; a missing table reads as empty."""
    tasks = [
        {
            "time": int(r[0]),
            "missing": optional_int(r[1]),
            "job": int(r[2]),
            "index": int(r[3]),
            "machine": optional_int(r[4]),
            "event": int(r[5]),
            "class": int(r[7]),
            "priority": int(r[8]),
            "cpu": optional_float(r[9]),
            "memory": optional_float(r[10]),
            "order": n,
        }
        for n, r in enumerate(read_lines(folder / "task_events"))
    ]
    jobs = [
        {
            "time": int(r[0]),
            "job": int(r[2]),
            "event": int(r[3]),
            "class": int(r[5]),
            "order": n,
        }
        for n, r in enumerate(read_lines(folder / "job_events"))
    ]
    machines = [
        {
            "time": int(r[0]),
            "machine": int(r[1]),
            "event": int(r[2]),
            "cpu": optional_float(r[4]),
            "memory": optional_float(r[5]),
            "order": n,
        }
        for n, r in enumerate(read_lines(folder / "machine_events"))
    ]
    return Trace(
        folder,
        WINDOW_START + duration_s * 1_000_000,
        tasks,
        jobs,
        machines,
        read_lines(folder / "task_usage") if (folder / "task_usage").is_dir() else [],
    )


def check_task_lifecycle(events: list[dict], window_end: int) -> str | None:
    """Walk one task's events through the documented state machine.

    Returns the first violation, or None.
    """
    state, machine, last_time = "unsubmitted", None, -1
    for number, row in enumerate(events):
        event, time, where = row["event"], row["time"], row["machine"]
        if time < last_time:
            return f"time goes back at event {number}"
        last_time = time
        if time == 0 and event not in (SUBMIT, SCHEDULE):
            return f"event {event} at time 0"
        if time == AFTER and (event not in (FINISH, KILL) or number != len(events) - 1):
            return "only a last terminal event may come after the window"
        if 0 < time < WINDOW_START or (window_end < time < AFTER):
            return f"time {time} outside the window"
        if event == SUBMIT:
            if state not in ("unsubmitted", "dead"):
                return f"SUBMIT while {state}"
            if time > 0 and where is not None:
                return "SUBMIT inside the window names a machine"
            state = "pending"
        elif event == SCHEDULE:
            if state != "pending":
                return f"SCHEDULE while {state}"
            if where is None:
                return "SCHEDULE without a machine"
            state, machine = "running", where
        elif event in (EVICT, FAIL, FINISH):
            if state != "running":
                return f"event {event} while {state}"
            if where != machine:
                return f"event {event} on machine {where}, running on {machine}"
            state = "dead"
        elif event == KILL:
            if state == "pending" and where is not None:
                return "KILL of a pending task names a machine"
            if state == "running" and where != machine:
                return "KILL of a running task names another machine"
            if state not in ("pending", "running"):
                return f"KILL while {state}"
            state = "dead"
        else:
            return f"unexpected event type {event}"
    return None


def by_task(trace: Trace) -> dict[tuple[int, int], list[dict]]:
    """Events of each task in time order, ties in file order."""
    grouped: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for row in sorted(trace.task_events, key=lambda r: (r["time"], r["order"])):
        grouped[row["job"], row["index"]].append(row)
    return grouped


def time_class(time: int) -> int:
    """Return the kernel's time class: 0 before the window, 2 after, 1 inside."""
    if time == 0:
        return 0
    if time == AFTER:
        return 2
    return 1


def derive_kernel_attempts(trace: Trace) -> tuple[dict, dict, list]:
    """Run the package's attempt kernel on a trace's task events.

    Returns the attempt arrays, the anomaly counts and the task keys in the order
    of the kernel's process numbers.
    """
    tasks = by_task(trace)
    starts, classes, times, events, cells = [0], [], [], [], []
    for rows in tasks.values():
        for r in rows:
            classes.append(time_class(r["time"]))
            times.append(r["time"])
            events.append(int(GOOGLE_2011_EVENTS[r["event"]]))
            cells.append(NULL if r["machine"] is None else r["machine"])
        starts.append(len(events))
    n = len(events)
    nulls = np.full(n, NULL, dtype=np.int64)
    nan = np.full(n, np.nan)
    attempts, anomalies = derive_attempts(
        np.array(starts), np.array(classes), np.array(times), np.array(events),
        np.array(cells), nulls, nulls, nan, nan, nan,
    )  # fmt: skip
    return attempts, anomalies, list(tasks)
