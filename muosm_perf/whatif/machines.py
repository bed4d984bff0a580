"""Machine transforms: resize the cluster, remove a platform.

Both act on the replay's prepared inputs. The cluster's machines are the
*present* ones, those added at or before the replay horizon. A machine that only
appears after the horizon never runs a process and is not counted. Removing a
machine drops every one of its events, so it is never alive. Adding machines copies
present ones: a copy gets every event of its source machine (the same capacity,
the same REMOVE and ADD history) under a new machine index and a new ``cell_id``
above every ``cell_id`` of the trace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.errors import ScenarioError
from muosm_perf.whatif.state import (
    EVENT_ARRAYS,
    ScenarioInputs,
    append_machine_events,
    keep_machine_events,
)
from muosm_perf.whatif.transforms import (
    Transform,
    check_choice,
    check_number,
    register_transform,
)

MACHINE_ORDERS = ("random", "smallest-first", "largest-first")
"""Orders in which machines are removed (and copied when the cluster grows)."""

RngFactory = Callable[..., np.random.Generator]


def machine_order(machines: pl.DataFrame, order: str, rng: RngFactory) -> np.ndarray:
    """Return the present machines' indices in removal order.

    ``random`` is a permutation drawn from ``rng(0)``, so with one seed the
    machines removed for a smaller target include those removed for a larger one.
    ``smallest-first`` sorts by CPU capacity, then memory capacity, then index,
    with machines of unknown capacity first. ``largest-first`` reverses that
    capacity order but still puts unknown capacity last.
    """
    present = machines.filter(pl.col("present"))
    if order == "random":
        indices = present["machine"].to_numpy()
        return rng(0).permutation(indices)
    ascending = present.sort(
        ["cpu_capacity", "memory_capacity", "machine"], nulls_last=False
    )["machine"].to_numpy()
    if order == "smallest-first":
        return ascending
    unknown = present.filter(pl.col("cpu_capacity").is_null())["machine"].to_numpy()
    known = ascending[unknown.shape[0] :]
    return np.concatenate([known[::-1], unknown])


def remove_machines(state: ScenarioInputs, removed: np.ndarray) -> ScenarioInputs:
    """Return ``state`` with every event of the machines ``removed`` dropped."""
    if removed.shape[0] == 0:
        return state
    event_machine = state.prepared.inputs.machine_event_machine
    keep = ~np.isin(event_machine, removed)
    prepared = keep_machine_events(state.prepared, keep)
    is_removed = np.isin(state.machines["machine"].to_numpy(), removed)
    machines = state.machines.with_columns(
        (pl.col("present") & pl.Series(~is_removed)).alias("present")
    )
    return ScenarioInputs(prepared, machines)


def copy_machines(state: ScenarioInputs, sources: np.ndarray) -> ScenarioInputs:
    """Return ``state`` with a copy of each machine of ``sources`` added.

    Copy ``k`` gets machine index ``machines + k`` and ``cell_id`` one above the
    largest ``cell_id`` so far plus ``k``.
    """
    if sources.shape[0] == 0:
        return state
    prepared = state.prepared
    inputs = prepared.inputs
    first_new = int(inputs.machines)
    event_machine = inputs.machine_event_machine

    # Events of each source machine, found by sorting the events by machine.
    by_machine = np.argsort(event_machine, kind="stable")
    sorted_machines = event_machine[by_machine]
    starts = np.searchsorted(sorted_machines, sources, side="left")
    stops = np.searchsorted(sorted_machines, sources, side="right")
    picked = [by_machine[a:b] for a, b in zip(starts, stops, strict=True)]
    rows = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    new_index = np.repeat(
        np.arange(first_new, first_new + sources.shape[0], dtype=np.int64),
        stops - starts,
    )
    events = {name: getattr(inputs, name)[rows] for name in EVENT_ARRAYS}
    events["machine_event_machine"] = new_index

    first_cell = int(np.max(prepared.cell_ids, initial=-1)) + 1
    new_cells = np.arange(first_cell, first_cell + sources.shape[0], dtype=np.int64)
    cell_ids = np.concatenate([np.asarray(prepared.cell_ids, np.int64), new_cells])
    prepared = append_machine_events(
        prepared, events, first_new + sources.shape[0], cell_ids
    )

    source_rows = (
        pl.DataFrame({"machine": sources}, schema={"machine": pl.Int64})
        .join(state.machines, on="machine", how="left", maintain_order="left")
        .with_columns(
            pl.Series("machine", np.arange(first_new, first_new + sources.shape[0])),
            pl.Series("cell_id", new_cells),
        )
        .select(state.machines.columns)
    )
    machines = pl.concat([state.machines, source_rows], how="vertical")
    return ScenarioInputs(prepared, machines)


@register_transform
@dataclasses.dataclass(frozen=True, kw_only=True)
class ResizeMachines(Transform):
    """Keep, remove or add machines.

    Give exactly one of ``count``, ``fraction`` and ``remove``.

    Attributes
    ----------
    count
        Machines to keep (present machines after the transform); above the
        present count, machines are copied.
    fraction
        Machines to keep as a fraction of the present ones, rounded to the
        nearest whole machine; above 1, machines are copied.
    remove
        Machines to remove; at most the present count.
    order
        Which machines go first (:data:`MACHINE_ORDERS`); copies are made in the
        same order, cycling when more copies than machines are needed.
    """

    kind = "resize_machines"
    count: int | None = None
    fraction: float | None = None
    remove: int | None = None
    order: str = "random"

    def __post_init__(self) -> None:
        super().__post_init__()
        targets = [
            name
            for name in ("count", "fraction", "remove")
            if getattr(self, name) is not None
        ]
        if len(targets) != 1:
            raise ScenarioError(
                "give exactly one of count, fraction and remove, got "
                + (", ".join(targets) or "none"),
                key="count",
                value=self.count,
            )
        if self.count is not None:
            check_number("count", self.count, minimum=0, integer=True)
        if self.fraction is not None:
            check_number("fraction", self.fraction, minimum=0)
        if self.remove is not None:
            check_number("remove", self.remove, minimum=0, integer=True)
        check_choice("order", self.order, MACHINE_ORDERS)

    def target_count(self, present: int) -> int:
        """Return the number of machines to keep out of ``present``."""
        if self.count is not None:
            return int(self.count)
        if self.fraction is not None:
            return int(np.rint(self.fraction * present))
        if self.remove > present:
            raise ScenarioError(
                f"cannot remove more than the {present} machines present",
                key="remove",
                value=self.remove,
            )
        return present - int(self.remove)

    def check_base(self, base: Any) -> None:
        """Check that ``remove`` does not exceed the base's present machines."""
        self.target_count(base.present_machines)

    def apply(self, state: ScenarioInputs, rng: RngFactory) -> ScenarioInputs:
        """Remove or copy machines of ``state`` to reach the target count."""
        present = int(state.machines["present"].sum())
        target = self.target_count(present)
        order = machine_order(state.machines, self.order, rng)
        if target <= present:
            return remove_machines(state, order[: present - target])
        if present == 0:
            raise ScenarioError(
                "cannot add machines to a cluster with none present",
                key="count" if self.count is not None else "fraction",
                value=self.count if self.count is not None else self.fraction,
            )
        sources = order[np.arange(target - present) % present]
        return copy_machines(state, sources)


