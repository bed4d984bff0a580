"""Trace formats by name, as the ``muosm ingest`` command and the API accept them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from muosm_perf.errors import ParameterError
from muosm_perf.model.store import TraceStore
from muosm_perf.traces.alibaba2018 import ingest_alibaba_2018
from muosm_perf.traces.detect import detect_format
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.traces.google2019 import ingest_google_2019
from muosm_perf.traces.swf import ingest_swf

logger = logging.getLogger(__name__)

Reader = Callable[..., TraceStore]

READERS: dict[str, Reader] = {
    "google-2011": ingest_google_2011,
    "google-2019": ingest_google_2019,
    "alibaba-2018": ingest_alibaba_2018,
    "swf": ingest_swf,
}
"""Reader function of each format name."""

AUTO = "auto"
"""Format name with which :func:`ingest` detects the format from the file names."""


def resolve_format(source_format: str, trace_path: str | Path) -> str:
    """Return ``source_format``, or the detected format when it is ``auto``.

    Raises
    ------
    ParameterError
        If the format is not known, or ``auto`` cannot tell the format.
    """
    if source_format == AUTO:
        return detect_format(trace_path).format
    if source_format not in READERS:
        raise ParameterError(
            f"unknown trace format {source_format!r}; known formats: "
            f"{', '.join(sorted(READERS))} (or {AUTO})"
        )
    return source_format


def ingest(
    source_format: str,
    trace_dir: str | Path,
    store_path: str | Path,
    **options: object,
) -> TraceStore:
    """Read ``trace_dir`` in ``source_format`` into a store at ``store_path``.

    ``source_format`` may be ``auto`` to detect it from the file names (see
    :mod:`muosm_perf.traces.detect`).

    Raises
    ------
    ParameterError
        If the format is not known or cannot be detected.
    """
    reader = READERS[resolve_format(source_format, trace_dir)]
    return reader(trace_dir, store_path, **options)
