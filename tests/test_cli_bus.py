import json
import logging

import pytest
from conftest import job_row, task_row

from muosm_perf.analysis.bus import message_bus
from muosm_perf.cli import main
from muosm_perf.traces.google2011 import ingest_google_2011


def test_bus_json_on_real_store(google_2011_store, capsys):
    argv = ["bus", str(google_2011_store.path), "--partitions", "4", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["partitions"] == 4
    assert report["load"]["index_of_dispersion"] > 10
    messages = report["messages"]
    assert (
        sum(messages["process_events_per_band"].values())
        == (messages["process_events"])
    )
    assert messages["total"] == report["load"]["messages"]
    assert report["simulated_trace"]["transient"] is False
    assert report["simulated_trace"]["utilization"] < 0.1
    assert report["analytic_poisson"]["saturation_rate"] == pytest.approx(400.0)
    trace_p99 = report["simulated_trace"]["latency_percentiles_s"]["p99"]
    poisson_p99 = report["simulated_poisson"]["latency_percentiles_s"]["p99"]
    assert report["trace_over_poisson"]["p99"] == pytest.approx(trace_p99 / poisson_p99)


def test_bus_text_with_outage_and_sweep(google_2011_store, capsys):
    argv = [
        "bus",
        str(google_2011_store.path),
        "--outage-broker",
        "1",
        "--outage-start",
        "100",
        "--outage-duration",
        "30",
        "--sweep-partitions",
        "2,4",
    ]
    assert main(argv) == 0
    output = capsys.readouterr().out
    assert "simulated trace: latency" in output
    assert '"broker": 1' in output
    assert output.count("partitions: ") == 2


def test_bus_outage_needs_start_and_duration(google_2011_store, capsys):
    argv = ["bus", str(google_2011_store.path), "--outage-broker", "0"]
    assert main(argv) == 2
    assert "needs --outage-start and --outage-duration" in capsys.readouterr().err


def test_bus_missing_store(tmp_path, capsys):
    assert main(["bus", str(tmp_path / "absent")]) == 2
    assert "trace store not found" in capsys.readouterr().err


def test_bus_counts_match_compare_on_real_store(google_2011_store, capsys):
    assert main(["bus", str(google_2011_store.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    summary = message_bus(google_2011_store)
    assert report["messages"]["total"] == summary["events"]
    assert report["messages"]["process_events"] == summary["process_events"]
    assert report["messages"]["group_events"] == summary["group_events"]
    assert report["load"]["peak_rate"] == summary["peak_per_s"]
    # Both tables contribute: the bus is the task and job event stream.
    timed = sum(
        google_2011_store.read(table, ["time_us"])["time_us"].is_not_null().sum()
        for table in ("transitions", "group_transitions")
    )
    assert summary["events"] == timed
    assert summary["group_events"] > 0


@pytest.fixture
def small_store(make_trace, tmp_path):
    """Five task and two job events in the window, one of each before it."""
    trace = make_trace(
        [
            task_row(0, 1, 2, 0),
            task_row(600_000_000, 1, 0, 0),
            task_row(600_200_000, 1, 0, 1),
            task_row(600_500_000, 1, 1, 0),
            task_row(601_100_000, 1, 1, 1),
            task_row(603_000_000, 1, 0, 4),
        ],
        jobs=[job_row(0, 1, 0), job_row(600_000_000, 1, 0), job_row(600_900_000, 1, 1)],
    )
    return ingest_google_2011(trace, tmp_path / "store")


def test_bus_and_compare_count_same_events(small_store, capsys):
    assert main(["bus", str(small_store.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    summary = message_bus(small_store)
    assert report["messages"]["total"] == 7
    assert report["messages"]["process_events"] == 5
    assert report["messages"]["group_events"] == 2
    assert summary["events"] == 7
    assert summary["process_events"] == 5
    assert summary["group_events"] == 2
    # Second 600 contains three task and two job events.
    assert report["load"]["peak_rate"] == 5
    assert summary["peak_per_s"] == 5
    assert "process and group lifecycle events" in report["messages"]["counted"]


def test_bus_text_labels_what_it_counts(small_store, capsys):
    assert main(["bus", str(small_store.path)]) == 0
    output = capsys.readouterr().out
    assert (
        "messages: 7 process and group lifecycle events with a time inside the "
        "trace window (5 process, 2 group)"
    ) in output


OVERLOAD = [
    "--partitions",
    "1",
    "--brokers",
    "1",
    "--replication-factor",
    "1",
    "--consumers",
    "1",
    "--consumer-ms",
    "2000",
]


def test_bus_overload_marks_trace_transient(small_store, capsys, caplog):
    # Seven messages over 3 s at a mean 2 s each load the one consumer about 4.7
    # times over, and the Poisson rate of 2.3/s exceeds its 0.5/s capacity.
    with caplog.at_level(logging.WARNING):
        assert main(["bus", str(small_store.path), *OVERLOAD, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    trace_run = report["simulated_trace"]
    assert trace_run["transient"] is True
    assert trace_run["utilization"] > 1
    assert "no steady state" in report["analytic_poisson"]["error"]
    assert report["simulated_poisson"]["error"].startswith("not simulated")
    assert report["trace_over_poisson"] is None
    assert "marked transient" in caplog.text


def test_bus_overload_text_says_transient(small_store, capsys):
    assert main(["bus", str(small_store.path), *OVERLOAD]) == 0
    output = capsys.readouterr().out
    assert "simulated trace: transient, not a steady state" in output
    assert "simulated poisson: not simulated" in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--outage-broker", "3", "--outage-start", "1", "--outage-duration", "1"],
            "--outage-broker 3 does not exist: brokers are numbered 0 to 2",
        ),
        (
            ["--outage-broker", "0", "--outage-start", "5", "--outage-duration", "1"],
            "--outage-start 5 s is not before the last message, 3 s after",
        ),
        (["--outage-start", "1"], "--outage-start only applies with --outage-broker"),
        (["--failover", "2"], "--failover only applies with --outage-broker"),
        (["--replication-factor", "4"], "--replication-factor 4 exceeds --brokers 3"),
    ],
)
def test_bus_rejects_inconsistent_options(small_store, capsys, extra, message):
    assert main(["bus", str(small_store.path), *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (
            ["--outage-broker", "0", "--outage-start", "-10", "--outage-duration", "5"],
            "--outage-start",
        ),
        (
            ["--outage-broker", "0", "--outage-start", "1", "--outage-duration", "0"],
            "--outage-duration",
        ),
        (["--outage-broker", "-1"], "--outage-broker"),
        (["--partitions", "0"], "--partitions"),
        (["--consumer-ms", "0"], "--consumer-ms"),
        (["--linger-ms", "inf"], "--linger-ms"),
        (["--sweep-partitions", "4,0"], "--sweep-partitions"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bus_bad_values_name_option(small_store, capsys, extra, option):
    with pytest.raises(SystemExit) as exit_info:
        main(["bus", str(small_store.path), *extra])
    assert exit_info.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err
