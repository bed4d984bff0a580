"""Google 2019 (v3) reader: exact integers, placeholders, exports, real machines."""

from __future__ import annotations

import collections
import gzip
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from muosm_perf.analysis.occupancy import capacity_series
from muosm_perf.errors import TraceFormatError, TraceNotFoundError
from muosm_perf.model.lifecycle import GOOGLE_2019_EVENTS, Event
from muosm_perf.traces._records import validate_records
from muosm_perf.traces.google2019 import (
    COLLECTION_EVENTS,
    INSTANCE_EVENTS,
    INSTANCE_USAGE,
    ingest_google_2019,
)
from muosm_perf.traces.google2019_exports import read_export

MAX = 2**63 - 1
BIG_ID = 6150769120280496265


def write_lines(path: Path, records: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def parse(tmp_path: Path, spec, records: list[dict | str]):
    path = write_lines(tmp_path / f"{spec.name}-000.json", records)
    raw = read_export(path, spec, label=path.name)
    return validate_records(raw, spec, path.name)


# Collection 375321499 ends after the window, as in the export's own text.
T2_COLLECTION_END = (
    '{"time":"9223372036854775807","type":"6","collection_id":"375321499",'
    '"start_after_collection_ids":["375321400","375321401"]}'
)


def test_t2_integers_exact_as_int64(tmp_path):
    result = parse(
        tmp_path,
        COLLECTION_EVENTS,
        [T2_COLLECTION_END, {"time": "5", "type": "0", "collection_id": str(BIG_ID)}],
    )
    frame = result.accepted
    assert result.rejected.height == 0
    assert frame.schema["time"] == pl.Int64
    assert frame["time"].to_list() == [MAX, 5]
    assert frame["collection_id"].to_list() == [375321499, BIG_ID]
    assert frame.schema["start_after_collection_ids"] == pl.List(pl.Int64)
    assert frame["start_after_collection_ids"].to_list() == [
        [375321400, 375321401],
        [],
    ]


def test_t2_bare_json_numbers_exact(tmp_path):
    # Some exports write integers as bare numbers; they must not pass through float.
    line = f'{{"time":5,"type":0,"collection_id":{BIG_ID}}}'
    result = parse(tmp_path, COLLECTION_EVENTS, [line])
    assert result.accepted["collection_id"].item() == BIG_ID
    assert float(BIG_ID) != BIG_ID  # the float round trip would be wrong


def test_t2_resource_request_null_when_absent(tmp_path):
    result = parse(
        tmp_path,
        INSTANCE_EVENTS,
        [
            {
                "time": "10",
                "type": "0",
                "collection_id": "375321499",
                "instance_index": "0",
                "resource_request": {"cpus": 0.0208, "memory": 0.0059},
            },
            {
                "time": "11",
                "type": "0",
                "collection_id": "375321499",
                "instance_index": "1",
            },
            {
                "time": "12",
                "type": "0",
                "collection_id": "375321499",
                "instance_index": "2",
                "resource_request": {"memory": 0.5},
            },
        ],
    )
    frame = result.accepted
    assert frame["resource_request_cpus"].to_list() == [0.0208, None, None]
    assert frame["resource_request_memory"].to_list() == [0.0059, None, 0.5]


def test_t2_store_keeps_sentinel_and_dependencies(tmp_path):
    trace = tmp_path / "trace"
    write_lines(
        trace / "collection_events-000.json",
        [
            {"time": "0", "type": "0", "collection_id": "375321499", "priority": "200"},
            {"time": "700000000", "type": "3", "collection_id": "375321499"},
            T2_COLLECTION_END,
        ],
    )
    write_lines(
        trace / "instance_events-000.json.gz",
        [
            {
                "time": "700000000",
                "type": "0",
                "collection_id": "375321499",
                "instance_index": "0",
                "priority": "200",
                "resource_request": {"cpus": 0.0208, "memory": 0.0059},
            },
            {
                "time": "700000001",
                "type": "0",
                "collection_id": "375321499",
                "instance_index": "1",
                "priority": "200",
            },
        ],
    )
    store = ingest_google_2019(trace, tmp_path / "store")

    groups = store.read("group_transitions").sort("source_line")
    last = groups.row(2, named=True)
    assert last["time_us"] is None
    assert last["after_window"] is True
    assert last["event"] == "FINISH"
    assert groups["before_window"].to_list() == [True, False, False]

    edges = store.read("group_dependencies").sort("depends_on_group_id")
    assert edges["group_id"].to_list() == [375321499, 375321499]
    assert edges["depends_on_group_id"].to_list() == [375321400, 375321401]
    assert edges["kind"].to_list() == ["start_after", "start_after"]

    processes = store.read("processes").sort("process_index")
    assert processes["cpu_request"].to_list() == [0.0208, None]
    assert processes["band"].to_list() == ["production", "production"]


def test_t3_machine_placeholders_are_not_cells(tmp_path):
    trace = tmp_path / "trace"
    base = {"type": "0", "collection_id": "7", "priority": "0"}
    write_lines(
        trace / "instance_events-000.json",
        [
            {**base, "time": "1000", "instance_index": "0"},
            {**base, "time": "1000", "instance_index": "1"},
            {**base, "time": "1000", "instance_index": "2"},
            {
                **base,
                "time": "2000",
                "type": "3",
                "instance_index": "0",
                "machine_id": "0",
            },
            {
                **base,
                "time": "2000",
                "type": "3",
                "instance_index": "1",
                "machine_id": "-1",
                "alloc_collection_id": "0",
                "alloc_instance_index": "-1",
            },
            {
                **base,
                "time": "2000",
                "type": "3",
                "instance_index": "2",
                "machine_id": "1234",
                "alloc_collection_id": "99",
                "alloc_instance_index": "3",
            },
        ],
    )
    write_lines(
        trace / "machine_events-000.json",
        [
            {
                "time": "0",
                "machine_id": "1234",
                "type": "1",
                "capacity": {"cpus": 0.5, "memory": 0.25},
            }
        ],
    )
    store = ingest_google_2019(trace, tmp_path / "store")

    scheduled = store.read("transitions").filter(pl.col("event") == "SCHEDULE")
    assert scheduled.sort("process_index")["cell_id"].to_list() == [None, None, 1234]
    processes = store.read("processes").sort("process_index")
    assert processes["cell_id"].to_list() == [None, None, 1234]
    assert store.read("cells")["cell_id"].to_list() == [1234]

    details = (
        store.read("instance_details")
        .join(
            store.read("transitions").select("source_line", "process_index", "event"),
            on="source_line",
        )
        .filter(pl.col("event") == "SCHEDULE")
        .sort("process_index")
    )
    assert details["dedicated_machine"].to_list() == [False, True, False]
    # Absent and 0 both mean "not in an alloc set"; -1 means "no alloc instance".
    assert details["alloc_collection_id"].to_list() == [None, None, 99]
    assert details["alloc_instance_index"].to_list() == [None, None, 3]


def test_t3_unknown_capacity_not_summed(tmp_path):
    trace = tmp_path / "trace"
    write_lines(
        trace / "machine_events-000.json",
        [
            {
                "time": "0",
                "machine_id": "1",
                "type": "1",
                "capacity": {"cpus": 0.5, "memory": 0.25},
            },
            {"time": "1000", "machine_id": "2", "type": "1"},
            {
                "time": "5000",
                "machine_id": "2",
                "type": "3",
                "capacity": {"cpus": 1, "memory": 1},
            },
        ],
    )
    store = ingest_google_2019(trace, tmp_path / "store")
    events = store.read("cell_events").sort("source_line")
    assert events["cpu_capacity"].to_list() == [0.5, None, 1.0]

    series = capacity_series(events, np.array([0, 2000, 6000]), 0)
    assert series["alive"].tolist() == [1, 2, 2]
    assert series["unknown_capacity"].tolist() == [0, 1, 0]
    assert series["cpu_capacity"].tolist() == [0.5, 0.5, 1.5]


def test_t3_usage_percentile_vectors(tmp_path):
    eleven = [round(0.01 * i, 2) for i in range(11)]
    nine = [round(0.1 + 0.01 * i, 2) for i in range(9)]
    base = {
        "start_time": "600000000",
        "end_time": "900000000",
        "collection_id": "7",
        "machine_id": "1234",
    }
    result = parse(
        tmp_path,
        INSTANCE_USAGE,
        [
            {
                **base,
                "instance_index": "0",
                "average_usage": {"cpus": 0.1},
                "cpu_usage_distribution": eleven,
                "tail_cpu_usage_distribution": nine,
            },
            {**base, "instance_index": "1"},
            {**base, "instance_index": "2", "cpu_usage_distribution": eleven[:10]},
        ],
    )
    assert result.accepted["cpu_usage_distribution"].to_list() == [eleven, None]
    assert result.accepted["tail_cpu_usage_distribution"].to_list() == [nine, None]
    rejected = result.rejected.row(0, named=True)
    assert rejected["line"] == 3
    assert rejected["column"] == "cpu_usage_distribution"
    assert rejected["reason"] == "expected 11 values, found 10"


def test_usage_in_store_has_arrays(tmp_path):
    trace = tmp_path / "trace"
    eleven = [0.0] * 10 + [2.0]
    write_lines(
        trace / "machine_events-000.json",
        [
            {
                "time": "0",
                "machine_id": "5",
                "type": "1",
                "capacity": {"cpus": 1, "memory": 1},
            }
        ],
    )
    write_lines(
        trace / "instance_usage-000.json",
        [
            {
                "start_time": "600000000",
                "end_time": "900000000",
                "collection_id": "7",
                "instance_index": "0",
                "machine_id": "5",
                "average_usage": {"cpus": 1.5, "memory": 0.1},
                "cpu_usage_distribution": eleven,
                "tail_cpu_usage_distribution": [1.0] * 9,
            }
        ],
    )
    usage = ingest_google_2019(trace, tmp_path / "store").read("usage")
    assert usage.schema["cpu_usage_percentiles"] == pl.Array(pl.Float64, 11)
    assert usage["cpu_usage_percentiles"].to_list() == [eleven]
    assert usage["cpu_usage_tail_percentiles"].to_list() == [[1.0] * 9]
    assert usage["cpu_usage"].to_list() == [1.5]
    assert usage["over_capacity"].to_list() == [True]


def test_event_codes_map_to_lifecycle(tmp_path):
    trace = tmp_path / "trace"
    records = [
        {
            "time": str(1000 + code),
            "type": str(code),
            "collection_id": "7",
            "instance_index": "0",
        }
        for code in range(11)
    ]
    write_lines(trace / "instance_events-000.json", records)
    transitions = ingest_google_2019(trace, tmp_path / "store").read("transitions")
    mapped = dict(
        zip(
            transitions["source_code"].to_list(),
            transitions["event"].cast(pl.String).to_list(),
            strict=True,
        )
    )
    assert mapped == {code: event.name for code, event in GOOGLE_2019_EVENTS.items()}
    assert mapped[1] == "QUEUE"
    assert mapped[2] == "ENABLE"
    assert mapped[3] == "SCHEDULE"
    assert GOOGLE_2019_EVENTS[6] is Event.FINISH


def test_queue_enable_keep_one_attempt(tmp_path):
    trace = tmp_path / "trace"
    base = {"collection_id": "7", "instance_index": "0", "priority": "110"}
    write_lines(
        trace / "instance_events-000.json",
        [
            {**base, "time": "1000000", "type": "0"},
            {**base, "time": "2000000", "type": "1"},
            {**base, "time": "5000000", "type": "2"},
            {**base, "time": "9000000", "type": "3", "machine_id": "3"},
            {**base, "time": "20000000", "type": "6", "machine_id": "3"},
        ],
    )
    processes = ingest_google_2019(trace, tmp_path / "store").read("processes")
    row = processes.row(0, named=True)
    assert processes.height == 1
    assert row["scheduling_delay_us"] == 8_000_000
    assert row["run_time_us"] == 11_000_000
    assert row["end_state"] == "FINISH"
    assert row["band"] == "middle"


def test_bad_records_quarantined_with_reasons(tmp_path):
    good = {"time": "1", "type": "0", "collection_id": "7"}
    result = parse(
        tmp_path,
        COLLECTION_EVENTS,
        [
            good,
            '{"time": "1", bad',
            {"time": "1", "type": "11", "collection_id": "7"},
            {"time": "1", "type": "0"},
            {"time": "1.0", "type": "0", "collection_id": "7"},
            "",
            "[1, 2]",
            {
                "time": "1",
                "type": "0",
                "collection_id": "7",
                "start_after_collection_ids": ["3", "x"],
            },
            good,
        ],
    )
    assert result.rows_read == 9
    assert result.accepted["line"].to_list() == [1, 9]
    reasons = {row["line"]: row for row in result.rejected.iter_rows(named=True)}
    assert reasons[2]["reason"].startswith("invalid JSON record")
    assert reasons[3]["reason"] == (
        "unknown code (expected one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"
    )
    assert reasons[3]["column"] == "type"
    assert reasons[3]["value"] == "11"
    assert reasons[4]["reason"] == "missing mandatory value"
    assert reasons[4]["column"] == "collection_id"
    assert reasons[5]["reason"].startswith("invalid integer")
    assert reasons[5]["value"] == "1.0"
    assert reasons[6]["reason"] == "empty line"
    assert reasons[7]["reason"].startswith("invalid JSON record")
    assert reasons[8]["column"] == "start_after_collection_ids"
    assert reasons[8]["raw"].startswith('{"time": "1"')


def test_mostly_invalid_file_stops_ingest(tmp_path):
    trace = tmp_path / "trace"
    write_lines(trace / "machine_events-000.json", ["not json"] * 5)
    with pytest.raises(TraceFormatError, match=r"5 of 5 rows \(100\.0%\) are invalid"):
        ingest_google_2019(trace, tmp_path / "store")


def test_empty_folder_names_expected_files(tmp_path):
    with pytest.raises(TraceNotFoundError, match="contains no Google 2019 export file"):
        ingest_google_2019(tmp_path, tmp_path / "store")


RECORDS = [
    {
        "time": "0",
        "type": "0",
        "collection_id": str(BIG_ID),
        "instance_index": "0",
        "priority": "103",
        "scheduling_class": "2",
        "resource_request": {"cpus": 0.0208, "memory": 0.0059},
        "constraint": [{"name": "abc", "value": "", "relation": "6"}],
    },
    {
        "time": "700000000",
        "type": "3",
        "collection_id": str(BIG_ID),
        "instance_index": "0",
        "machine_id": "-1",
        "alloc_collection_id": "0",
    },
    {
        "time": str(MAX),
        "type": "7",
        "collection_id": str(BIG_ID),
        "instance_index": "0",
        "machine_id": "55",
    },
]


def _as_csv(path: Path) -> None:
    rows = []
    for record in RECORDS:
        request = record.get("resource_request", {})
        rows.append(
            {
                "time": record["time"],
                "type": record["type"],
                "collection_id": record["collection_id"],
                "instance_index": record["instance_index"],
                "priority": record.get("priority"),
                "scheduling_class": record.get("scheduling_class"),
                "machine_id": record.get("machine_id"),
                "alloc_collection_id": record.get("alloc_collection_id"),
                "resource_request.cpus": None
                if "cpus" not in request
                else str(request["cpus"]),
                "resource_request.memory": None
                if "memory" not in request
                else str(request["memory"]),
                "constraint": json.dumps(record["constraint"])
                if "constraint" in record
                else None,
            }
        )
    pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String)).write_csv(path)


