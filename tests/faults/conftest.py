"""Fixtures of the fault-cell tests: the real Google 2011 sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from muosm_perf.traces.google2011 import ingest_google_2011

REPOSITORY = Path(__file__).resolve().parents[2]


def samples_folder() -> Path:
    """Return the folder of real trace samples (``MUOSM_SAMPLES``)."""
    configured = os.environ.get("MUOSM_SAMPLES")
    if configured:
        return Path(configured)
    return (REPOSITORY / ".." / "shared" / "traces").resolve()


@pytest.fixture(scope="session")
def google_2011_folder() -> Path:
    """The real Google 2011 sample; missing fails under CI and skips elsewhere."""
    folder = samples_folder() / "google-2011"
    if not (folder / "machine_events").is_dir():
        message = (
            f"trace samples not found at {folder}; set MUOSM_SAMPLES to the folder "
            "that holds google-2011/"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def sample_store(google_2011_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    """A store ingested once per session from the real Google 2011 sample."""
    path = tmp_path_factory.mktemp("fault-stores") / "google-2011"
    return ingest_google_2011(google_2011_folder, path)
