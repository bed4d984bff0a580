"""The muosm command: the main job end to end, and errors with exit status 2."""

from __future__ import annotations

import json

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
    assert replay["inputs"]["processes"] == analysis["attempts"]


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
    assert replay["inputs"]["processes"] == analysis["attempts"]
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
