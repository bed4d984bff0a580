"""Google 2011 reader: counts on the real sample, sentinels, bad input, atomicity."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from conftest import job_row, machine_row, task_row, write_shard

from muosm_perf.errors import (
    OutputError,
    StoreError,
    TraceFormatError,
    TraceNotFoundError,
)
from muosm_perf.model import schema
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import replay
from muosm_perf.traces.google2011 import (
    AFTER_WINDOW,
    TASK_EVENTS,
    check_schema_file,
    ingest_google_2011,
)

EVENT_NAMES = [
    "SUBMIT",
    "SCHEDULE",
    "EVICT",
    "FAIL",
    "FINISH",
    "KILL",
    "LOST",
    "UPDATE_PENDING",
    "UPDATE_RUNNING",
]


def _raw_rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_sample_task_event_counts(samples, google_2011_store):
    shards = sorted((samples / "google-2011" / "task_events").glob("*.csv.gz"))
    expected = Counter()
    rows = 0
    for shard in shards:
        for row in _raw_rows(shard):
            rows += 1
            expected[EVENT_NAMES[int(row[5])]] += 1

    transitions = google_2011_store.read("transitions")
    observed = dict(transitions.group_by("event").len().iter_rows())
    assert rows == 803_964
    assert transitions.height == rows
    assert {str(k): v for k, v in observed.items()} == dict(expected)


def test_sample_counts_per_table(samples, google_2011_store):
    manifest = google_2011_store.manifest
    for table, store_table in (
        ("job_events", "group_transitions"),
        ("machine_events", "cell_events"),
    ):
        shards = sorted((samples / "google-2011" / table).glob("*.csv.gz"))
        rows = sum(len(_raw_rows(shard)) for shard in shards)
        assert manifest["source_tables"][table]["rows_read"] == rows
        assert manifest["source_tables"][table]["rows_rejected"] == 0
        assert google_2011_store.read(store_table).height == rows


def test_sample_first_shard_line_count(samples, google_2011_store):
    shard = samples / "google-2011" / "task_events" / "part-00000-of-00500.csv.gz"
    with gzip.open(shard, "rb") as handle:
        newlines = handle.read().count(b"\n")
    entry = next(
        f for f in google_2011_store.manifest["files"] if f["path"].endswith(shard.name)
    )
    assert newlines == 450_146
    assert entry["rows_read"] == newlines
    assert entry["rows_accepted"] == newlines


def test_sample_manifest_checksums(samples, google_2011_store):
    for entry in google_2011_store.manifest["files"]:
        path = samples / "google-2011" / entry["path"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_sample_column_names_are_schema(google_2011_store):
    for table in ("transitions", "processes", "groups", "cells", "cell_events"):
        frame = google_2011_store.scan(table).collect_schema()
        assert frame == schema.CANONICAL[table]
        assert all(name.isidentifier() for name in frame.names())


def test_sample_optional_tables(samples, google_2011_store):
    usage_file = next((samples / "google-2011" / "task_usage").iterdir())
    with usage_file.open() as handle:
        usage_rows = sum(1 for _ in handle)
    attributes_file = next((samples / "google-2011" / "machine_attributes").iterdir())
    with attributes_file.open() as handle:
        attribute_rows = sum(1 for _ in handle)
    assert google_2011_store.read("usage").height == usage_rows
    assert google_2011_store.read("cell_attributes").height == attribute_rows
    assert not google_2011_store.has("constraints")


def test_sample_time_zero_is_before_window(samples, google_2011_store):
    shard = samples / "google-2011" / "task_events" / "part-00000-of-00500.csv.gz"
    zeros = sum(1 for row in _raw_rows(shard) if row[0] == "0")
    transitions = google_2011_store.read("transitions")
    first_file = transitions.filter(pl.col("source_file") == 0)
    assert first_file["before_window"].sum() == zeros
    assert first_file.filter(pl.col("before_window"))["time_us"].null_count() == zeros


def test_sentinel_after_window_is_censored(make_trace, tmp_path):
    trace = make_trace(
        [
            task_row(0, 7, 0, 0),
            task_row(0, 7, 0, 1, machine=1),
            task_row(AFTER_WINDOW, 7, 0, 4, machine=1),
            task_row(1_000_000_000, 8, 0, 0),
            task_row(1_500_000_000, 8, 0, 1, machine=1),
        ]
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    transitions = store.read("transitions")
    finish = transitions.filter(pl.col("event") == "FINISH").row(0, named=True)
    assert finish["time_us"] is None
    assert finish["after_window"] is True
    assert transitions["time_us"].max() == 1_500_000_000

    processes = store.read("processes").sort("group_id")
    first = processes.row(0, named=True)
    assert first["end_after_window"] is True
    assert first["end_state"] == "FINISH"
    assert first["end_time_us"] is None
    assert first["run_time_us"] is None
    assert first["submit_before_window"] is True
    assert first["scheduling_delay_us"] is None
    second = processes.row(1, named=True)
    assert second["scheduling_delay_us"] == 500_000_000


def test_sentinel_plus_offset_is_never_computed(make_trace, tmp_path):
    """A sentinel time must not take part in arithmetic that wraps or rounds."""
    trace = make_trace(
        [task_row(600_000_000, 1, 0, 0), task_row(AFTER_WINDOW, 1, 0, 1, machine=1)]
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    processes = store.read("processes")
    for column in ("schedule_time_us", "scheduling_delay_us", "run_time_us"):
        assert processes[column].to_list() == [None]
    assert processes["submit_time_us"].to_list() == [600_000_000]


def test_float_request_after_100_zero_rows(make_trace, tmp_path):
    rows = [task_row(600_000_000 + i, 1, i, 0, cpu=0) for i in range(100)]
    rows.append(task_row(600_000_200, 1, 100, 0, cpu=0.0625))
    store = ingest_google_2011(make_trace(rows), tmp_path / "store")
    transitions = store.read("transitions").sort("process_index")
    assert transitions["cpu_request"][100] == 0.0625
    assert transitions["cpu_request"][:100].to_list() == [0.0] * 100


def test_job_without_tasks_has_zero_processes(make_trace, tmp_path):
    trace = make_trace(
        [task_row(600_000_000, 1, 0, 0)],
        jobs=[job_row(600_000_000, 1, 0), job_row(700_000_000, 6377830001, 0)],
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    groups = store.read("groups").filter(pl.col("group_id") == 6377830001)
    assert groups.height == 1
    assert groups["processes"].to_list() == [0]
    assert groups["attempts"].to_list() == [0]


def test_reused_job_id_starts_new_incarnation(make_trace, tmp_path):
    job = 6253771429
    trace = make_trace(
        [task_row(600_000_000, job, 0, 0)],
        jobs=[
            job_row(600_000_000, job, 0),
            job_row(610_000_000, job, 1),
            job_row(620_000_000, job, 5),
            job_row(630_000_000, job, 0),
            job_row(640_000_000, job, 1),
        ],
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    groups = store.read("groups").sort("incarnation")
    assert groups["incarnation"].to_list() == [1, 2]
    assert groups["end_state"].to_list() == ["KILL", None]
    assert groups["submit_time_us"].to_list() == [600_000_000, 630_000_000]
    assert groups["attempts"].to_list() == [1, 0]


def test_reused_job_id_counts_attempts_per_incarnation(make_trace, tmp_path):
    job = 6253771429
    trace = make_trace(
        [
            task_row(601_000_000, job, 0, 0),
            task_row(605_000_000, job, 0, 5),
            task_row(631_000_000, job, 0, 0),
            task_row(631_000_000, job, 1, 0),
        ],
        jobs=[
            job_row(600_000_000, job, 0),
            job_row(620_000_000, job, 5),
            job_row(630_000_000, job, 0),
        ],
    )
    groups = ingest_google_2011(trace, tmp_path / "store").read("groups")
    groups = groups.sort("incarnation")
    assert groups["attempts"].to_list() == [1, 2]
    assert groups["processes"].to_list() == [1, 2]


def test_zero_cpu_request_is_kept(make_trace, tmp_path):
    trace = make_trace(
        [task_row(600_000_000, 1, 0, 0, cpu=0), task_row(600_000_001, 1, 0, 1, cpu=0)]
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    assert store.read("processes")["cpu_request"].to_list() == [0.0]


def test_bad_rows_are_quarantined(make_trace, tmp_path):
    good = [task_row(600_000_000 + i, 1, i, 0) for i in range(300)]
    short = task_row(600_000_000, 2, 0, 0)[:12]
    word = ["abc", *task_row(600_000_000, 3, 0, 0)[1:]]
    trace = make_trace([*good[:100], short, *good[100:200], word, *good[200:]])
    store = ingest_google_2011(trace, tmp_path / "store", max_rejected_fraction=0.05)
    quarantine = store.read("quarantine").sort("line")
    assert quarantine["line"].to_list() == [101, 202]
    assert quarantine["reason"][0] == "expected 13 comma-separated fields, found 12"
    assert quarantine["column"][1] == "time (field 1)"
    assert quarantine["value"][1] == "abc"
    assert quarantine["reason"][1].startswith("invalid integer")
    assert (
        quarantine["file"].to_list() == ["task_events/part-00000-of-00001.csv.gz"] * 2
    )
    counts = store.manifest["source_tables"]["task_events"]
    assert counts == {"rows_read": 302, "rows_accepted": 300, "rows_rejected": 2}
    assert store.read("transitions").height == 300


def test_too_many_bad_rows_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0), "x,y,z"])
    with pytest.raises(TraceFormatError, match=r"line 2.*expected 13 comma-separated"):
        ingest_google_2011(trace, tmp_path / "store")


def test_truncated_gzip_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000 + i, 1, i, 0) for i in range(5000)])
    shard = trace / "task_events" / "part-00000-of-00001.csv.gz"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        TraceFormatError, match=r"part-00000-of-00001\.csv\.gz.*truncated"
    ):
        ingest_google_2011(trace, tmp_path / "store")


def test_empty_file_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    (trace / "task_events" / "part-00001-of-00002.csv.gz").write_bytes(b"")
    with pytest.raises(
        TraceFormatError, match=r"part-00001-of-00002.*empty \(0 bytes\)"
    ):
        ingest_google_2011(trace, tmp_path / "store")


def test_shard_without_rows_is_reported(make_trace, tmp_path, caplog):
    trace = make_trace([])
    with caplog.at_level("WARNING"):
        store = ingest_google_2011(trace, tmp_path / "store")
    assert "part-00000-of-00001.csv.gz: the file contains no rows" in caplog.text
    assert "the trace has no process events in its window" in caplog.text
    with pytest.raises(StoreError, match="the store contains no process events"):
        replay(store)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(TraceNotFoundError, match="trace folder not found"):
        ingest_google_2011(tmp_path / "absent", tmp_path / "store")


def test_missing_table_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    for shard in (trace / "job_events").iterdir():
        shard.unlink()
    with pytest.raises(TraceNotFoundError, match=r"job_events has no \.csv\.gz"):
        ingest_google_2011(trace, tmp_path / "store")


def test_failed_ingest_keeps_existing_store(make_trace, tmp_path):
    store_path = tmp_path / "store"
    good = make_trace([task_row(600_000_000, 1, 0, 0)], name="good")
    ingest_google_2011(good, store_path)
    before = {
        p.relative_to(store_path): p.read_bytes()
        for p in store_path.rglob("*")
        if p.is_file()
    }

    bad = make_trace([task_row(600_000_000, 1, 0, 0)], name="bad")
    shard = bad / "machine_events" / "part-00000-of-00001.csv.gz"
    shard.write_bytes(shard.read_bytes()[:10])
    with pytest.raises(TraceFormatError):
        ingest_google_2011(bad, store_path)

    after = {
        p.relative_to(store_path): p.read_bytes()
        for p in store_path.rglob("*")
        if p.is_file()
    }
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_store_over_unrelated_folder_is_refused(make_trace, tmp_path):
    target = tmp_path / "documents"
    target.mkdir()
    (target / "thesis.tex").write_text("keep me")
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    with pytest.raises(
        OutputError, match="contains files that muosm-perf did not write"
    ):
        ingest_google_2011(trace, target)
    assert (target / "thesis.tex").read_text() == "keep me"


def test_store_over_folder_with_foreign_manifest_is_refused(make_trace, tmp_path):
    target = tmp_path / "extension"
    (target / "src").mkdir(parents=True)
    (target / "manifest.json").write_text('{"manifest_version": 3}')
    (target / "src" / "main.js").write_text("code")
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    with pytest.raises(
        OutputError, match="contains files that muosm-perf did not write"
    ):
        ingest_google_2011(trace, target)
    assert (target / "src" / "main.js").read_text() == "code"


def test_store_inside_its_trace_folder_is_refused(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    with pytest.raises(OutputError, match="contains the input"):
        ingest_google_2011(trace, trace.parent)
    assert (trace / "task_events").is_dir()


def test_store_replaces_earlier_store(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    ingest_google_2011(trace, tmp_path / "store")
    store = ingest_google_2011(trace, tmp_path / "store")
    assert store.read("transitions").height == 1
    (tmp_path / "store" / "extra.txt").write_text("added by hand")
    with pytest.raises(OutputError, match=r"contains 1 file\(s\) .*\(extra.txt\)"):
        ingest_google_2011(trace, tmp_path / "store")
    assert (tmp_path / "store" / "extra.txt").is_file()


def test_schema_file_mismatch_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    rows = [["file pattern", "field number", "content", "format", "mandatory"]]
    rows += [
        ["task_events/part-?????-of-?????.csv.gz", str(i + 1), f.name, "INTEGER", "NO"]
        for i, f in enumerate(TASK_EVENTS.fields[:12])
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    (trace / "schema.csv").write_text(buffer.getvalue())
    with pytest.raises(TraceFormatError, match="task_events has 12 columns"):
        ingest_google_2011(trace, tmp_path / "store")


def test_sample_schema_file_is_accepted(samples):
    check_schema_file(samples / "google-2011" / "schema.csv")


def test_manifest_is_json_with_counts(make_trace, tmp_path):
    trace = make_trace(
        [task_row(600_000_000, 1, 0, 0)], machines=[machine_row(0, 1, 0)]
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["source"]["format"] == "google-2011"
    assert manifest["tables"]["transitions"]["rows"] == 1
    assert manifest["window_us"] == {"start": 600_000_000, "end": 600_000_000}
    assert isinstance(store, TraceStore)


def test_invalid_utf8_row_is_quarantined(make_trace, tmp_path):
    good = [task_row(600_000_000 + i, 1, i, 0) for i in range(200)]
    trace = make_trace(good)
    shard = trace / "task_events" / "part-00000-of-00001.csv.gz"
    text = gzip.decompress(shard.read_bytes())
    shard.write_bytes(
        gzip.compress(text + b"600000000,,1,999,,0,\xff\xfe,1,2,0.1,0.1,0,0\n")
    )
    store = ingest_google_2011(trace, tmp_path / "store")
    quarantine = store.read("quarantine")
    assert quarantine["reason"].to_list() == ["invalid UTF-8"]
    assert quarantine["line"].to_list() == [201]


def test_write_shard_helper_roundtrip(tmp_path):
    path = write_shard(tmp_path / "x.csv.gz", [[1, None, "a"], "raw,line"])
    assert gzip.decompress(path.read_bytes()) == b"1,,a\nraw,line\n"


def test_task_constraints_are_read(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    write_shard(
        trace / "task_constraints" / "part-00000-of-00001.csv.gz",
        [
            [600_000_000, 1, 0, 1, "attr-hash", "5"],
            [0, 1, 1, 0, "attr-hash", None],
            [600_000_000, 1, 0, 9, "attr-hash", "5"],
        ],
    )
    store = ingest_google_2011(trace, tmp_path / "store", max_rejected_fraction=0.5)
    constraints = store.read("constraints").sort("process_index")
    assert constraints["operator"].to_list() == [1, 0]
    assert constraints["value"].to_list() == ["5", None]
    assert constraints["before_window"].to_list() == [False, True]
    quarantine = store.read("quarantine")
    assert quarantine["column"].to_list() == ["comparison_operator (field 4)"]
    assert quarantine["value"].to_list() == ["9"]


def test_duplicate_shard_is_an_error(make_trace):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    shard = trace / "task_events" / "part-00000-of-00001.csv.gz"
    (trace / "task_events" / "part-00000-of-00001 (1).csv.gz").write_bytes(
        shard.read_bytes()
    )
    with pytest.raises(TraceFormatError, match=r"same content .* as task_events/"):
        ingest_google_2011(trace, trace.parent / "store")


def test_shard_copied_into_another_table_is_named(make_trace):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    shard = trace / "task_events" / "part-00000-of-00001.csv.gz"
    (trace / "job_events" / "part-00001-of-00002.csv.gz").write_bytes(
        shard.read_bytes()
    )
    with pytest.raises(
        TraceFormatError, match=r"a file of another table; one of the two is in the"
    ):
        ingest_google_2011(trace, trace.parent / "store")


def test_schema_file_not_utf8_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    (trace / "schema.csv").write_bytes(b"\xff\xfe not text")
    with pytest.raises(TraceFormatError, match=r"schema\.csv: is not UTF-8"):
        ingest_google_2011(trace, tmp_path / "store")


def test_schema_file_wrong_header_is_an_error(make_trace, tmp_path):
    trace = make_trace([task_row(600_000_000, 1, 0, 0)])
    (trace / "schema.csv").write_text("a,b\n1,2\n")
    with pytest.raises(TraceFormatError, match="line 1: has the header a, b"):
        ingest_google_2011(trace, tmp_path / "store")
