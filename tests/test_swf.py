"""SWF reader and replay: header, sentinels, lifecycle, real logs."""

from __future__ import annotations

import gzip
import statistics

import numpy as np
import polars as pl
import pytest

from muosm_perf.errors import ParameterError, TraceFormatError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.backfill import replay_schedule
from muosm_perf.kernels.reference.backfill import replay_reference
from muosm_perf.predict.swf_replay import replay_swf
from muosm_perf.traces.swf import ingest_swf, parse_header

HEADER = """\
; Version: 2.2
; Computer: Test Machine
; Installation: Test Site
; Information: http://example.org/
;              http://example.org/more
; MaxJobs: 6
; UnixStartTime: 1000000000
; TimeZoneString: Europe/Paris
; MaxNodes: 4
; MaxProcs: 8
; Note: first note
;       continued here
; Note: second note
; MaxQueues: 2
; Queue: 0 short
; Queue: 1 long
;
"""


def fields(job, submit, wait, run, procs, status, *, requested_time=-1, queue=1):
    values = [
        job,
        submit,
        wait,
        run,
        procs,
        -1,
        -1,
        procs,
        requested_time,
        -1,
        status,
        7,
        3,
        -1,
        queue,
        -1,
        -1,
        -1,
    ]
    return " ".join(str(v) for v in values)


def write_log(path, lines, header=HEADER, compress=False):
    text = header + "\n".join(lines) + "\n"
    if compress:
        with gzip.open(path, "wt", encoding="ascii") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="ascii")
    return path


def test_header_keys_lists_and_continuations():
    lines = [line[1:] for line in HEADER.splitlines() if line.startswith(";")]
    header = parse_header(lines)
    assert header["MaxProcs"] == 8
    assert header["MaxNodes"] == 4
    assert header["UnixStartTime"] == 1_000_000_000
    assert header["TimeZoneString"] == "Europe/Paris"
    assert header["Information"] == "http://example.org/ http://example.org/more"
    assert header["Note"] == ["first note continued here", "second note"]
    assert header["Queue"] == ["0 short", "1 long"]
    assert "http" not in header


def test_known_waits_give_instants(tmp_path):
    log = write_log(
        tmp_path / "site.swf",
        [fields(1, 0, 5, 10, 4, 1), fields(2, 3, 0, 2, 8, 0)],
    )
    store = ingest_swf(log, tmp_path / "store")
    processes = store.read("processes").sort("group_id")
    assert processes["submit_time_us"].to_list() == [0, 3_000_000]
    assert processes["schedule_time_us"].to_list() == [5_000_000, 3_000_000]
    assert processes["end_time_us"].to_list() == [15_000_000, 5_000_000]
    assert processes["scheduling_delay_us"].to_list() == [5_000_000, 0]
    assert processes["run_time_us"].to_list() == [10_000_000, 2_000_000]
    assert processes["end_state"].to_list() == ["FINISH", "FAIL"]
    assert processes["cpu_request"].to_list() == [4.0, 8.0]
    assert processes["cell_id"].to_list() == [1, 1]
    cells = store.read("cells")
    assert cells["cpu_capacity"].to_list() == [8.0]
    assert cells["platform"].to_list() == ["Test Machine"]
    assert store.manifest["swf_header"]["MaxProcs"] == 8


def test_unknown_wait_leaves_instants_unknown(tmp_path):
    log = write_log(tmp_path / "site.swf", [fields(1, 100, -1, 60, 2, 1)])
    store = ingest_swf(log, tmp_path / "store")
    row = store.read("processes").row(0, named=True)
    assert row["submit_time_us"] == 100_000_000
    assert row["schedule_time_us"] is None
    assert row["scheduling_delay_us"] is None
    assert row["end_time_us"] is None
    assert row["run_time_us"] == 60_000_000
    assert row["end_state"] == "FINISH"
    jobs = store.read("swf_jobs")
    assert jobs["wait_time"].to_list() == [None]
    assert jobs["average_cpu_time"].to_list() == [None]
    assert store.manifest["wait_time_known"] == {"jobs": 0, "of": 1}


def test_status_codes_and_partial_executions(tmp_path):
    log = write_log(
        tmp_path / "site.swf",
        [
            fields(1, 0, 0, 10, 2, 2),  # partial execution, to be continued
            fields(2, 1, 0, 5, 2, 5),  # cancelled after it started
            fields(3, 2, 4, -1, -1, 5),  # cancelled before it started
            fields(1, 20, 0, 30, 2, 3),  # last partial execution, completed
            fields(4, 30, 0, 1, 1, -1),  # no status
            fields(5, 31, 0, 1, 1, 4),  # last partial execution, failed
        ],
    )
    store = ingest_swf(log, tmp_path / "store")
    processes = store.read("processes").sort("group_id", "attempt")
    assert processes.select("group_id", "attempt").rows() == [
        (1, 1),
        (1, 2),
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 1),
    ]
    assert processes["end_state"].to_list() == [
        "EVICT",
        "FINISH",
        "KILL",
        "KILL",
        "LOST",
        "FAIL",
    ]
    cancelled = processes.filter(pl.col("group_id") == 3).row(0, named=True)
    assert cancelled["schedule_time_us"] is None
    assert cancelled["end_time_us"] == 6_000_000
    assert cancelled["run_time_us"] is None
    transitions = store.read("transitions")
    assert transitions.filter(pl.col("group_id") == 3)["event"].to_list() == [
        "SUBMIT",
        "KILL",
    ]
    ends = transitions.filter(pl.col("event") == "LOST")
    assert ends["source_code"].to_list() == [-1]


