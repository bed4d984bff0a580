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


def _error(capsys, *argv):
    assert main(["queue", *argv]) == 2
    return capsys.readouterr().err


def _argparse_error(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(["queue", *argv])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


RATES = ("--arrival-rate", "0.5", "--service-rate", "1")


@pytest.mark.parametrize(
    ("model", "extra", "option"),
    [
        ("mm1", ("--servers", "3"), "--servers"),
        ("gg1", ("--servers", "3"), "--servers"),
        ("mg1", ("--servers", "2"), "--servers"),
        ("md1", ("--service-scv", "0.5"), "--service-scv"),
        ("mmc", ("--arrival-scv", "2"), "--arrival-scv"),
        ("mg1", ("--arrival-scv", "2"), "--arrival-scv"),
        ("erlang-b", ("--percentiles", "0.5"), "--percentiles"),
        ("ggc", ("--preemptive",), "--preemptive"),
        ("mm1", ("--arrival-rates", "0.1,0.2"), "--arrival-rates"),
    ],
)
def test_queue_rejects_option_model_ignores(capsys, model, extra, option):
    error = _error(capsys, model, *RATES, *extra)
    assert f"{option} does not apply to model {model}" in error


def test_queue_rejects_rate_options_for_priority(capsys):
    argv = ["priority", "--arrival-rates", "0.3", "--service-rates", "1"]
    error = _error(capsys, *argv, "--servers", "2")
    assert "--servers does not apply to model priority" in error
    assert "per-class lists" in error


def test_queue_rejects_servers_for_jackson(tmp_path, capsys):
    path = tmp_path / "network.json"
    path.write_text(
        '{"external_arrival_rates": [1], "routing": [[0]], "service_rates": [2]}'
    )
    error = _error(capsys, "jackson", "--network", str(path), "--servers", "2")
    assert "--servers does not apply to model jackson" in error


def test_queue_defaults_apply_when_options_absent(capsys):
    result = _run_json(capsys, "ggc", "--arrival-rate", "0.9", "--service-rate", "1")
    assert result["servers"] == 1
    mm1 = _run_json(capsys, "mm1", *RATES)
    assert mm1["model"] == "M/M/1"
    assert list(mm1["wait_percentiles"]) == ["p50", "p90", "p99"]


@pytest.mark.parametrize(
    ("model", "notation"),
    [("mm1", "M/M/1"), ("md1", "M/D/1"), ("gg1", "G/G/1"), ("mg1", "M/G/1")],
)
def test_queue_unstable_names_requested_model(capsys, model, notation):
    error = _error(capsys, model, "--arrival-rate", "1.2", "--service-rate", "1")
    assert f"the {notation} queue (model {model}) has no steady state" in error
    assert "--arrival-rate 1.2" in error
    assert "M/M/c" not in error


def test_queue_unstable_multi_server_names_servers(capsys):
    argv = ["ggc", "--arrival-rate", "2.2", "--service-rate", "1", "--servers", "2"]
    error = _error(capsys, *argv)
    assert "--servers 2 × --service-rate 1 = 2" in error
    assert "utilization 1.1" in error


def test_queue_priority_mismatch_names_options(capsys):
    argv = ["priority", "--arrival-rates", "0.3,0.4", "--service-rates", "1,1,1"]
    error = _error(capsys, *argv)
    assert "--arrival-rates has 2 values and --service-rates 3" in error
    assert "mean_service_times" not in error


def test_queue_priority_scv_count_names_option(capsys):
    argv = ["priority", "--arrival-rates", "0.3,0.4", "--service-rates", "1,1"]
    error = _error(capsys, *argv, "--service-scvs", "1,2,3")
    assert "--service-scvs has 3 values for 2 classes" in error


def test_queue_priority_unstable_names_options(capsys):
    argv = ["priority", "--arrival-rates", "0.6,0.4", "--service-rates", "1,1"]
    error = _error(capsys, *argv)
    assert "M/G/1 priority queue (model priority) has no steady state" in error
    assert "0.6 + 0.4 = 1" in error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("mmc", "--arrival-rate", "1", "--service-rate", "0"), "--service-rate"),
        (("mmc", "--arrival-rate", "nan", "--service-rate", "1"), "--arrival-rate"),
        (("mmc", *RATES, "--servers", "0"), "--servers"),
        (("gg1", *RATES, "--arrival-scv", "-1"), "--arrival-scv"),
        (("mmc", *RATES, "--percentiles", "0.5,1.2"), "--percentiles"),
        (
            ("priority", "--arrival-rates", "0.1,x", "--service-rates", "1,1"),
            "--arrival-rates",
        ),
    ],
)
def test_queue_bad_values_name_option(capsys, argv, message):
    error = _argparse_error(capsys, *argv)
    assert f"argument {message}: " in error
