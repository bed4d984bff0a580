"""Format detection for ``muosm ingest auto`` and the registry."""

from __future__ import annotations

import gzip
import json

import pytest

from muosm_perf.cli import main
from muosm_perf.errors import ParameterError, TraceNotFoundError
from muosm_perf.model.store import TraceStore
from muosm_perf.traces.detect import detect_format
from muosm_perf.traces.registry import READERS, ingest, resolve_format

SWF_LINE = "1 0 -1 10 2 -1 -1 2 -1 -1 1 1 1 -1 -1 -1 -1 -1\n"


def touch(path, text="x\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def v3_folder(root):
    record = {"time": "0", "machine_id": "5", "type": "1"}
    with gzip.open(root / "machine_events-000000000000.json.gz", "wt") as handle:
        handle.write(json.dumps(record) + "\n")
    return root


def test_detects_google_2011(tmp_path):
    for table in ("task_events", "job_events", "machine_events"):
        touch(tmp_path / table / "part-00000-of-00001.csv")
    assert detect_format(tmp_path).format == "google-2011"


def test_detects_google_2019_in_table_folder(tmp_path):
    touch(tmp_path / "instance_events" / "instance_events-000.parquet")
    detection = detect_format(tmp_path)
    assert detection.format == "google-2019"
    assert detection.evidence == ["instance_events/instance_events-000.parquet"]


def test_2011_machine_shards_are_not_v3(tmp_path):
    touch(tmp_path / "machine_events" / "part-00000-of-00001.csv.gz")
    with pytest.raises(ParameterError, match="cannot tell the trace format"):
        detect_format(tmp_path)


def test_detects_alibaba_2018(tmp_path):
    touch(tmp_path / "batch_task.csv")
    touch(tmp_path / "machine_meta.csv.gz")
    detection = detect_format(tmp_path)
    assert detection.format == "alibaba-2018"
    assert detection.evidence == ["machine_meta.csv.gz", "batch_task.csv"]


def test_detects_swf_file_and_folder(tmp_path):
    log = touch(tmp_path / "site.swf", SWF_LINE)
    assert detect_format(log).format == "swf"
    assert detect_format(tmp_path).format == "swf"


def test_two_formats_are_ambiguous(tmp_path):
    v3_folder(tmp_path)
    touch(tmp_path / "batch_task.csv")
    with pytest.raises(
        ParameterError,
        match=r"ambiguous: it contains files of 2 formats: google-2019 "
        r"\(machine_events-000000000000\.json\.gz\); alibaba-2018 \(batch_task\.csv\)",
    ):
        detect_format(tmp_path)


def test_two_swf_logs_need_a_choice(tmp_path):
    touch(tmp_path / "a.swf", SWF_LINE)
    touch(tmp_path / "b.swf", SWF_LINE)
    with pytest.raises(ParameterError, match=r"contains 2 SWF logs \(a\.swf, b\.swf\)"):
        detect_format(tmp_path)


def test_other_single_file_rejected(tmp_path):
    path = touch(tmp_path / "notes.txt")
    with pytest.raises(ParameterError, match="only SWF logs"):
        detect_format(path)


def test_missing_path(tmp_path):
    with pytest.raises(TraceNotFoundError, match="trace path not found"):
        detect_format(tmp_path / "nowhere")


def test_registry_knows_every_format():
    assert sorted(READERS) == ["alibaba-2018", "google-2011", "google-2019", "swf"]
    with pytest.raises(ParameterError, match="unknown trace format 'borg'"):
        resolve_format("borg", ".")


def test_registry_ingests_auto(tmp_path):
    store = ingest("auto", v3_folder(tmp_path), tmp_path / "store")
    assert isinstance(store, TraceStore)
    assert store.source_format == "google-2019"
    assert store.read("cells")["cell_id"].to_list() == [5]


def test_cli_ingest_auto_says_which(tmp_path, capsys):
    log = touch(tmp_path / "site.swf", SWF_LINE)
    status = main(
        ["ingest", "auto", str(log), "-o", str(tmp_path / "store"), "--no-progress"]
    )
    output = capsys.readouterr().out
    assert status == 0
    assert output.startswith("detected format swf (site.swf)\n")
    assert TraceStore(tmp_path / "store").source_format == "swf"


def test_cli_ingest_auto_ambiguous_exits_2(tmp_path, capsys):
    v3_folder(tmp_path)
    touch(tmp_path / "site.swf", SWF_LINE)
    status = main(["ingest", "auto", str(tmp_path), "-o", str(tmp_path / "store")])
    assert status == 2
    assert "is ambiguous" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()
