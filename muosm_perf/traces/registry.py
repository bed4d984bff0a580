"""Trace formats by name, as the ``muosm ingest`` command and the API accept them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from muosm_perf.errors import ParameterError
from muosm_perf.model.store import TraceStore
from muosm_perf.traces.google2011 import ingest_google_2011

Reader = Callable[..., TraceStore]

READERS: dict[str, Reader] = {
    "google-2011": ingest_google_2011,
}
"""Reader function of each format name."""


def ingest(
    source_format: str,
    trace_dir: str | Path,
    store_path: str | Path,
    **options: object,
) -> TraceStore:
    """Read ``trace_dir`` in ``source_format`` into a store at ``store_path``.

    Raises
    ------
    ParameterError
        If the format is not known.
    """
    reader = READERS.get(source_format)
    if reader is None:
        raise ParameterError(
            f"unknown trace format {source_format!r}; known formats: "
            f"{', '.join(sorted(READERS))}"
        )
    return reader(trace_dir, store_path, **options)