def test_fractional_seconds_exact_microseconds(tmp_path):
    line = "1 0.5 1.25 2.000001 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1"
    store = ingest_swf(write_log(tmp_path / "f.swf", [line]), tmp_path / "store")
    row = store.read("processes").row(0, named=True)
    assert row["submit_time_us"] == 500_000
    assert row["schedule_time_us"] == 1_750_000
    assert row["run_time_us"] == 2_000_001


def test_bad_lines_quarantined(tmp_path):
    good = [fields(i, i, 0, 1, 1, 1) for i in range(1, 201)]
    bad = [
        "201 1 0 1 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1",  # 17 fields
        "202 x 0 1 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
        "203 1 -5 1 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
    ]
    log = write_log(tmp_path / "b.swf", good + bad)
    store = ingest_swf(log, tmp_path / "store", max_rejected_fraction=0.05)
    quarantine = store.read("quarantine").sort("line")
    assert store.read("processes").height == 200
    header_lines = HEADER.count("\n")
    assert quarantine["line"].to_list() == [header_lines + 201 + k for k in range(3)]
    assert quarantine["reason"].to_list() == [
        "expected 18 whitespace-separated fields, found 17",
        "invalid number of seconds",
        "below the minimum 0",
    ]
    assert quarantine["column"].to_list() == [None, "submit_time", "wait_time"]


def test_mostly_invalid_log_stops(tmp_path):
    log = write_log(tmp_path / "x.swf", ["a b c"] * 4)
    with pytest.raises(TraceFormatError, match=r"4 of 4 rows \(100\.0%\) are invalid"):
        ingest_swf(log, tmp_path / "store")


def test_folder_with_two_logs_is_ambiguous(tmp_path):
    write_log(tmp_path / "a.swf", [fields(1, 0, 0, 1, 1, 1)])
    write_log(tmp_path / "b.swf.gz", [fields(1, 0, 0, 1, 1, 1)], compress=True)
    with pytest.raises(ParameterError, match="contains 2 SWF logs"):
        ingest_swf(tmp_path, tmp_path / "store")


def read_real(path):
    """Parse a real SWF log independently: a list of 18 ints per job line."""
    with gzip.open(path, "rt", encoding="ascii") as handle:
        return [
            [int(v) for v in line.split()]
            for line in handle
            if line.strip() and not line.lstrip().startswith(";")
        ]


@pytest.mark.parametrize(
    ("name", "jobs", "processors"),
    [("NASA-iPSC-1993-3.1-cln.swf.gz", 18_239, 128), ("LCG.swf.gz", 188_041, 24_515)],
)
def test_real_logs_counts(samples, tmp_path, name, jobs, processors):
    path = samples / "swf" / name
    rows = read_real(path)
    store = ingest_swf(path, tmp_path / "store")
    processes = store.read("processes").sort("group_id", "attempt")
    swf_jobs = store.read("swf_jobs").sort("line")

    assert len(rows) == jobs
    assert swf_jobs.height == jobs
    assert store.read("quarantine").height == 0
    assert processes.height == len(rows)
    assert all(r[2] == -1 for r in rows)  # no wait times in either log
    assert processes["schedule_time_us"].null_count() == jobs
    assert store.read("cells")["cpu_capacity"].to_list() == [float(processors)]
    logged_runs = sorted(r[3] * 1_000_000 for r in rows if r[3] >= 0)
    assert sorted(processes["run_time_us"].drop_nulls().to_list()) == logged_runs
    assert swf_jobs["submit_time"].to_list() == [r[1] * 1_000_000 for r in rows]
    assert int(swf_jobs["partition_number"].n_unique()) == len({r[15] for r in rows})
    transitions = store.read("transitions")
    never_started = sum(1 for r in rows if r[10] == 5 and r[3] < 0)
    assert transitions.height == 3 * jobs - never_started


def test_replay_nasa_matches_reference(samples, tmp_path):
    path = samples / "swf" / "NASA-iPSC-1993-3.1-cln.swf.gz"
    store = ingest_swf(path, tmp_path / "store")
    predicted = replay_swf(store, policy="easy").sort("line")
    rows = read_real(path)
    assert predicted.height == len(rows)
    assert (predicted["predicted_wait_time_us"].drop_nulls() >= 0).all()
    assert predicted["logged_wait_time_us"].null_count() == len(rows)

    # The first 3,000 jobs replayed by the reference give the same starts.
    head = rows[:3000]
    reference = replay_reference(
        [r[1] * 1_000_000 for r in head],
        [r[3] * 1_000_000 if r[3] >= 0 else -1 for r in head],
        [r[8] * 1_000_000 if r[8] >= 0 else -1 for r in head],
        [r[4] if r[4] > 0 else max(r[7], 0) for r in head],
        128,
        "easy",
    )
    kernel = replay_schedule(
        np.array([r[1] * 1_000_000 for r in head]),
        np.array([r[3] * 1_000_000 if r[3] >= 0 else NULL_INT for r in head]),
        np.array([r[8] * 1_000_000 if r[8] >= 0 else NULL_INT for r in head]),
        np.array([r[4] if r[4] > 0 else max(r[7], 0) for r in head]),
        128,
        "easy",
    )
    assert [None if s == NULL_INT else int(s) for s in kernel] == reference
    waits = [
        s - r[1] * 1_000_000
        for s, r in zip(reference, head, strict=True)
        if s is not None
    ]
    assert statistics.fmean(waits) >= 0


def test_replay_checks_policy(tmp_path):
    log = write_log(tmp_path / "site.swf", [fields(1, 0, 0, 1, 1, 1)])
    store = ingest_swf(log, tmp_path / "store")
    with pytest.raises(ParameterError, match="policy must be one of fcfs, easy"):
        replay_swf(store, policy="random")
    predicted = replay_swf(store, policy="fcfs")
    assert predicted["predicted_start_time_us"].to_list() == [0]
