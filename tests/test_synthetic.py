"""Tests of the synthetic Google 2011 trace generator.

The trace is read back with the independent parser and checkers of
``google2011_checks``, written from the trace documentation. They check the
lifecycle state machine, the capacity of every machine at every instant, the
agreement of job and task events, and the usage windows.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from pathlib import Path

import pytest
from google2011_checks import (
    AFTER,
    EVICT,
    FAIL,
    FINISH,
    KILL,
    SCHEDULE,
    SUBMIT,
    TOLERANCE,
    WINDOW_START,
    Trace,
    by_task,
    check_task_lifecycle,
    derive_kernel_attempts,
    read_lines,
    read_trace,
)

from muosm_perf.errors import ParameterError
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.traces.synthetic import GOOGLE_2011_SCHEMA_CSV, generate_google_2011

TRACE_OPTIONS = {
    "default": {},
    "seed1": {"machines": 60, "duration_s": 3 * 3600, "seed": 1, "shards": 3},
    "seed2": {"machines": 60, "duration_s": 3 * 3600, "seed": 2, "shards": 3},
    "seed3": {"machines": 120, "duration_s": 12 * 3600, "seed": 3, "shards": 1},
}


@pytest.fixture(scope="module", params=list(TRACE_OPTIONS))
def trace(request: pytest.FixtureRequest, tmp_path_factory) -> Trace:
    options = TRACE_OPTIONS[request.param]
    folder = tmp_path_factory.mktemp(request.param) / "trace"
    generate_google_2011(folder, **options)
    return read_trace(folder, options.get("duration_s", 6 * 3600))


@pytest.fixture(scope="module")
def default_trace(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    folder = tmp_path_factory.mktemp("default-size") / "trace"
    generate_google_2011(folder)
    return read_trace(folder, 6 * 3600)


# ------------------------------------------------------------------ the files


def test_schema_constant_matches_official_schema(samples: Path):
    official = samples / "google-2011" / "schema.csv"
    assert official.read_text(encoding="utf-8") == GOOGLE_2011_SCHEMA_CSV


def test_layout_and_shard_names(tmp_path: Path):
    folder = generate_google_2011(
        tmp_path / "t", machines=20, duration_s=1800, shards=5, seed=4
    )
    assert folder == tmp_path / "t"
    for table in ("task_events", "job_events", "task_usage"):
        names = sorted(p.name for p in (folder / table).iterdir())
        assert names == [f"part-{i:05d}-of-00005.csv.gz" for i in range(5)]
    machine_files = [p.name for p in (folder / "machine_events").iterdir()]
    assert machine_files == ["part-00000-of-00001.csv.gz"]
    assert (folder / "schema.csv").read_text() == GOOGLE_2011_SCHEMA_CSV
    assert not list(tmp_path.glob(".t.*")), "temporary folder left behind"


def test_files_match_schema_column_counts(trace: Trace):
    widths: dict[str, int] = defaultdict(int)
    with (trace.folder / "schema.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            table = row["file pattern"].split("/")[0]
            widths[table] = max(widths[table], int(row["field number"]))
    assert widths["task_events"] == 13
    for table in ("task_events", "job_events", "machine_events", "task_usage"):
        rows = read_lines(trace.folder / table)
        assert rows, f"{table} is empty"
        bad = [r for r in rows if len(r) != widths[table]]
        assert not bad, f"{table}: {len(bad)} rows of the wrong width, e.g. {bad[0]}"


def test_shards_hold_their_time_ranges(tmp_path: Path):
    shards = 4
    folder = generate_google_2011(
        tmp_path / "t", machines=40, duration_s=7200, shards=shards, seed=5
    )
    span = -(-(WINDOW_START + 7200 * 1_000_000 + 1) // shards)
    for table in ("task_events", "job_events"):
        for k in range(shards):
            path = folder / table / f"part-{k:05d}-of-{shards:05d}.csv.gz"
            with gzip.open(path, "rt") as handle:
                times = [int(line.split(",", 1)[0]) for line in handle]
            assert times == sorted(times)
            inside = [t for t in times if t != AFTER]
            assert all(k * span <= t < (k + 1) * span for t in inside)
            if k < shards - 1:
                assert AFTER not in times


def test_mandatory_fields_present(trace: Trace):
    mandatory = {"task_events": (0, 2, 3, 5, 8), "job_events": (0, 2, 3)}
    for table, fields in mandatory.items():
        for row in read_lines(trace.folder / table):
            assert all(row[i] != "" for i in fields), row


# ------------------------------------------------------------- the lifecycle


def test_every_task_follows_state_machine(trace: Trace):
    tasks = by_task(trace)
    assert len(tasks) > 100
    faults = {
        key: fault
        for key, events in tasks.items()
        if (fault := check_task_lifecycle(events, trace.window_end))
    }
    assert not faults, f"{len(faults)} tasks break the lifecycle, e.g. {faults}"


def test_checker_rejects_broken_sequences():
    def row(time, event, machine=None):
        return {"time": time, "event": event, "machine": machine}

    start = WINDOW_START
    good = [row(start, SUBMIT), row(start + 1, SCHEDULE, 7), row(start + 2, EVICT, 7)]
    assert check_task_lifecycle(good, start + 10) is None
    cases = {
        "SCHEDULE while unsubmitted": [row(start, SCHEDULE, 7)],
        "SUBMIT while running": [*good[:2], row(start + 3, SUBMIT)],
        "running on 7": [*good[:2], row(start + 3, FINISH, 8)],
        "time goes back": [row(start + 5, SUBMIT), row(start, SCHEDULE, 7)],
        "outside the window": [row(start + 99, SUBMIT)],
        "KILL while dead": [*good, row(start + 3, KILL)],
    }
    for message, events in cases.items():
        assert message in (check_task_lifecycle(events, start + 10) or ""), message


def test_lifecycle_kernel_finds_no_anomalies(trace: Trace):
    attempts, anomalies, _ = derive_kernel_attempts(trace)
    assert anomalies == dict.fromkeys(anomalies, 0)
    submits = sum(1 for r in trace.task_events if r["event"] == SUBMIT)
    assert len(attempts["attempt"]) == submits


# ------------------------------------------------------------------ capacity


def test_requests_never_exceed_capacity(trace: Trace):
    instants: dict[int, list[tuple[int, int, dict]]] = defaultdict(list)
    for row in trace.machine_events:
        instants[row["time"]].append((0, row["order"], row))
    for row in trace.task_events:
        if row["time"] != AFTER:
            instants[row["time"]].append((1, row["order"], row))

    capacity: dict[int, tuple[float | None, float | None]] = {}
    up: set[int] = set()
    running: dict[tuple[int, int], tuple[int, float, float]] = {}
    on_machine: dict[int, set[tuple[int, int]]] = defaultdict(set)
    checked = 0
    for time in sorted(instants):
        touched = set()
        for kind, _, row in sorted(instants[time], key=lambda item: item[:2]):
            if kind == 0:
                machine = row["machine"]
                touched.add(machine)
                if row["event"] == 1:
                    up.discard(machine)
                else:
                    up.add(machine)
                    capacity[machine] = (row["cpu"], row["memory"])
                continue
            key = row["job"], row["index"]
            if row["event"] == SCHEDULE:
                running[key] = (row["machine"], row["cpu"] or 0.0, row["memory"] or 0)
                on_machine[row["machine"]].add(key)
                touched.add(row["machine"])
            elif row["event"] in (EVICT, FAIL, FINISH, KILL) and key in running:
                machine = running.pop(key)[0]
                on_machine[machine].discard(key)
        for machine in touched:
            keys = on_machine[machine]
            if not keys:
                continue
            assert machine in up, f"tasks on machine {machine} while down at {time}"
            cpu_capacity, memory_capacity = capacity[machine]
            assert cpu_capacity is not None, (
                f"tasks on machine {machine} of unknown size"
            )
            cpu = sum(running[k][1] for k in keys)
            memory = sum(running[k][2] for k in keys)
            assert cpu <= cpu_capacity + TOLERANCE, (machine, time, cpu)
            assert memory <= memory_capacity + TOLERANCE, (machine, time, memory)
            checked += 1
    assert checked > 100


# ---------------------------------------------------------------------- jobs


def test_job_events_agree_with_task_events(trace: Trace):
    jobs: dict[int, list[dict]] = defaultdict(list)
    for row in sorted(trace.job_events, key=lambda r: (r["time"], r["order"])):
        jobs[row["job"]].append(row)
    tasks_of: dict[int, list[list[dict]]] = defaultdict(list)
    for (job, _), events in by_task(trace).items():
        tasks_of[job].append(events)

    assert set(tasks_of) <= set(jobs), "task events of a job without job events"
    for job, events in jobs.items():
        kinds = [e["event"] for e in events]
        assert kinds[0] == SUBMIT, (job, kinds)
        assert kinds.count(SUBMIT) == 1, (job, kinds)
        assert kinds.count(SCHEDULE) <= 1, (job, kinds)
        ends = [k for k in kinds if k in (FAIL, FINISH, KILL)]
        assert len(ends) <= 1, (job, kinds)
        assert kinds[-1] in (SUBMIT, SCHEDULE, *ends), (job, kinds)
        if job not in tasks_of:
            continue

        rows = [r for events_of in tasks_of[job] for r in events_of]
        assert {r["class"] for r in rows} == {events[0]["class"]}
        assert events[0]["time"] <= min(r["time"] for r in rows)
        schedules = [r["time"] for r in rows if r["event"] == SCHEDULE]
        job_schedule = [e["time"] for e in events if e["event"] == SCHEDULE]
        assert job_schedule == ([min(schedules)] if schedules else []), job

        last_events = [t[-1] for t in tasks_of[job]]
        alive = [r for r in last_events if r["event"] in (SUBMIT, SCHEDULE)]
        if not ends:
            latest = max(r["time"] for r in last_events)
            assert alive or latest + 6 > trace.window_end, (job, "no end")
            continue
        end = events[-1]
        assert not alive, (job, "ended with live tasks")
        assert all(r["time"] <= end["time"] for r in rows), (job, "task after job")
        if end["event"] == FINISH:
            assert all(r["event"] == FINISH for r in last_events), job
        elif end["event"] == FAIL:
            assert any(r["event"] == FAIL for r in rows), job


# --------------------------------------------------------------------- usage


def test_usage_windows_match_running_attempts(trace: Trace):
    intervals: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for key, events in by_task(trace).items():
        start = None
        for row in events:
            if row["event"] == SCHEDULE:
                start = (row["machine"], max(row["time"], WINDOW_START))
            elif row["event"] in (EVICT, FAIL, FINISH, KILL) and start:
                end = min(row["time"], trace.window_end)
                intervals[key].append((start[0], start[1], end))
                start = None
        if start:
            intervals[key].append((start[0], start[1], trace.window_end))
    requests = {
        (r["job"], r["index"]): r["cpu"]
        for r in trace.task_events
        if r["event"] == SCHEDULE
    }
    capacities = {r["machine"]: r["cpu"] for r in trace.machine_events if r["cpu"]}

    window = 300_000_000
    above_request = above_capacity = 0
    for row in trace.task_usage:
        start, end, job, index, machine = (int(v) for v in row[:5])
        assert WINDOW_START <= start < end <= trace.window_end, row[:5]
        assert (start - WINDOW_START) // window == (end - 1 - WINDOW_START) // window
        assert any(
            m == machine and s <= start and end <= e
            for m, s, e in intervals[job, index]
        ), f"usage of task {job}/{index} outside its attempts: {row[:5]}"
        cpu = float(row[5])
        above_request += cpu > requests[job, index]
        above_capacity += cpu > capacities[machine]
    assert len(trace.task_usage) > 50
    assert above_request > 0
    assert 0 < above_capacity < len(trace.task_usage) / 20


# ------------------------------------------------------------- the hard cases


def test_trace_contains_every_case(trace: Trace):
    rows = trace.task_events
    kinds = {r["event"] for r in rows}
    assert kinds == {SUBMIT, SCHEDULE, EVICT, FAIL, FINISH, KILL}

    assert any(r["time"] == 0 and r["event"] == SCHEDULE for r in rows)
    assert any(r["time"] == 0 and r["missing"] == 2 and r["cpu"] is None for r in rows)
    assert any(r["time"] == AFTER for r in rows)
    assert any(r["cpu"] == 0.0 for r in rows)
    assert {r["priority"] for r in rows} & {0, 1}
    assert {r["priority"] for r in rows} & set(range(2, 9))
    assert {r["priority"] for r in rows} & {9, 10, 11}
    assert {r["class"] for r in rows} == {0, 1, 2, 3}
    assert any(r["event"] == KILL and r["machine"] is None for r in rows)
    assert any(r["event"] == KILL and r["machine"] is not None for r in rows)

    tasks = by_task(trace)
    assert max(sum(r["event"] == FAIL for r in ev) for ev in tasks.values()) >= 5
    resubmitted = [
        ev[i + 1]["time"] - ev[i]["time"]
        for ev in tasks.values()
        for i in range(len(ev) - 1)
        if ev[i]["event"] == EVICT and ev[i + 1]["event"] == SUBMIT
    ]
    assert resubmitted and min(resubmitted) == 0
    assert any(ev[-1]["event"] == SCHEDULE for ev in tasks.values())

    removes = {
        (r["machine"], r["time"]) for r in trace.machine_events if r["event"] == 1
    }
    assert any(
        (r["machine"], r["time"]) in removes for r in rows if r["event"] == EVICT
    )
    machine_kinds = {(r["event"], r["time"] == 0) for r in trace.machine_events}
    assert {(0, True), (0, False), (1, False), (2, False)} <= machine_kinds

    task_jobs = {r["job"] for r in rows}
    assert any(r["job"] not in task_jobs for r in trace.job_events)


def test_default_trace_size(default_trace: Trace):
    # The demo's default must stay small: a few tens of thousands of rows.
    assert 5_000 < len(default_trace.task_events) < 60_000
    assert len(default_trace.machine_events) >= 200


# ---------------------------------------------------------------- determinism


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes(tmp_path: Path):
    options = {"machines": 40, "duration_s": 3600, "seed": 11, "shards": 2}
    first = folder_bytes(generate_google_2011(tmp_path / "a", **options))
    second = folder_bytes(generate_google_2011(tmp_path / "b", **options))
    assert first.keys() == second.keys()
    assert len(first) == 2 * 3 + 1 + 2
    for name in first:
        assert first[name] == second[name], name


def test_different_seeds_differ(tmp_path: Path):
    options = {"machines": 40, "duration_s": 3600, "shards": 1}
    first = folder_bytes(generate_google_2011(tmp_path / "a", seed=1, **options))
    second = folder_bytes(generate_google_2011(tmp_path / "b", seed=2, **options))
    for table in ("task_events", "job_events", "machine_events", "task_usage"):
        name = next(n for n in first if n.startswith(table))
        assert first[name] != second[name], table


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"machines": 3}, r"invalid machines=3: expected an integer from 4"),
        ({"machines": 2.5}, r"invalid machines=2\.5"),
        ({"duration_s": 10}, r"invalid duration_s=10: .*from 300"),
        ({"seed": -1}, r"invalid seed=-1: expected a non-negative integer"),
        ({"shards": 0}, r"invalid shards=0: expected an integer from 1 to 500"),
        ({"initial_load": 1.5}, r"invalid initial_load=1\.5"),
        ({"usage_machines": 99, "machines": 10}, r"invalid usage_machines=99"),
    ],
)
def test_invalid_arguments_rejected(tmp_path: Path, options: dict, message: str):
    with pytest.raises(ParameterError, match=message):
        generate_google_2011(tmp_path / "t", **options)
    assert not (tmp_path / "t").exists()


def test_existing_folder_kept_unless_overwrite(tmp_path: Path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ParameterError, match="already exists and is not empty"):
        generate_google_2011(out, machines=10, duration_s=600)
    assert (out / "keep.txt").read_text() == "x"

    generate_google_2011(out, machines=10, duration_s=600, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert (out / "task_events").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


# ------------------------------------------------------- through the reader


def test_reader_ingests_default_trace(default_trace: Trace, tmp_path: Path):
    store = ingest_google_2011(default_trace.folder, tmp_path / "store")
    manifest = store.manifest
    written = json.loads((default_trace.folder / "synthetic.json").read_text())
    for table, rows in written["rows"].items():
        counts = manifest["source_tables"][table]
        assert counts["rows_read"] == rows, table
        assert counts["rows_rejected"] == 0, table
    assert manifest["tables"]["quarantine"]["rows"] == 0
    assert not any(manifest["anomalies"].values()), manifest["anomalies"]

    submits = sum(r["event"] == SUBMIT for r in default_trace.task_events)
    assert manifest["tables"]["processes"]["rows"] == submits
    jobs = {r["job"] for r in default_trace.job_events}
    assert manifest["tables"]["groups"]["rows"] == len(jobs)
