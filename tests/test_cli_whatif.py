"""The ``muosm whatif`` command on a synthetic store."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from whatif_helpers import synthetic_store  # noqa: F401 - a fixture

from muosm_perf.cli import main

SWEEP = """
name = "cli-sweep"
seed = 3

[outputs]
names = ["production_delay_p95_s", "all_unscheduled_fraction", "machines"]

[[transforms]]
kind = "resize_machines"
fraction = 1.0

[[transforms]]
kind = "scale_load"
factor = 1.0
bands = ["middle"]

[sweep.parameters]
"resize_machines.fraction" = [1.0, 0.5]
"scale_load.factor" = [1.0, 2.0]
"""

SEARCH = """
name = "cli-search"

[outputs]
names = ["all_unscheduled_fraction"]

[search]
kind = "min_machines"
objective = "all_unscheduled_fraction"
threshold = 0.5
check_points = 2
"""


@pytest.fixture
def scenario_file(tmp_path, synthetic_store):  # noqa: F811
    def write(text: str) -> str:
        path = tmp_path / "study.toml"
        path.write_text(
            text + f'\n[base]\nstore = "{synthetic_store.path}"\n', encoding="utf-8"
        )
        return str(path)

    return write


def test_sweep_writes_every_output(scenario_file, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(
        ["whatif", scenario_file(SWEEP), "-o", str(out), "--workers", "0", "--json"]
    )
    assert status == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".muosm-output",
        "results.csv",
        "results.parquet",
        "run.json",
        "summary.md",
        "sweep-resize_machines-fraction.png",
        "sweep-scale_load-factor.png",
    ]
    table = pl.read_parquet(out / "results.parquet")
    assert table.height == 4
    assert table["machines"].to_list() == [40, 40, 20, 20]
    assert table["seed"].to_list() == [3, 3, 3, 3]
    csv = pl.read_csv(out / "results.csv")
    assert csv["scenario"].to_list() == table["scenario"].to_list()
    report = json.loads(capsys.readouterr().out)
    assert [row["scenario"] for row in report["results"]] == table["scenario"].to_list()
    assert report["facts"]["runner"] == "this process"
    # Settings that are not swept are recorded too.
    assert "candidates=8" in report["facts"]["replay settings"]
    assert "refuse_s=5.0" in report["facts"]["replay settings"]
    assert report["facts"]["bus settings"] == "defaults"
    assert report["facts"]["seed"] == "3"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| seed | 3 |" in summary
    assert "## Results" in summary
    assert "sweep-scale_load-factor.png" in summary


POLICIES = """
name = "policies"
seed = 5

[outputs]
names = ["production_delay_p95_s", "all_unscheduled_fraction"]

[sweep]
replicates = 2
[sweep.parameters]
policy = ["priority+first-fit", "priority+sampled"]
"""


def test_policy_sweep_is_seeded(scenario_file, tmp_path):
    path = scenario_file(POLICIES)
    for name in ("first", "second"):
        assert main(["whatif", path, "-o", str(tmp_path / name), "--workers", "0"]) == 0
    first = pl.read_parquet(tmp_path / "first" / "results.parquet")
    second = pl.read_parquet(tmp_path / "second" / "results.parquet")
    assert first.equals(second)
    assert (
        first["policy"].to_list()
        == ["priority+first-fit"] * 2 + ["priority+sampled"] * 2
    )
    assert first["seed"].to_list() == [5, 6, 5, 6]
    assert (tmp_path / "first" / "sweep-policy.png").stat().st_size > 0


def test_search_writes_its_curve(scenario_file, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["whatif", scenario_file(SEARCH), "-o", str(out), "--workers", "0"])
    assert status == 0
    search = json.loads((out / "search.json").read_text(encoding="utf-8"))
    assert search["parameter"] == "machines"
    assert search["status"] in ("found", "all_meet")
    assert (out / "search.png").stat().st_size > 0
    table = pl.read_parquet(out / "results.parquet")
    assert table.height == search["evaluations"]
    assert "machines search" in capsys.readouterr().out


def test_same_file_gives_the_same_table(scenario_file, tmp_path):
    path = scenario_file(SWEEP)
    for name in ("first", "second"):
        assert main(["whatif", path, "-o", str(tmp_path / name), "--workers", "0"]) == 0
    first = (tmp_path / "first" / "results.parquet").read_bytes()
    second = (tmp_path / "second" / "results.parquet").read_bytes()
    assert first == second


def test_bad_file_exits_2_and_keeps_the_output(scenario_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["whatif", scenario_file(SWEEP), "-o", str(out), "--workers", "0"]) == 0
    before = (out / "results.parquet").read_bytes()
    bad = scenario_file(SWEEP.replace('bands = ["middle"]', 'bands = ["gold"]'))
    assert main(["whatif", bad, "-o", str(out), "--workers", "0"]) == 2
    error = capsys.readouterr().err
    assert "study.toml: transforms[1].bands = ('gold',): scenario 'cli-sweep" in error
    assert "no attempt has band gold" in error
    assert (out / "results.parquet").read_bytes() == before


def test_missing_base_is_reported(tmp_path, capsys):
    path = tmp_path / "nobase.toml"
    path.write_text("name = 'x'\n", encoding="utf-8")
    assert main(["whatif", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "the study has no base" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_store_option_replaces_the_base(synthetic_store, tmp_path):  # noqa: F811
    path = tmp_path / "plain.toml"
    path.write_text(
        "[base]\nstore = '/nowhere'\n[outputs]\nnames = ['machines']\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = ["whatif", str(path), "-o", str(out), "--workers", "0", "--no-progress"]
    assert main([*argv, "--store", str(synthetic_store.path)]) == 0
    assert pl.read_parquet(out / "results.parquet")["machines"].to_list() == [40]


def test_output_folder_holding_the_store_is_refused(synthetic_store, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "plain.toml"
    path.write_text("[outputs]\nnames = ['machines']\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["whatif", str(path), "-o", str(out), "--workers", "0", "--no-progress"]
    assert main([*argv, "--store", str(synthetic_store.path)]) == 0
    inside = out / "store"
    shutil.copytree(synthetic_store.path, inside)
    assert main([*argv, "--store", str(inside)]) == 2
    assert f"contains the input {inside}" in capsys.readouterr().err
    assert (inside / "manifest.json").is_file()


def test_malformed_dask_address_exits_2(scenario_file, tmp_path, capsys):
    argv = ["whatif", scenario_file(SEARCH), "-o", str(tmp_path / "out")]
    assert main([*argv, "--dask", "foo"]) == 2
    error = capsys.readouterr().err
    assert "--dask 'foo' is not a Dask scheduler address" in error
    assert not (tmp_path / "out").exists()


def test_settings_the_policy_ignores_are_logged(scenario_file, tmp_path, caplog):
    text = SEARCH + "\n[replay]\nrefuse_s = 3.0\ncandidates = 2\n"
    argv = ["whatif", scenario_file(text), "-o", str(tmp_path / "out")]
    with caplog.at_level("WARNING", logger="muosm_perf.whatif.evaluate"):
        assert main([*argv, "--workers", "0", "--no-progress"]) == 0
    assert "refuse_s applies only with +offers (first in scenario" in caplog.text
    assert "candidates applies only to 'sampled' placement" in caplog.text
