import json

import pytest

from muosm_perf.cli import main


def _run_json(capsys, *argv):
    assert main(["queue", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_queue_mmc_json(capsys):
    result = _run_json(
        capsys,
        "mmc",
        "--arrival-rate",
        "990",
        "--service-rate",
        "1",
        "--servers",
        "1000",
    )
    assert result["p_wait"] == pytest.approx(0.659080421880854, abs=1e-12)
    assert result["mean_wait"] == pytest.approx(0.0659080421880854, abs=1e-13)
    assert result["wait_percentiles"]["p50"] > 0


def test_queue_unstable_exits_nonzero(capsys):
    status = main(
        [
            "queue",
            "mmc",
            "--arrival-rate",
            "12",
            "--service-rate",
            "1",
            "--servers",
            "12",
        ]
    )
    assert status != 0
    error = capsys.readouterr().err
    assert "no steady state" in error
    assert "utilization" in error


def test_queue_missing_option_named(capsys):
    assert main(["queue", "mg1", "--arrival-rate", "1"]) == 2
    assert "needs --service-rate" in capsys.readouterr().err


def test_queue_gg1_and_md1_text(capsys):
    argv = ["queue", "gg1", "--arrival-rate", "0.9", "--service-rate", "1"]
    assert main([*argv, "--service-scv", "0"]) == 0
    assert "mean_wait: 4.5" in capsys.readouterr().out
    argv = ["queue", "md1", "--arrival-rate", "0.9", "--service-rate", "1"]
    assert main(argv) == 0
    assert "mean_wait: 4.5" in capsys.readouterr().out


def test_queue_ggc_allen_cunneen(capsys):
    result = _run_json(
        capsys, "ggc", "--arrival-rate", "1.8", "--service-rate", "1", "--servers", "2"
    )
    assert result["mean_wait"] == pytest.approx(4.263157894736843, abs=1e-12)


def test_queue_erlang_b(capsys):
    result = _run_json(
        capsys,
        "erlang-b",
        "--arrival-rate",
        "5",
        "--service-rate",
        "1",
        "--servers",
        "10",
    )
    assert result["p_block"] == pytest.approx(0.018384570336648, abs=1e-12)


def test_queue_priority(capsys):
    result = _run_json(
        capsys,
        "priority",
        "--arrival-rates",
        "0.3,0.4",
        "--service-rates",
        "1,1",
    )
    assert result["mean_wait"] == pytest.approx([1.0, 0.7 / 0.21])


def test_queue_jackson_file(tmp_path, capsys):
    spec = {
        "external_arrival_rates": [1.0, 0.0],
        "routing": [[0.0, 1.0], [0.0, 0.0]],
        "service_rates": [2.0, 3.0],
    }
    path = tmp_path / "network.json"
    path.write_text(json.dumps(spec))
    result = _run_json(capsys, "jackson", "--network", str(path))
    assert result["mean_network_sojourn"] == pytest.approx(1.0 + 0.5)


def test_queue_jackson_without_exit(tmp_path, capsys):
    spec = {
        "external_arrival_rates": [1.0, 0.0],
        "routing": [[0.0, 1.0], [1.0, 0.0]],
        "service_rates": [2.0, 3.0],
    }
    path = tmp_path / "network.json"
    path.write_text(json.dumps(spec))
    assert main(["queue", "jackson", "--network", str(path)]) == 2
    assert "no exit from nodes [0, 1]" in capsys.readouterr().err


def test_queue_jackson_missing_keys(tmp_path, capsys):
    path = tmp_path / "network.json"
    path.write_text("{}")
    assert main(["queue", "jackson", "--network", str(path)]) == 2
    assert "lacks" in capsys.readouterr().err
