import json

import pytest

from muosm_perf.cli import main


def test_bus_json_on_real_store(google_2011_store, capsys):
    argv = ["bus", str(google_2011_store.path), "--partitions", "4", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["partitions"] == 4
    assert report["load"]["index_of_dispersion"] > 10
    assert sum(report["messages_per_band"].values()) == report["load"]["messages"]
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