def _as_parquet(path: Path) -> None:
    resources = pl.Struct({"cpus": pl.Float32, "memory": pl.Float32})
    constraint = pl.List(
        pl.Struct({"name": pl.String, "value": pl.String, "relation": pl.Int32})
    )
    frame = pl.DataFrame(
        {
            "time": [int(r["time"]) for r in RECORDS],
            "type": [int(r["type"]) for r in RECORDS],
            "collection_id": [int(r["collection_id"]) for r in RECORDS],
            "instance_index": [int(r["instance_index"]) for r in RECORDS],
            "priority": [
                int(r["priority"]) if "priority" in r else None for r in RECORDS
            ],
            "machine_id": [
                int(r["machine_id"]) if "machine_id" in r else None for r in RECORDS
            ],
            "resource_request": [r.get("resource_request") for r in RECORDS],
            "constraint": [
                [{**c, "relation": int(c["relation"])} for c in r["constraint"]]
                if "constraint" in r
                else None
                for r in RECORDS
            ],
        },
        schema_overrides={
            "resource_request": resources,
            "constraint": constraint,
            "time": pl.Int64,
            "collection_id": pl.Int64,
        },
    )
    frame.write_parquet(path)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_exports_agree_with_json(tmp_path, kind):
    json_trace = tmp_path / "json"
    write_lines(json_trace / "instance_events-000.json", RECORDS)
    other = tmp_path / kind
    other.mkdir()
    if kind == "csv":
        _as_csv(other / "instance_events-000.csv")
    else:
        _as_parquet(other / "instance_events-000.parquet")

    columns = [
        "time_us",
        "after_window",
        "before_window",
        "group_id",
        "event",
        "cell_id",
        "priority",
        "cpu_request",
        "memory_request",
    ]
    expected = ingest_google_2019(json_trace, tmp_path / "s1").read("transitions")
    actual = ingest_google_2019(other, tmp_path / "s2").read("transitions")
    assert actual.select(columns).equals(expected.select(columns))
    assert actual["group_id"].to_list() == [BIG_ID] * 3
    # Float32 in Parquet prints back as the same decimal.
    assert actual["cpu_request"].to_list()[0] == 0.0208

    details = ingest_google_2019(other, tmp_path / "s3").read("instance_details")
    assert details["constraints"].to_list()[0] == [
        {"name": "abc", "value": "", "relation": 6}
    ]
    assert details["dedicated_machine"].to_list() == [False, True, False]


