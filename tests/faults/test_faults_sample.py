"""Fault-cell figures of the real Google 2011 sample, checked against the raw files.

Every expected value here is computed from the raw CSV shards with the csv module,
independently of the reader and the store.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
from collections import defaultdict
from pathlib import Path

import pytest

from muosm_perf.analysis.characterize import characterize
from muosm_perf.analysis.faults import (
    analyze_faults,
    fault_cell_summary,
    load_fault_history,
)
from muosm_perf.cli import main
from muosm_perf.report.document import Table, render_markdown
from muosm_perf.report.faults import fault_cells_section, save_fault_figures

TRACE_START_US = 600_000_000


def raw_machine_events(folder: Path) -> list[tuple[int, int, int]]:
    """(time, machine, event type) of every machine_events row, in file order."""
    path = folder / "machine_events" / "part-00000-of-00001.csv.gz"
    with gzip.open(path, "rt", newline="") as handle:
        return [(int(r[0]), int(r[1]), int(r[2])) for r in csv.reader(handle)]


@pytest.fixture(scope="module")
def google_2011_trace(samples):
    return samples / "google-2011"


@pytest.fixture(scope="module")
def machine_rows(google_2011_trace):
    return raw_machine_events(google_2011_trace)


@pytest.fixture(scope="module")
def analysis(google_2011_store):
    return analyze_faults(google_2011_store, bootstrap_samples=200, seed=3)


def test_removed_share_from_raw_file(machine_rows, google_2011_store):
    machines = {machine for _, machine, _ in machine_rows}
    removed = {machine for _, machine, event in machine_rows if event == 1}
    assert len(machines) == 12_583
    assert len(removed) == 5_141
    summary = fault_cell_summary(google_2011_store)
    assert summary["machines"] == len(machines)
    assert summary["machines_removed"] == len(removed)
    assert summary["machines_removed_share"] == pytest.approx(5_141 / 12_583)


def test_removals_and_down_at_end(machine_rows, analysis):
    last_state = {}
    for _, machine, event in machine_rows:
        if event in (0, 1):
            last_state[machine] = event
    overall = analysis["overall"]
    assert overall["removals"] == sum(1 for row in machine_rows if row[2] == 1)
    assert overall["machines_down_at_end"] == sum(
        1 for state in last_state.values() if state == 1
    )


def test_mtbf_and_mttr_from_raw_file(machine_rows, analysis):
    end = max(time for time, _, _ in machine_rows)
    up_us = down_us = removals = repairs = 0
    since = {}
    state = {}
    for time, machine, event in machine_rows:
        if event == 2:
            continue
        at = max(time, TRACE_START_US)
        if machine in state:
            if state[machine] == event:
                continue
            if state[machine] == 0:
                up_us += at - since[machine]
            else:
                down_us += at - since[machine]
                repairs += 1
        elif event == 1:
            up_us += at - TRACE_START_US
        removals += event == 1
        state[machine], since[machine] = event, at
    for machine, current in state.items():
        if current == 0:
            up_us += end - since[machine]
        else:
            down_us += end - since[machine]
    overall = analysis["overall"]
    assert overall["mtbf"]["mean_s"] == pytest.approx(up_us / 1e6 / removals)
    assert overall["mttr"]["mean_s"] == pytest.approx(down_us / 1e6 / repairs)
    assert overall["availability"] == pytest.approx(up_us / (up_us + down_us))
    low, high = overall["mtbf"]["ci_s"]
    assert low < overall["mtbf"]["mean_s"] < high
    low, high = overall["mtbf"]["bootstrap"]["ci_s"]
    assert low < overall["mtbf"]["mean_s"] < high


def raw_attributed_endings(folder: Path, machine_rows, tolerance_us: int) -> dict:
    """Count EVICT, KILL and LOST rows within the tolerance after a REMOVE.

    An ending counts when the task was scheduled on the machine at or before the
    machine's last REMOVE before the ending (or before the window, time 0).
    """
    removes = defaultdict(list)
    for time, machine, event in machine_rows:
        if event == 1:
            removes[machine].append(time)
    scheduled = {}
    counts = {"EVICT": 0, "KILL": 0, "LOST": 0}
    names = {2: "EVICT", 5: "KILL", 6: "LOST"}
    for path in sorted((folder / "task_events").glob("part-*.csv.gz")):
        with gzip.open(path, "rt", newline="") as handle:
            rows = [
                (int(r[0]), int(r[2]), int(r[3]), r[4], int(r[5]))
                for r in csv.reader(handle)
            ]
        for time, job, task, machine, event in rows:
            if event == 1:
                scheduled[(job, task)] = time
            elif event in names and machine:
                times = removes.get(int(machine), [])
                index = bisect.bisect_right(times, time) - 1
                start = scheduled.get((job, task))
                if (
                    index >= 0
                    and start is not None
                    and start <= times[index]
                    and time - times[index] <= tolerance_us
                ):
                    counts[names[event]] += 1
    return counts


def test_removal_attribution_matches_raw(google_2011_trace, machine_rows, analysis):
    outcomes = analysis["process_outcomes"]
    expected = raw_attributed_endings(google_2011_trace, machine_rows, 60_000_000)
    for state, count in expected.items():
        observed = outcomes["by_end_state"].get(state, {}).get("machine_removal", 0)
        assert observed == count, state
    assert outcomes["removal_attributed"]["attempts"] == sum(expected.values())


def test_removal_attribution_grows_with_tolerance(analysis):
    rows = analysis["process_outcomes"]["tolerance_sensitivity"]
    totals = [row["EVICT"] + row["KILL"] + row["LOST"] for row in rows]
    assert totals == sorted(totals)
    assert totals[0] > 0


def test_distributions_are_censored(analysis):
    uptime = analysis["distributions"]["uptime"]
    downtime = analysis["distributions"]["downtime"]
    assert uptime["censored"] > 0
    assert downtime["censored"] == analysis["overall"]["machines_down_at_end"]
    assert {fit["family"] for fit in uptime["fitted"]["fits"]} == {
        "weibull",
        "exponential",
        "lognormal",
    }


def test_bursts_exceed_poisson(analysis):
    bursts = analysis["bursts"]
    assert bursts["bursts"] > bursts["poisson_expected"]
    assert bursts["dispersion_index_hourly"] > 1


def test_analysis_is_json_and_reproducible(google_2011_store, analysis):
    again = analyze_faults(google_2011_store, bootstrap_samples=200, seed=3)
    assert json.dumps(again, sort_keys=True) == json.dumps(analysis, sort_keys=True)


def test_analyze_includes_fault_cells(google_2011_store):
    result = characterize(google_2011_store)
    cells = result["fault_cells"]
    assert cells["machines_removed_share"] == pytest.approx(5_141 / 12_583)
    assert cells["mtbf_s"] > 0
    assert cells["mttr_s"] > 0
    assert cells["mtbf_ci_s"][0] < cells["mtbf_s"] < cells["mtbf_ci_s"][1]


def test_cli_faults_json(google_2011_store, capsys):
    status = main(
        ["faults", str(google_2011_store.path), "--json", "--bootstrap", "50"]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["overall"]["machines_removed"] == 5_141
    assert result["parameters"]["bootstrap_samples"] == 50


def test_cli_faults_text(google_2011_store, capsys):
    status = main(["faults", str(google_2011_store.path), "--bootstrap", "0"])
    assert status == 0
    text = capsys.readouterr().out
    assert "5,141 removed at least once" in text
    assert "MTBF" in text
    assert "bootstrap" not in text.split("MTBF", 1)[1].splitlines()[0]


def test_fault_figures_written(google_2011_store, tmp_path):
    paths = save_fault_figures(load_fault_history(google_2011_store), tmp_path)
    assert [path.name for path in paths] == [
        "failure-timeline.png",
        "time-between-failures.png",
        "survival-curves.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000


def test_report_section_renders(google_2011_store, analysis, tmp_path):
    history = load_fault_history(google_2011_store)
    section = fault_cells_section(history, analysis, tmp_path)
    markdown = render_markdown("report", [section])
    assert section.title == "Fault cells"
    assert "| MTBF (days) |" in markdown
    assert "failure-timeline.png" in markdown
    for name in ("failure-timeline.png", "survival-curves.png"):
        assert (tmp_path / name).is_file()
    tables = [block for block in section.blocks if isinstance(block, Table)]
    platform_table = next(t for t in tables if t.columns[0] == "platform")
    assert len(platform_table.rows) == 3


def test_cell_gaps_fit_agrees_with_generic_fitting(analysis):
    sample = analysis["distributions"]["cell_time_between_removals"]
    generic = {c["family"]: c for c in sample["all_families"]["candidates"]}
    censored = {f["family"]: f for f in sample["fitted"]["fits"]}
    assert set(generic) >= {"weibull", "exponential", "lognormal", "gamma"}
    # The two fits differ by the one censored gap after the last removal.
    assert generic["weibull"]["parameters"]["shape"] == pytest.approx(
        censored["weibull"]["parameters"]["shape"], rel=1e-3
    )
    assert generic["exponential"]["parameters"]["scale"] == pytest.approx(
        censored["exponential"]["parameters"]["scale_s"], rel=1e-3
    )


def test_machine_level_spread(analysis, machine_rows):
    machine = analysis["levels"]["machine"]
    removes = {}
    for _, cell, event in machine_rows:
        removes[cell] = removes.get(cell, 0) + (event == 1)
    assert machine["removals_per_machine"]["max"] == max(removes.values())
    assert machine["machines_with_10_or_more_removals"] == sum(
        1 for count in removes.values() if count >= 10
    )
    top = machine["most_removed"][0]
    assert removes[top["cell_id"]] == top["removals"]
