"""Shared fixtures: the real trace samples, found through ``MUOSM_SAMPLES``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


def samples_folder() -> Path:
    """Return the folder of real trace samples (``MUOSM_SAMPLES`` or the default)."""
    configured = os.environ.get("MUOSM_SAMPLES")
    if configured:
        return Path(configured)
    return REPOSITORY.parent / "shared" / "traces"


@pytest.fixture
def sample_path():
    """Return a function mapping a path inside the samples folder to a real path.

    A missing sample skips the test, except when ``CI=true``, where it fails it.
    """

    def locate(relative: str) -> Path:
        path = samples_folder() / relative
        if not path.exists():
            message = f"trace sample not found: {path} (set MUOSM_SAMPLES)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        return path

    return locate
