"""The base of a what-if study: a store's replay inputs, prepared once.

Every scenario of a study starts from one :class:`WhatIfBase`. It contains the
replay's prepared kernel inputs and a table of the machines, for transforms that
pick machines by capacity or platform. When some transform rewrites canonical
tables, it also keeps those tables in memory as :class:`StoreTables`. The store on
disk is only read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.errors import StoreError
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import PreparedReplay, prepare_replay
from muosm_perf.whatif.state import present_machines

logger = logging.getLogger(__name__)

TABLES_FOR_TRANSFORMS = ("processes", "cell_events", "cells")
"""Tables a table transform may read or replace."""

MACHINES = pl.Schema(
    {
        "machine": pl.Int64,
        "cell_id": pl.Int64,
        "platform": pl.String,
        "cpu_capacity": pl.Float64,
        "memory_capacity": pl.Float64,
        "present": pl.Boolean,
    }
)
"""Schema of :attr:`WhatIfBase.machines`."""


class StoreTables:
    """Canonical tables held in memory, read like a :class:`TraceStore`.

    It offers what :func:`~muosm_perf.predict.replay.prepare_replay` reads from a
    store (``path``, ``manifest``, ``has``, ``read`` and ``scan``), so a scenario can
    replace a table and prepare the replay from the result without writing a store.

    Parameters
    ----------
    path
        Path of the store the tables came from, for messages.
    manifest
        That store's manifest.
    tables
        The tables by name.
    """

    def __init__(
        self,
        path: str | Path,
        manifest: Mapping[str, Any],
        tables: dict[str, pl.DataFrame],
    ) -> None:
        self.path = Path(path)
        self.manifest = dict(manifest)
        self._tables = dict(tables)

    @classmethod
    def from_store(
        cls, store: TraceStore, names: tuple[str, ...] = TABLES_FOR_TRANSFORMS
    ) -> StoreTables:
        """Read the tables ``names`` of ``store`` into memory."""
        return cls(
            store.path, store.manifest, {name: store.read(name) for name in names}
        )

    def __repr__(self) -> str:
        return f"StoreTables({str(self.path)!r}, {sorted(self._tables)})"

    @property
    def tables(self) -> list[str]:
        """Names of the tables held."""
        return sorted(self._tables)

    def has(self, table: str) -> bool:
        """Return whether the table is held."""
        return table in self._tables

    def read(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        """Return one table, or some of its columns."""
        if table not in self._tables:
            raise StoreError(
                f"{self.path}: table {table!r} was not loaded for the scenario; "
                f"loaded: {', '.join(self.tables)}"
            )
        frame = self._tables[table]
        return frame if columns is None else frame.select(columns)

    def scan(self, table: str) -> pl.LazyFrame:
        """Return one table as a lazy frame."""
        return self.read(table).lazy()

    def replaced(self, **tables: pl.DataFrame) -> StoreTables:
        """Return a copy with the given tables replaced."""
        return StoreTables(self.path, self.manifest, {**self._tables, **tables})


@dataclass(frozen=True)
class WhatIfBase:
    """The starting point of every scenario of a study.

    Attributes
    ----------
    prepared
        The replay's kernel inputs built from the store.
    machines
        One row per machine index of ``prepared`` (:data:`MACHINES`): its
        ``cell_id``, platform and last known capacity from the ``cells`` table,
        and whether it is ``present``, that is, added at or before the replay
        horizon. Only present machines count as the cluster's machines.
    source
        The store the base was read from.
    tables
        The canonical tables, when a table transform needs them; None otherwise.
    grid_step_s
        Step of the occupancy grid the inputs were prepared with (None: the
        replay's default).
    unscheduled
        How the inputs treat attempts the trace never scheduled
        (:func:`~muosm_perf.predict.replay.prepare_replay`): ``hold``, the
        default of the calibrated model, leaves them out.
    """

    prepared: PreparedReplay
    machines: pl.DataFrame
    source: str
    tables: StoreTables | None = None
    grid_step_s: float | None = None
    unscheduled: str = "hold"

    @property
    def present_machines(self) -> int:
        """Number of machines added at or before the replay horizon."""
        return int(self.machines["present"].sum())

    def platforms(self) -> pl.DataFrame:
        """Return the present machines and their CPU capacity per platform.

        Columns ``platform``, ``machines`` and ``cpu_capacity`` (the sum, in the
        trace's normalized units), largest capacity first, ties by platform.
        """
        return (
            self.machines.filter(pl.col("present"))
            .group_by("platform")
            .agg(
                pl.len().cast(pl.Int64).alias("machines"),
                pl.col("cpu_capacity").sum().alias("cpu_capacity"),
            )
            .sort(
                ["cpu_capacity", "platform"], descending=[True, False], nulls_last=True
            )
        )


def machine_table(prepared: PreparedReplay, cells: pl.DataFrame) -> pl.DataFrame:
    """Build the :data:`MACHINES` table of prepared inputs from the ``cells`` table."""
    inputs = prepared.inputs
    present = present_machines(prepared)
    frame = pl.DataFrame(
        {
            "machine": np.arange(inputs.machines, dtype=np.int64),
            "cell_id": np.asarray(prepared.cell_ids, dtype=np.int64),
            "present": present,
        },
        schema={"machine": pl.Int64, "cell_id": pl.Int64, "present": pl.Boolean},
    )
    attributes = cells.select("cell_id", "platform", "cpu_capacity", "memory_capacity")
    return (
        frame.join(attributes, on="cell_id", how="left", maintain_order="left")
        .select(MACHINES.names())
        .cast(dict(MACHINES))
    )


def load_base(
    store: TraceStore | StoreTables,
    *,
    grid_step_s: float | None = None,
    unscheduled: str = "hold",
    keep_tables: bool = False,
) -> WhatIfBase:
    """Prepare the replay inputs of ``store`` once, for every scenario of a study.

    Parameters
    ----------
    store
        A trace store with a trace window, or tables in memory.
    grid_step_s
        Step of the occupancy grid in seconds (None: the replay's default).
    unscheduled
        ``hold`` (the default, as the calibrated replay is validated) leaves out
        the attempts the trace never scheduled and that were still pending at the
        window end; ``replay`` replays them like any other (see
        :func:`~muosm_perf.predict.replay.prepare_replay`). Scenarios with
        ``calibrated=False`` reproduce the plain model only on a ``replay`` base.
    keep_tables
        Keep the ``processes``, ``cell_events`` and ``cells`` tables in memory,
        which table transforms (failure scenarios) need.

    Returns
    -------
    WhatIfBase
    """
    tables = store if isinstance(store, StoreTables) else None
    if keep_tables and tables is None:
        tables = StoreTables.from_store(store)
    prepared = prepare_replay(store, grid_step_s=grid_step_s, unscheduled=unscheduled)
    machines = machine_table(prepared, store.read("cells"))
    logger.info(
        "base %s: %d processes, %d machines present of %d",
        store.path,
        prepared.inputs.processes,
        int(machines["present"].sum()),
        machines.height,
    )
    return WhatIfBase(
        prepared=prepared,
        machines=machines,
        source=str(store.path),
        tables=tables if keep_tables else None,
        grid_step_s=grid_step_s,
        unscheduled=unscheduled,
    )
