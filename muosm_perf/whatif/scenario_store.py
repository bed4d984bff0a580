"""Scenario stores: a copy of a trace store with some tables replaced.

Every tool of the package reads trace stores, so a what-if that rewrites tables
(machine events with more failures, processes without the effects of observed
failures) writes them as a store of its own. The replay, ``muosm faults`` and the
report then read the scenario as they read the trace. The manifest keeps the
source's clock, units and windows, and records what was replaced and why.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.model import derive, schema
from muosm_perf.model.store import StoreWriter, TraceStore

logger = logging.getLogger(__name__)

_KEPT_MANIFEST_KEYS = (
    "clock",
    "units",
    "window_us",
    "priority_bands",
    "anomalies",
    "source_tables",
)
"""Manifest entries copied from the source store unchanged."""


def write_scenario_store(
    source: TraceStore,
    path: str | Path,
    *,
    description: str,
    processes: pl.DataFrame | None = None,
    cell_events: pl.DataFrame | None = None,
) -> TraceStore:
    """Write a copy of ``source`` with ``processes`` and ``cell_events`` replaced.

    Parameters
    ----------
    source
        The trace store the scenario derives from.
    path
        Destination folder; an earlier store there is replaced when the new one is
        complete.
    description
        What the scenario changes, recorded in the manifest under ``scenario``.
    processes, cell_events
        Replacement tables in their canonical schema; None keeps the source's.
        New ``cell_events`` also rebuild the ``cells`` table from them.

    Returns
    -------
    TraceStore
        The scenario store.

    Raises
    ------
    ParameterError
        If a replacement does not have the canonical schema, or ``path`` is the
        source store itself.
    """
    path = Path(path)
    if path.resolve() == source.path.resolve():
        raise ParameterError(
            f"the scenario store {path} would replace its source; choose another path"
        )
    replaced = {"processes": processes, "cell_events": cell_events}
    for table, frame in replaced.items():
        if frame is not None and frame.schema != schema.CANONICAL[table]:
            raise ParameterError(
                f"the replacement {table} table has schema {dict(frame.schema)}, not "
                f"the canonical {dict(schema.CANONICAL[table])}; cast it first"
            )

    with StoreWriter(path, source.source_format) as writer:
        writer.manifest["source"] = dict(source.manifest["source"])
        writer.manifest["scenario"] = {
            "description": description,
            "derived_from": str(source.path.resolve()),
            "replaced_tables": sorted(
                [table for table, frame in replaced.items() if frame is not None]
                + (["cells"] if cell_events is not None else [])
            ),
        }
        for key in _KEPT_MANIFEST_KEYS:
            if key in source.manifest:
                writer.manifest[key] = source.manifest[key]
        for table in source.tables:
            if table == "cells" and cell_events is not None:
                continue
            frame = replaced.get(table)
            if frame is not None:
                writer.write_part(table, frame)
            else:
                writer.sink_part(table, source.scan(table))
        if cell_events is not None:
            derive.derive_cells(writer)
    logger.info("wrote scenario store %s: %s", path, description)
    return TraceStore(path)
