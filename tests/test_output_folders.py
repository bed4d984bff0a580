"""Output folders replace only what muosm-perf wrote there."""

from __future__ import annotations

import json

import pytest

from muosm_perf.errors import OutputError
from muosm_perf.report.document import MARKER, ReportFolder


def write(destination, kind="report", names=("index.html", "figures/a.png")):
    with ReportFolder(destination, kind=kind) as folder:
        for name in names:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name, encoding="utf-8")


def test_marker_lists_the_files_written(tmp_path):
    write(tmp_path / "out")
    record = json.loads((tmp_path / "out" / MARKER).read_text(encoding="utf-8"))
    assert record["kind"] == "report"
    assert record["files"] == ["figures/a.png", "index.html"]


def test_same_output_is_replaced(tmp_path):
    write(tmp_path / "out")
    write(tmp_path / "out", names=("report.md",))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        MARKER,
        "report.md",
    ]


@pytest.mark.parametrize("added", ["notes.txt", "figures/mine.csv", "mine/data.csv"])
def test_file_added_by_a_user_is_kept(tmp_path, added):
    out = tmp_path / "out"
    write(out)
    (out / added).parent.mkdir(parents=True, exist_ok=True)
    (out / added).write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match=rf"contains 1 file\(s\) .*\({added}\)"):
        write(out)
    assert (out / added).read_text(encoding="utf-8") == "mine"


def test_other_kind_of_output_is_kept(tmp_path):
    out = tmp_path / "out"
    write(out, kind="main-job output")
    with pytest.raises(OutputError, match="contains a muosm-perf main-job output, not"):
        write(out, kind="what-if study")
    assert (out / "index.html").is_file()


def test_marker_of_an_earlier_version_is_accepted(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("written by muosm-perf\n", encoding="utf-8")
    (out / "old.html").write_text("old", encoding="utf-8")
    write(out)
    assert not (out / "old.html").exists()