def test_real_machine_events_counts(samples, tmp_path):
    path = samples / "google-2019" / "machine_events-000000000000.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    types = collections.Counter(r["type"] for r in rows)
    machines = {r["machine_id"] for r in rows}
    switches = {r["switch_id"] for r in rows}
    without_capacity = [r for r in rows if "capacity" not in r]
    at_zero = sum(r["time"] == "0" for r in rows)

    trace = tmp_path / "trace"
    trace.mkdir()
    (trace / path.name).symlink_to(path)
    store = ingest_google_2019(trace, tmp_path / "store")
    events = store.read("cell_events")
    cells = store.read("cells")

    assert len(rows) == 46_219
    assert len(machines) == 10_001
    assert events.height == len(rows)
    assert store.read("quarantine").height == 0
    assert cells.height == len(machines)
    counts = dict(events.group_by("event").len().iter_rows())
    assert counts == {"ADD": types["1"], "REMOVE": types["2"], "UPDATE": types["3"]}
    assert events["cpu_capacity"].null_count() == len(without_capacity)
    assert events.filter(pl.col("cpu_capacity").is_null())[
        "event"
    ].unique().to_list() == ["ADD"]
    assert events["before_window"].sum() == at_zero
    assert events["domain"].n_unique() == len(switches)
    assert set(cells["cell_id"].to_list()) == {int(m) for m in machines}
    removed = {r["machine_id"] for r in rows if r["type"] == "2"}
    assert int((cells["removes"] > 0).sum()) == len(removed)


def test_machine_attributes_kept(tmp_path):
    trace = tmp_path / "trace"
    write_lines(
        trace / "machine_attributes-000.json",
        [
            {"time": "0", "machine_id": "7", "name": "kernel", "value": "3"},
            {"time": "900000000", "machine_id": "7", "name": "kernel", "deleted": True},
            {"time": "5", "machine_id": "0", "name": "x", "value": "1"},
        ],
    )
    store = ingest_google_2019(trace, tmp_path / "store", max_rejected_fraction=0.5)
    attributes = store.read("cell_attributes").sort("time_us", nulls_last=False)
    assert attributes["cell_id"].to_list() == [7, 7]
    assert attributes["before_window"].to_list() == [True, False]
    assert attributes["value"].to_list() == ["3", None]
    assert attributes["deleted"].to_list() == [False, True]
    rejected = store.read("quarantine").row(0, named=True)
    assert rejected["column"] == "machine_id"
    assert rejected["reason"] == "below the minimum 1"
