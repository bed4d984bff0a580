"""Alibaba 2018 reader: units, invalid markers, DAG edges, lifecycle."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from muosm_perf.analysis.faults import fault_cells
from muosm_perf.analysis.schedulers import scheduler_summary
from muosm_perf.analysis.workload import process_summary
from muosm_perf.errors import TraceFormatError, TraceNotFoundError
from muosm_perf.traces.alibaba2018 import ingest_alibaba_2018

INDEPENDENT = "task_Nzg3ODAwNDgzMTAwNTc2NTQ2Mw=="

TABLES = {
    "machine_meta": [
        "m_1,0,1,A,96,100,USING",
        "m_1,3600,1,A,96,100,USING",
        "m_2,0,2,B,64,50,USING",
        "m_3,-10,3,C,-1,101,IDLE",
    ],
    "batch_task": [
        "M1,2,j_1,1,Terminated,100,200,100,0.5",
        "M2_1,1,j_1,1,Terminated,210,300,50,1",
        "R3_1_2,1,j_1,1,Running,310,0,200,2",
        f"{INDEPENDENT},1,j_2,12,Failed,-5,50,100,1",
        "M4_9,1,j_1,1,Waiting,0,0,100,1",
        "M5,1,j_3,1,Terminated,500,400,100,1",
    ],
    "batch_instance": [
        "ins_1,M1,j_1,1,Terminated,100,150,m_1,1,1,50,80,0.3,0.4",
        "ins_2,M1,j_1,1,Failed,100,120,m_2,1,2,50,80,0.3,0.4",
        "ins_2,M1,j_1,1,Terminated,130,200,m_2,2,2,50,80,0.3,0.4",
        "ins_3,M2_1,j_1,1,Terminated,210,300,m_1,1,1,20,-1,0.2,101",
        "ins_4,R3_1_2,j_1,1,Running,310,0,m_1,1,1,,,,",
        "ins_5,M4_9,j_1,1,Waiting,0,0,,0,0,,,,",
        f"ins_6,{INDEPENDENT},j_2,12,Failed,-5,50,m_2,1,1,10,10,0.1,0.1",
        "ins_7,M9,j_9,1,Interrupted,400,450,m_3,1,1,10,10,0.1,0.1",
    ],
    "container_meta": [
        "c_1,m_1,0,app_5,started,400,800,1.5",
        "c_1,m_1,1000,app_5,started,400,800,1.5",
        "c_2,m_2,500,app_7,allocated,200,200,101",
    ],
    "container_usage": [
        "c_1,m_1,600,50,20,1.2,5,3,1,1,2",
        "c_2,m_2,700,-1,20,1.2,5,3,1,1,2",
    ],
    "machine_usage": ["m_1,600.5,40,50,10,2,1,1,101"],
}


def write_trace(root: Path, tables: dict[str, list[str]] = TABLES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in tables.items():
        (root / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def store(tmp_path):
    trace = write_trace(tmp_path / "trace")
    return ingest_alibaba_2018(trace, tmp_path / "store", max_rejected_fraction=0.5)


def test_group_ids_and_names(store):
    groups = store.read("group_attributes").sort("group_id")
    assert groups.select("job_name", "task_name").rows()[:6] == [
        ("j_1", "M1"),
        ("j_1", "M2_1"),
        ("j_1", "M4_9"),
        ("j_1", "R3_1_2"),
        ("j_2", INDEPENDENT),
        ("j_9", "M9"),
    ]
    assert groups["task_number"].to_list()[:6] == [1, 2, 4, 3, None, 9]
    assert groups.filter(pl.col("kind") == "online_app").select(
        "group_id", "app_du"
    ).rows() == [(7, "app_5"), (8, "app_7")]


def test_dag_edges_from_task_names(store):
    edges = store.read("group_dependencies").sort("group_id", "depends_on_group_id")
    # M2_1 waits for M1; R3_1_2 waits for M1 and M2_1; M4_9 names no task 9.
    assert edges.select("group_id", "depends_on_group_id").rows() == [
        (2, 1),
        (4, 1),
        (4, 2),
    ]
    assert edges["kind"].unique().to_list() == ["dag"]
    assert store.manifest["dangling_dependencies"] == 1


def test_units_cores_and_normalized_memory(store):
    processes = (
        store.read("processes")
        .filter(pl.col("group_id") == 1)
        .sort("process_index", "attempt")
    )
    assert processes["cpu_request"].to_list() == [1.0, 1.0, 1.0]
    assert processes["memory_request"].to_list() == [0.005, 0.005, 0.005]
    containers = store.read("processes").filter(pl.col("group_id") == 7)
    assert containers["cpu_request"].to_list() == [4.0]
    assert containers["memory_request"].to_list() == [0.015]
    cells = store.read("cells").sort("cell_id")
    assert cells["cpu_capacity"].to_list() == [96.0, 64.0, None]
    assert cells["memory_capacity"].to_list() == [1.0, 0.5, None]
    assert cells["domain"].to_list() == ["1/A", "2/B", "3/C"]


def test_invalid_markers_become_null_and_counted(store):
    invalid = store.manifest["invalid_values"]
    assert invalid["machine_meta.cpu_num"] == 1
    assert invalid["machine_meta.mem_size"] == 1
    assert invalid["batch_instance.cpu_max"] == 1
    assert invalid["batch_instance.mem_max"] == 1
    assert invalid["container_meta.mem_size"] == 1
    assert invalid["container_usage.cpu_util_percent"] == 1
    assert invalid["machine_usage.disk_io_percent"] == 1
    machine_usage = store.read("machine_usage")
    assert machine_usage["disk_io_percent"].to_list() == [None]
    assert machine_usage["time_us"].to_list() == [600_500_000]


def test_lifecycle_of_instances(store):
    processes = store.read("processes").sort("group_id", "process_index", "attempt")
    by_key = {
        (row["group_id"], row["process_index"], row["attempt"]): row
        for row in processes.iter_rows(named=True)
    }
    first = by_key[(1, 1, 1)]
    assert first["schedule_time_us"] == 100_000_000
    assert first["run_time_us"] == 50_000_000
    assert first["end_state"] == "FINISH"
    assert first["cell_id"] == 1
    assert first["missing_submit"] is True
    assert first["submit_time_us"] is None

    assert by_key[(1, 2, 1)]["end_state"] == "FAIL"
    assert by_key[(1, 2, 2)]["end_state"] == "FINISH"
    assert by_key[(1, 2, 2)]["schedule_time_us"] == 130_000_000

    running = by_key[(4, 4, 1)]
    assert running["end_state"] is None
    assert running["end_after_window"] is True

    waiting = by_key[(3, 5, 1)]
    assert waiting["schedule_time_us"] is None
    assert waiting["cell_id"] is None
    assert waiting["missing_submit"] is False

    early = by_key[(5, 6, 1)]
    assert early["schedule_before_window"] is True
    assert early["schedule_time_us"] is None
    assert early["end_time_us"] == 50_000_000
    assert early["end_state"] == "FAIL"

    assert by_key[(6, 7, 1)]["end_state"] == "KILL"
    assert store.manifest["source_codes"]["batch_instance.status"]["Interrupted"] == 7


def test_no_scheduling_delay_is_invented(store):
    processes = store.read("processes")
    assert processes["scheduling_delay_us"].null_count() == processes.height


def test_containers_and_usage(store):
    transitions = store.read("transitions").filter(pl.col("group_id") == 7)
    assert transitions.sort("source_line")["event"].to_list() == [
        "SCHEDULE",
        "UPDATE_RUNNING",
    ]
    assert transitions.sort("source_line")["before_window"].to_list() == [True, False]
    usage = store.read("usage").sort("process_index")
    assert usage["cpu_usage"].to_list() == [2.0, None]
    assert usage["start_time_us"].to_list() == [600_000_000, 700_000_000]
    assert usage["memory_usage"].to_list() == [None, None]
    codes = store.manifest["source_codes"]["container_meta.status"]
    assert codes == {"allocated": 1, "started": 2}


def test_end_before_start_quarantined(store):
    quarantine = store.read("quarantine")
    assert quarantine.height == 1
    row = quarantine.row(0, named=True)
    assert row["table"] == "batch_task"
    assert row["line"] == 6
    assert row["column"] == "end_time"
    assert row["value"] == "400"
    assert row["reason"] == "end_time before start_time"


def test_machines_added_then_updated(store):
    events = store.read("cell_events").sort("cell_id", "source_line")
    assert events["event"].to_list() == ["ADD", "UPDATE", "ADD", "ADD"]
    assert events["before_window"].to_list() == [True, False, True, True]
    assert store.manifest["source_codes"]["machine_meta.status"] == {
        "IDLE": 1,
        "USING": 2,
    }


def test_unknown_status_rejected(tmp_path):
    trace = write_trace(
        tmp_path / "trace",
        {"batch_task": ["M1,1,j_1,1,Done,1,2,100,1"] * 3},
    )
    with pytest.raises(TraceFormatError, match="unknown value \\(expected one of"):
        ingest_alibaba_2018(trace, tmp_path / "store")


def test_bad_identifier_rejected(tmp_path):
    trace = write_trace(
        tmp_path / "trace", {"machine_meta": ["machine-1,0,1,A,96,100,USING"]}
    )
    with pytest.raises(TraceFormatError, match="invalid identifier"):
        ingest_alibaba_2018(trace, tmp_path / "store")


def test_empty_folder(tmp_path):
    with pytest.raises(TraceNotFoundError, match="contains no table of the Alibaba"):
        ingest_alibaba_2018(tmp_path, tmp_path / "store")


def test_gzip_parts_read_as_one_table(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    tasks = TABLES["batch_task"][:4]
    for number, lines in enumerate((tasks[:2], tasks[2:])):
        path = trace / f"batch_task-{number:03d}.csv.gz"
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    store = ingest_alibaba_2018(trace, tmp_path / "store")
    files = [f["path"] for f in store.manifest["files"]]
    assert files == ["batch_task-000.csv.gz", "batch_task-001.csv.gz"]
    assert store.read("groups").height == 4
    assert store.read("group_transitions")["source_file"].unique().sort().to_list() == [
        0,
        1,
    ]


def test_summaries_leave_unknowns_blank(store):
    processes = process_summary(store)
    assert processes["processes"] == 9
    assert processes["attempts"] == 10
    scheduler = scheduler_summary(store)
    assert scheduler["delay_s"]["all"]["n"] == 0
    assert scheduler["delay_s"]["all"]["mean"] is None
    faults = fault_cells(store)
    assert faults["removes"] == 0
    assert faults["mtbf_h"] is None
    assert faults["domains"] == 3
