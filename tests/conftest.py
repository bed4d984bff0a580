"""Shared fixtures: the real trace samples and small hand-made Google 2011 traces."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from muosm_perf.traces.google2011 import ingest_google_2011

REPOSITORY = Path(__file__).resolve().parents[1]


def samples_folder() -> Path:
    """Return the folder of real trace samples (``MUOSM_SAMPLES``)."""
    configured = os.environ.get("MUOSM_SAMPLES")
    if configured:
        return Path(configured)
    return (REPOSITORY / ".." / "shared" / "traces").resolve()


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real samples; a missing folder fails under CI and skips elsewhere."""
    folder = samples_folder()
    if not (folder / "google-2011" / "task_events").is_dir():
        message = (
            f"trace samples not found at {folder}; set MUOSM_SAMPLES to the folder "
            "that holds google-2011/, google-2019/ and swf/"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def google_2011_store(samples: Path, tmp_path_factory: pytest.TempPathFactory):
    """A store ingested once per test session from the real Google 2011 sample."""
    path = tmp_path_factory.mktemp("stores") / "google-2011"
    return ingest_google_2011(samples / "google-2011", path)


def write_shard(path: Path, rows: Iterable[Sequence[object] | str]) -> Path:
    """Write rows as a headerless gzip CSV shard; a str row is written verbatim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
        else:
            lines.append(",".join("" if v is None else str(v) for v in row))
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        for line in lines:
            handle.write(line + "\n")
    return path


def task_row(
    time: int,
    job: int,
    task: int,
    event: int,
    *,
    machine: int | None = None,
    priority: int = 2,
    cpu: float | None = 0.1,
    memory: float | None = 0.1,
    missing: int | None = None,
) -> list[object]:
    """Build one Google 2011 task_events row (13 fields)."""
    return [
        time,
        missing,
        job,
        task,
        machine,
        event,
        "user",
        1,
        priority,
        cpu,
        memory,
        0.001,
        0,
    ]


def job_row(time: int, job: int, event: int) -> list[object]:
    """Build one Google 2011 job_events row (8 fields)."""
    return [time, None, job, event, "user", 1, "name", "logical"]


def machine_row(
    time: int,
    machine: int,
    event: int,
    cpu: float | None = 0.5,
    memory: float | None = 0.5,
) -> list[object]:
    """Build one Google 2011 machine_events row (6 fields)."""
    return [time, machine, event, "platform", cpu, memory]


@pytest.fixture
def make_trace(tmp_path: Path):
    """Write a small Google 2011 trace folder from lists of rows."""

    def make(
        tasks: Iterable[Sequence[object] | str],
        jobs: Iterable[Sequence[object] | str] = (),
        machines: Iterable[Sequence[object] | str] = (),
        name: str = "trace",
    ) -> Path:
        root = tmp_path / name
        write_shard(root / "task_events" / "part-00000-of-00001.csv.gz", tasks)
        write_shard(root / "job_events" / "part-00000-of-00001.csv.gz", jobs)
        machine_rows = list(machines) or [machine_row(0, 1, 0)]
        write_shard(
            root / "machine_events" / "part-00000-of-00001.csv.gz", machine_rows
        )
        return root

    return make