LARGEST_PLATFORM = "largest"
"""Platform name that selects the platform with the most CPU capacity."""


def largest_platform(machines: pl.DataFrame) -> str | None:
    """Return the platform whose present machines have the most CPU capacity.

    Ties go to the platform name that sorts first; None when no machine is present.
    """
    ranked = (
        machines.filter(pl.col("present") & pl.col("platform").is_not_null())
        .group_by("platform")
        .agg(pl.col("cpu_capacity").sum())
        .sort(["cpu_capacity", "platform"], descending=[True, False], nulls_last=True)
    )
    return ranked["platform"][0] if ranked.height else None


@register_transform
@dataclasses.dataclass(frozen=True, kw_only=True)
class RemovePlatform(Transform):
    """Remove every machine of one platform for the whole replay.

    Attributes
    ----------
    platform
        The platform ID as the store has it, or ``largest`` for the platform whose
        present machines have the most CPU capacity.
    replace
        Replace the removed machines one for one by copies of the remaining
        present machines, taken in a random order drawn from the seed (cycling
        when more copies than machines are needed). The machine count stays, but
        the capacity becomes that of the other platforms' machines.
    """

    kind = "remove_platform"
    platform: str = LARGEST_PLATFORM
    replace: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.platform, str) or not self.platform:
            raise ScenarioError(
                "must be a platform ID or 'largest'",
                key="platform",
                value=self.platform,
            )
        if not isinstance(self.replace, bool):
            raise ScenarioError(
                "must be true or false", key="replace", value=self.replace
            )

    def resolve(self, machines: pl.DataFrame) -> str:
        """Return the platform ID this transform removes from ``machines``."""
        if self.platform != LARGEST_PLATFORM:
            return self.platform
        platform = largest_platform(machines)
        if platform is None:
            raise ScenarioError(
                "no present machine has a platform", key="platform", value=self.platform
            )
        return platform

    def check_base(self, base: Any) -> None:
        """Check that the platform has present machines in the base."""
        platform = self.resolve(base.machines)
        known = base.machines.filter(pl.col("present"))["platform"].drop_nulls()
        if not (known == platform).any():
            choices = ", ".join(sorted(known.unique().to_list()))
            raise ScenarioError(
                f"no present machine has this platform; platforms: {choices}, or "
                f"{LARGEST_PLATFORM!r}",
                key="platform",
                value=self.platform,
            )

    def apply(self, state: ScenarioInputs, rng: RngFactory) -> ScenarioInputs:
        """Remove the platform's present machines from ``state``."""
        platform = self.resolve(state.machines)
        removed = state.machines.filter(
            pl.col("present") & (pl.col("platform") == platform)
        )["machine"].to_numpy()
        state = remove_machines(state, removed)
        if not self.replace or removed.shape[0] == 0:
            return state
        remaining = machine_order(state.machines, "random", rng)
        if remaining.shape[0] == 0:
            raise ScenarioError(
                "no machine of another platform is left to copy",
                key="replace",
                value=self.replace,
            )
        sources = remaining[np.arange(removed.shape[0]) % remaining.shape[0]]
        return copy_machines(state, sources)
