"""Side-by-side comparison: bus, fault-cell and queue figures, and the report."""

from __future__ import annotations

import functools
import gzip
import http.server
import itertools
import json
import shutil
import subprocess
import threading
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from muosm_perf.analysis.bus import counts_per_bin, index_of_dispersion, message_bus
from muosm_perf.analysis.faults import fault_cells
from muosm_perf.analysis.outages import (
    ObservationWindow,
    cell_intervals,
    machine_summary,
    observation_window,
)
from muosm_perf.analysis.schedulers import (
    average_load,
    open_intervals,
    pending_intervals,
    scheduler_summary,
)
from muosm_perf.analysis.workload import process_summary
from muosm_perf.cli import main
from muosm_perf.errors import OutputError, ParameterError
from muosm_perf.model import schema
from muosm_perf.report.compare import compare, write_comparison
from muosm_perf.traces.google2019 import ingest_google_2019
from muosm_perf.traces.swf import ingest_swf

HOUR = 3_600_000_000


def test_counts_per_bin_drops_partial_bin():
    times = np.array([0, 500_000, 1_200_000, 3_900_000, 4_200_000])
    assert counts_per_bin(times, 0, 4_500_000, 1).tolist() == [2, 1, 0, 1]
    assert counts_per_bin(times, 0, 900_000, 1).tolist() == []


def test_index_of_dispersion_exact():
    # counts 2, 1, 0, 1: mean 1, population variance 0.5.
    assert index_of_dispersion(np.array([2, 1, 0, 1])) == 0.5
    assert index_of_dispersion(np.array([3])) is None
    assert index_of_dispersion(np.array([0, 0, 0])) is None


def test_index_of_dispersion_of_poisson_stream_is_one():
    rng = np.random.default_rng(20240607)
    gaps = rng.exponential(0.2, size=100_000)  # 5 events per second
    times = np.cumsum(gaps * 1e6).astype(np.int64)
    for width, bins in ((1, 19_000), (10, 1_900)):
        counts = counts_per_bin(times, 0, int(times[-1]), width)
        assert counts.size >= bins
        # The estimate's standard error is about sqrt(2 / bins); allow 5 of them.
        assert abs(index_of_dispersion(counts) - 1) < 5 * np.sqrt(2 / counts.size)


def cell_event(cell, event, time_us, *, before=False, after=False, line=0):
    return {
        "time_us": None if before or after else time_us,
        "before_window": before,
        "after_window": after,
        "cell_id": cell,
        "event": event,
        "source_code": None,
        "platform": None,
        "domain": None,
        "cpu_capacity": 1.0,
        "memory_capacity": 1.0,
        "source_file": 0,
        "source_line": line,
    }


