"""The muosm command: the main job end to end, and errors with exit status 2."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import task_row

from muosm_perf.cli import main
from muosm_perf.model.store import TraceStore


def test_demo_writes_report_store_and_trace(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["demo", "-o", str(out), "--no-progress", "--hours", "2"])
    assert status == 0
    assert f"wrote {out / 'index.html'}" in capsys.readouterr().out
    for name in ("index.html", "report.md", "analysis.json", "replay.json"):
        assert (out / name).is_file()
    synthetic = json.loads((out / "trace" / "synthetic.json").read_text())
    assert synthetic["parameters"]["seed"] == 0
    store = TraceStore(out / "store")
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["attempts"] == store.read("processes").height
    replay = json.loads((out / "replay.json").read_text())
    assert set(replay["bands"]) >= {"free", "middle", "production"}
    inputs = replay["inputs"]
    assert inputs["processes"] + inputs["held_unscheduled"] == analysis["attempts"]


def test_demo_is_reproducible(tmp_path):
    for name in ("a", "b"):
        assert (
            main(["demo", "-o", str(tmp_path / name), "--no-progress", "--hours", "1"])
            == 0
        )
    first = json.loads((tmp_path / "a" / "analysis.json").read_text())
    second = json.loads((tmp_path / "b" / "analysis.json").read_text())
    assert first == second


def test_run_on_sample(samples, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(
        ["run", str(samples / "google-2011"), "-o", str(out), "--no-progress"]
    )
    assert status == 0
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["events_by_type"]["SUBMIT"] == 322_739
    assert analysis["cells"] == 12_583
    replay = json.loads((out / "replay.json").read_text())
    inputs = replay["inputs"]
    assert inputs["processes"] + inputs["held_unscheduled"] == analysis["attempts"]
    assert replay["utilization_mae"]["cpu"] < 5
    for band in ("free", "middle", "production"):
        observed = replay["bands"][band]["observed"]
        expected = analysis["scheduling_delay_s"][band]
        assert observed["n"] == expected["n"]
        for key in ("mean", "p50", "p90", "p99"):
            assert observed[key] == pytest.approx(expected[key], rel=1e-12)


def test_analyze_json_keys(google_2011_store, capsys):
    assert main(["analyze", str(google_2011_store.path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "events_by_type",
        "processes",
        "attempts",
        "groups",
        "cells",
        "scheduling_delay_s",
        "outcomes_by_band",
        "churn",
    ):
        assert key in result
    for band in ("free", "middle", "production"):
        assert set(result["scheduling_delay_s"][band]) == {
            "n",
            "mean",
            "p50",
            "p90",
            "p99",
        }


def test_analyze_text(google_2011_store, capsys):
    assert main(["analyze", str(google_2011_store.path)]) == 0
    text = capsys.readouterr().out
    assert "cells       12,583 (5,141 removed at least once)" in text


def test_report_without_replay(google_2011_store, tmp_path):
    out = tmp_path / "report"
    assert (
        main(["report", str(google_2011_store.path), "-o", str(out), "--no-replay"])
        == 0
    )
    assert (out / "index.html").is_file()
    assert not (out / "replay.json").exists()


def test_ingest_missing_folder_exits_2(tmp_path, capsys):
    status = main(
        [
            "ingest",
            "google-2011",
            str(tmp_path / "nowhere"),
            "-o",
            str(tmp_path / "store"),
            "--no-progress",
        ]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("muosm ingest: error: trace folder not found:")
    assert "nowhere" in error


def test_ingest_bad_rows_exit_2_with_location(make_trace, tmp_path, capsys):
    trace = make_trace([task_row(600_000_000, 1, 0, 0), "12,x"])
    status = main(
        [
            "ingest",
            "google-2011",
            str(trace),
            "-o",
            str(tmp_path / "store"),
            "--no-progress",
        ]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert "task_events/part-00000-of-00001.csv.gz, line 2" in error
    assert "--max-rejected-fraction" in error


def test_analyze_missing_store_exits_2(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    assert "is not a trace store" in capsys.readouterr().err


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["frobnicate"])
    assert raised.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_run_on_swf_log_uses_backfilling(samples, tmp_path):
    out = tmp_path / "nasa"
    log = samples / "swf" / "NASA-iPSC-1993-3.1-cln.swf.gz"
    assert (
        main(["run", str(log), "--format", "swf", "-o", str(out), "--no-progress"]) == 0
    )
    replay = json.loads((out / "replay.json").read_text())
    assert replay["policy"] == "easy"
    assert replay["totals"]["jobs"] == 18_239
    assert replay["totals"]["jobs_replayed"] == 18_239
    assert replay["bands"]["all"]["predicted"]["n"] == 18_239
    assert replay["utilization_mae"] == {"cpu": None, "memory": None}


def test_run_without_process_events_skips_replay(samples, tmp_path):
    out = tmp_path / "cell-a"
    assert (
        main(
            [
                "run",
                str(samples / "google-2019"),
                "--format",
                "google-2019",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert not (out / "replay.json").exists()
    report = (out / "report.md").read_text()
    assert "No replay in this report: store has no process events" in report


def test_report_over_its_own_store_is_refused(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--no-progress", "--hours", "1"]) == 0
    assert main(["report", str(out / "store"), "-o", str(out)]) == 2
    assert "contains the input" in capsys.readouterr().err
    assert (out / "store" / "manifest.json").is_file()


def test_verbose_after_subcommand(google_2011_store, capsys):
    assert main(["analyze", str(google_2011_store.path), "-v"]) == 0
    assert "processes" in capsys.readouterr().out


def test_demo_rejects_bad_hours(tmp_path, capsys):
    for value in ("nan", "inf", "0", "-1"):
        with pytest.raises(SystemExit) as raised:
            main(["demo", "-o", str(tmp_path / "x"), "--hours", value])
        assert raised.value.code == 2
        assert "argument --hours: must be a number of hours" in capsys.readouterr().err


def test_damaged_store_is_reported(google_2011_store, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    shutil.copytree(google_2011_store.path, damaged)
    (damaged / "manifest.json").write_text("{bad")
    assert main(["analyze", str(damaged)]) == 2
    assert "the store is damaged" in capsys.readouterr().err

    shutil.copytree(google_2011_store.path, damaged, dirs_exist_ok=True)
    for part in (damaged / "processes").glob("*.parquet"):
        part.unlink()
    assert main(["analyze", str(damaged)]) == 2
    assert "table processes has no Parquet parts" in capsys.readouterr().err

    shutil.copytree(google_2011_store.path, damaged, dirs_exist_ok=True)
    (damaged / "transitions" / "part-00000.parquet").write_bytes(b"garbage")
    assert main(["analyze", str(damaged)]) == 2
    assert "ingest the trace again" in capsys.readouterr().err