def test_up_time_removals_and_repairs():
    rows = [
        cell_event(1, "ADD", None, before=True, line=1),
        cell_event(1, "REMOVE", 10 * HOUR, line=2),
        cell_event(1, "ADD", 12 * HOUR, line=3),
        cell_event(2, "ADD", 5 * HOUR, line=4),
        cell_event(2, "UPDATE", 6 * HOUR, line=5),
        cell_event(3, "REMOVE", 0, line=6),  # before the window start: not counted
        cell_event(3, "ADD", 1 * HOUR, line=7),
        cell_event(3, "REMOVE", 30 * HOUR, line=8),  # after the window end
    ]
    frame = pl.DataFrame(rows, schema={**schema.CELL_EVENTS, "event": pl.String}).cast(
        dict(schema.CELL_EVENTS)
    )
    cells = pl.DataFrame(
        {"cell_id": [1, 2, 3], "platform": [None] * 3, "domain": [None] * 3},
        schema={"cell_id": pl.Int64, "platform": pl.String, "domain": pl.String},
    )
    window = ObservationWindow(HOUR // 2, 24 * HOUR)
    machines = machine_summary(cell_intervals(frame, cells, window), window)
    # Cell 1: 0.5-10 h and 12-24 h; cell 2: 5-24 h; cell 3: 1-24 h.
    assert machines["up_s"].sum() * 1e6 == pytest.approx(
        9.5 * HOUR + 12 * HOUR + 19 * HOUR + 23 * HOUR
    )
    assert machines["removals"].sum() == 1
    # Cell 3 was already down at the window start: no REMOVE seen, no repair.
    assert machines["repairs"].sum() == 1
    assert machines["repair_exposure_s"].sum() * 1e6 == pytest.approx(2 * HOUR)


def raw_v3_up_time(path, start_us):
    """Walk the raw v3 machine events: total up time (µs), removals, end time.

    Machines are up from an ADD, or from ``start_us`` if added before the trace
    (time 0), to the next REMOVE or the last event time of the file. A machine
    whose first event is a REMOVE counts as up from ``start_us``.
    """
    with gzip.open(path, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    end_us = max(int(row["time"]) for row in rows)
    by_machine: dict[int, list[tuple[int, int, int]]] = {}
    for line, row in enumerate(rows):
        time_us = max(int(row["time"]), start_us)
        event = int(row["type"])
        by_machine.setdefault(int(row["machine_id"]), []).append((time_us, line, event))
    up_us = removals = 0
    for events in by_machine.values():
        up_since = None
        seen = False
        for time_us, _, event in sorted(events):
            if event == 1 and up_since is None:
                up_since = time_us
            elif event == 2:
                if up_since is None and not seen:
                    up_since = start_us
                if up_since is not None:
                    up_us += time_us - up_since
                    removals += 1
                    up_since = None
            if event in (1, 2):
                seen = True
        if up_since is not None:
            up_us += end_us - up_since
    return up_us, removals, end_us


def test_fault_cells_of_real_machine_events(samples, tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    path = samples / "google-2019" / "machine_events-000000000000.json.gz"
    (trace / path.name).symlink_to(path)
    store = ingest_google_2019(trace, tmp_path / "store")
    faults = fault_cells(store)
    events = store.read("cell_events")
    window = observation_window(store)
    up_us, removals, end_us = raw_v3_up_time(path, window.start_us)
    assert window.end_us == end_us
    assert faults["cells"] == 10_001
    assert faults["removes"] == int((events["event"] == "REMOVE").sum())
    assert faults["removes"] == removals
    assert faults["mtbf_h"] == pytest.approx(up_us / removals / 3.6e9)
    assert faults["machine_days"] == pytest.approx(up_us / 86_400e6)
    assert faults["domains"] == events["domain"].n_unique()
    # Every machine is up at most the whole window.
    assert faults["machine_days"] <= 10_001 * window.length_s / 86_400


def attempts(rows):
    columns = {
        "submit_time_us": pl.Int64,
        "submit_before_window": pl.Boolean,
        "schedule_time_us": pl.Int64,
        "schedule_before_window": pl.Boolean,
        "end_time_us": pl.Int64,
        "end_after_window": pl.Boolean,
        "end_state": pl.String,
        "run_time_us": pl.Int64,
    }
    return pl.DataFrame(rows, schema=columns, orient="row")


def test_pending_intervals():
    frame = attempts(
        [
            (0, False, 10, False, 20, False, "FINISH", 10),  # pending 0-10
            (None, True, 5, False, 9, False, "FINISH", 4),  # from the window start
            (4, False, None, False, 8, False, "KILL", None),  # killed while pending
            (6, False, None, False, None, True, None, None),  # pending at the end
            (7, False, None, False, None, False, "LOST", 30),  # ran, start unknown
            (None, True, None, True, 50, False, "FINISH", 60),  # placed before
        ]
    )
    intervals, unknown = pending_intervals(frame, window_start_us=1)
    assert intervals.rows() == [(0, 10), (1, 5), (4, 8), (6, None)]
    assert unknown == 1


def test_open_intervals_exact_average_and_peak():
    starts = np.array([0, 1, 4, 6])
    ends = np.array([10, 5, 8, np.nan])
    # Over [1, 11) the open lengths are 9 + 4 + 4 + 5 = 22 in a window of 10.
    mean, peak = open_intervals(starts, ends, 1, 11)
    assert mean == pytest.approx(2.2)
    # At 6, [0, 10), [4, 8) and [6, end) are open, and [1, 5) has ended.
    assert peak == 3
    weighted, _ = open_intervals(starts, ends, 1, 11, np.array([1, 1, 2, 0.5]))
    assert weighted == pytest.approx((9 + 4 + 8 + 2.5) / 10)
    assert open_intervals(np.array([]), np.array([]), 0, 10) == (None, None)


def test_open_intervals_end_before_start_at_same_instant():
    # One ends at 5 as the next starts at 5: never two open at once.
    assert open_intervals(np.array([0, 5]), np.array([5, 9]), 0, 10)[1] == 1


def test_average_load_matches_direct_integration():
    rng = np.random.default_rng(7)
    starts = rng.integers(0, 100, size=200)
    ends = starts + rng.integers(0, 30, size=200)
    weights = rng.random(200)
    edges = np.array([0, 10, 25, 60, 130])
    # Integrate the open weight second by second (times are whole seconds).
    open_weight = np.array(
        [weights[(starts <= t) & (t < ends)].sum() for t in range(130)]
    )
    direct = [open_weight[low:high].mean() for low, high in itertools.pairwise(edges)]
    assert average_load(starts, ends, weights, edges) == pytest.approx(direct)


SWF = """\
; MaxProcs: 4
1 0 0 10 4 -1 -1 4 10 -1 1 1 1 -1 -1 -1 -1 -1
2 1 9 5 2 -1 -1 2 5 -1 1 1 1 -1 -1 -1 -1 -1
3 2 8 3 2 -1 -1 2 3 -1 0 1 1 -1 -1 -1 -1 -1
"""
SWF_NO_WAITS = """\
; MaxProcs: 4
1 0 -1 10 2 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1
2 1 -1 5 4 -1 -1 4 5 -1 1 1 1 -1 -1 -1 -1 -1
3 2 -1 3 2 -1 -1 2 3 -1 1 1 1 -1 -1 -1 -1 -1
"""


@pytest.fixture
def swf_stores(tmp_path):
    known = tmp_path / "known.swf"
    known.write_text(SWF, encoding="ascii")
    unknown = tmp_path / "unknown.swf"
    unknown.write_text(SWF_NO_WAITS, encoding="ascii")
    return (
        ingest_swf(known, tmp_path / "known"),
        ingest_swf(unknown, tmp_path / "unknown"),
    )


def test_scheduler_and_process_figures(swf_stores):
    known, unknown = swf_stores
    summary = scheduler_summary(known)
    assert summary["delay_s"]["all"]["n"] == 3
    assert summary["delay_s"]["all"]["mean"] == pytest.approx((0 + 9 + 8) / 3)
    assert summary["instants_known_share"] == 1.0
    # Jobs 1 (4 of 4 processors, 0-10 s), then 2 and 3 (2 each, 10-15 s, 10-13 s).
    assert summary["utilization"]["cpu"] is not None
    processes = process_summary(known)
    assert processes["processes"] == 3
    assert processes["outcomes"]["FINISH"] == pytest.approx(2 / 3)
    assert processes["outcomes"]["FAIL"] == pytest.approx(1 / 3)
    assert processes["run_time_s"]["mean"] == pytest.approx(6.0)

    blind = scheduler_summary(unknown)
    assert blind["delay_s"]["all"]["n"] == 0
    assert blind["queue"]["mean"] is None
    assert blind["queue"]["attempts_unknown"] == 3
    assert blind["utilization"]["cpu"] is None
    assert blind["instants_known_share"] == 0.0


def test_bus_counts_only_known_times(swf_stores):
    known, unknown = swf_stores
    assert message_bus(known)["events"] == 9
    blind = message_bus(unknown)
    assert blind["events"] == 3
    assert blind["events_unknown_time"] == 6


def test_replay_predicts_waits_of_unknown_log(swf_stores):
    _, unknown = swf_stores
    (summary,) = compare([unknown], replay_policy="easy")
    prediction = summary.prediction
    # EASY on 4 processors: job 1 (2 procs) at 0; job 2 (4) reserved at 10;
    # job 3 (2 procs, 3 s) ends at 5 <= 10, so it backfills at 2.
    assert prediction["wait_s"]["n"] == 3
    assert prediction["wait_s"]["mean"] == pytest.approx((0 + 9 + 0) / 3)
    assert prediction["queue"]["max"] == 1
    fcfs = compare([unknown], replay_policy="fcfs")[0].prediction
    # FCFS: job 3 waits behind job 2 until 15.
    assert fcfs["wait_s"]["mean"] == pytest.approx((0 + 9 + 13) / 3)
    assert compare([unknown], replay_policy=None)[0].prediction is None


def test_report_files_and_numbers(swf_stores, tmp_path):
    known, unknown = swf_stores
    path = write_comparison(
        [known, unknown], tmp_path / "report", labels=["with waits", "no waits"]
    )
    for name in (
        "index.html",
        "report.md",
        "comparison.json",
        "delay_cdf.png",
        "run_time_cdf.png",
        "dispersion.png",
        "utilization.png",
    ):
        assert (path / name).is_file()
    assert (path / "delay_cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((path / "comparison.json").read_text())
    markdown = (path / "report.md").read_text()
    assert [s["label"] for s in data["systems"]] == ["with waits", "no waits"]
    assert "| distributed process | job | job |" in markdown
    assert "| source format | swf | swf |" in markdown
    events = [s["message_bus"]["events"] for s in data["systems"]]
    assert f"| events with a known time | {events[0]} | {events[1]} |" in markdown
    for system in data["systems"]:
        bus = system["message_bus"]
        assert bus["process_events"] + bus["group_events"] == bus["events"]
    processes = [s["message_bus"]["process_events"] for s in data["systems"]]
    assert f"| of which process events | {processes[0]} | {processes[1]} |" in (
        markdown
    )
    assert "| policy | EASY |" in markdown
    assert data["systems"][1]["prediction"]["wait_s"]["mean"] == pytest.approx(3.0)
    assert "| queue length, mean | " in markdown


def test_report_refuses_unrelated_folder(swf_stores, tmp_path):
    destination = tmp_path / "notes"
    destination.mkdir()
    (destination / "keep.txt").write_text("keep")
    with pytest.raises(
        OutputError, match="contains files that muosm-perf did not write"
    ):
        write_comparison(list(swf_stores), destination)
    assert (destination / "keep.txt").read_text() == "keep"


def test_labels_must_match_stores(swf_stores, tmp_path):
    with pytest.raises(ParameterError, match="1 labels were given for 2 stores"):
        write_comparison(list(swf_stores), tmp_path / "r", labels=["one"])
    with pytest.raises(ParameterError, match="no store to compare"):
        compare([])


def test_same_folder_names_get_numbers(swf_stores):
    known, _ = swf_stores
    labels = [s.label for s in compare([known, known], replay_policy=None)]
    assert labels == ["known", "known (2)"]


def test_cli_compare(swf_stores, tmp_path, capsys):
    known, unknown = swf_stores
    status = main(
        [
            "compare",
            str(known.path),
            str(unknown.path),
            "-o",
            str(tmp_path / "cmp"),
            "--policy",
            "fcfs",
        ]
    )
    assert status == 0
    assert "index.html" in capsys.readouterr().out
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert data["replay_policy"] == "fcfs"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: ClassVar[list[tuple[str, int]]] = []

    def log_message(self, format, *args):
        pass

    def log_request(self, code="-", size="-"):
        self.requested.append((self.path, int(code)))


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_report_renders_in_chromium(swf_stores, tmp_path):
    path = write_comparison(list(swf_stores), tmp_path / "report")
    _QuietHandler.requested = []
    handler = functools.partial(_QuietHandler, directory=str(path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/index.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    try:
        dom = subprocess.run(
            [_chromium(), *flags, "--virtual-time-budget=5000", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    finally:
        server.shutdown()
    assert "<h2>Mapping onto μ-OSM</h2>" in dom
    assert dom.count("<table>") >= 5
    loaded = {p for p, code in _QuietHandler.requested if code == 200}
    for image in (
        "delay_cdf.png",
        "run_time_cdf.png",
        "dispersion.png",
        "utilization.png",
    ):
        assert f"/{image}" in loaded


def test_v3_delays_by_tier(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    records = []
    for index, (priority, delay_s) in enumerate(((0, 1), (150, 3), (205, 2))):
        base = {
            "collection_id": "9",
            "instance_index": str(index),
            "priority": str(priority),
        }
        records.append({**base, "time": "1000000", "type": "0"})
        records.append(
            {
                **base,
                "time": str(1_000_000 + delay_s * 1_000_000),
                "type": "3",
                "machine_id": "4",
            }
        )
    (trace / "instance_events-000.json").write_text(
        "\n".join(json.dumps(r) for r in records) + "\n"
    )
    store = ingest_google_2019(trace, tmp_path / "store")
    (summary,) = compare([store])
    delays = summary.scheduler["delay_s"]
    assert delays["free"]["mean"] == 1.0
    assert delays["production"]["mean"] == 3.0
    assert delays["monitoring"]["mean"] == 2.0
    assert delays["middle"]["n"] == 0
    assert delays["all"]["n"] == 3
    assert summary.prediction is None
