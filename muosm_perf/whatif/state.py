"""The inputs of one scenario while its transforms apply, and helpers to edit them.

:class:`ScenarioInputs` pairs the replay's prepared inputs with the machine table;
input transforms take one and return a new one. The helpers keep the per-process
arrays of :class:`~muosm_perf.kernels.replay.ReplayInput` and the rows of the
attempts table aligned, and the machine events sorted by time, as the kernel
requires.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from muosm_perf.model.lifecycle import CellEvent
from muosm_perf.predict.replay import PreparedReplay

PROCESS_ARRAYS = (
    "submit_time_us",
    "cpu_request",
    "memory_request",
    "priority",
    "duration_us",
    "end_time_us",
)
"""Per-process arrays of the replay input, aligned with the attempts table."""

OPTIONAL_PROCESS_ARRAYS = ("group", "bypass_scheduler", "band")
"""Per-process arrays of the replay input that may be None."""

EVENT_ARRAYS = (
    "machine_event_time_us",
    "machine_event_machine",
    "machine_event_kind",
    "machine_event_cpu_capacity",
    "machine_event_memory_capacity",
)
"""Per-event arrays of the replay input, sorted by time."""


@dataclass(frozen=True)
class ScenarioInputs:
    """Prepared replay inputs and their machines, as transforms change them.

    Attributes
    ----------
    prepared
        Kernel inputs and the attempts table, row for row.
    machines
        The :data:`~muosm_perf.whatif.base.MACHINES` table of ``prepared``'s
        machine indices; ``present`` is false for machines a transform removed.
    """

    prepared: PreparedReplay
    machines: pl.DataFrame

    @property
    def window_start_us(self) -> int:
        """Start of the trace window, microseconds on the trace clock."""
        return int(self.prepared.window_us["start"])

    @property
    def horizon_us(self) -> int:
        """Last instant the replay processes."""
        return int(self.prepared.inputs.horizon_us)


def replace_inputs(
    prepared: PreparedReplay,
    changes: Mapping[str, object],
    *,
    attempts: pl.DataFrame | None = None,
    window_us: Mapping[str, int] | None = None,
    cell_ids: np.ndarray | None = None,
) -> PreparedReplay:
    """Return ``prepared`` with kernel-input fields and other parts replaced.

    The input counts are updated to the new numbers of processes, machines and
    machine events.
    """
    inputs = dataclasses.replace(prepared.inputs, **changes)
    counts = {
        **prepared.input_counts,
        "processes": inputs.processes,
        "machines": int(inputs.machines),
        "machine_events": int(inputs.machine_event_time_us.shape[0]),
    }
    return dataclasses.replace(
        prepared,
        inputs=inputs,
        attempts=prepared.attempts if attempts is None else attempts,
        window_us=dict(prepared.window_us if window_us is None else window_us),
        cell_ids=prepared.cell_ids if cell_ids is None else cell_ids,
        input_counts=counts,
    )


def keep_machine_events(prepared: PreparedReplay, keep: np.ndarray) -> PreparedReplay:
    """Return ``prepared`` with only the machine events where ``keep`` is true."""
    inputs = prepared.inputs
    changes = {name: getattr(inputs, name)[keep] for name in EVENT_ARRAYS}
    return replace_inputs(prepared, changes)


def append_machine_events(
    prepared: PreparedReplay,
    events: Mapping[str, np.ndarray],
    machines: int,
    cell_ids: np.ndarray,
) -> PreparedReplay:
    """Return ``prepared`` with more machine events and machines.

    The new events are merged by time; at one instant the existing events come
    first, then the new ones in their given order (a stable sort).

    Parameters
    ----------
    events
        The :data:`EVENT_ARRAYS` of the new events.
    machines
        The new number of machines.
    cell_ids
        ``cell_id`` of every machine index, new ones included.
    """
    inputs = prepared.inputs
    merged = {
        name: np.concatenate([getattr(inputs, name), events[name]])
        for name in EVENT_ARRAYS
    }
    order = np.argsort(merged["machine_event_time_us"], kind="stable")
    changes = {name: values[order] for name, values in merged.items()}
    changes["machines"] = int(machines)
    return replace_inputs(prepared, changes, cell_ids=cell_ids)


def process_arrays(inputs: object) -> tuple[str, ...]:
    """Return the names of the per-process arrays that ``inputs`` has.

    Raises
    ------
    RuntimeError
        If the replay input has a per-process array this module does not know,
        which a transform would leave misaligned.
    """
    known = set(PROCESS_ARRAYS) | set(OPTIONAL_PROCESS_ARRAYS)
    known |= {*EVENT_ARRAYS, "grid_us"}
    processes = inputs.submit_time_us.shape[0]
    for field in dataclasses.fields(inputs):
        value = getattr(inputs, field.name)
        if (
            field.name not in known
            and isinstance(value, np.ndarray)
            and value.shape[:1] == (processes,)
        ):
            raise RuntimeError(
                f"the replay input has an unknown per-process array {field.name!r}; "
                "add it to muosm_perf.whatif.state.OPTIONAL_PROCESS_ARRAYS"
            )
    present = tuple(
        n for n in OPTIONAL_PROCESS_ARRAYS if getattr(inputs, n) is not None
    )
    return (*PROCESS_ARRAYS, *present)


def select_processes(
    prepared: PreparedReplay,
    rows: np.ndarray,
    *,
    replacements: Mapping[str, np.ndarray] | None = None,
    attempts: pl.DataFrame | None = None,
) -> PreparedReplay:
    """Return ``prepared`` with the processes ``rows``, sorted by submission time.

    Parameters
    ----------
    rows
        Row numbers of the current processes (a row may repeat, for copies).
    replacements
        New values of per-process arrays (``submit_time_us``, ``end_time_us``,
        ``group``, ...) for the selected rows, in ``rows`` order; arrays not
        named keep the current values of those rows.
    attempts
        The attempts table of the selected rows in ``rows`` order; None takes the
        current rows.

    Notes
    -----
    The result is sorted by submission time with a stable sort, so processes
    submitted at one instant keep the order of ``rows``.
    """
    inputs = prepared.inputs
    arrays = {name: getattr(inputs, name)[rows] for name in process_arrays(inputs)}
    for name, values in (replacements or {}).items():
        if name not in arrays:
            raise ValueError(f"{name!r} is not a per-process array of the input")
        arrays[name] = np.asarray(values, dtype=arrays[name].dtype)
    table = prepared.attempts[rows] if attempts is None else attempts
    order = np.argsort(arrays["submit_time_us"], kind="stable")
    changes = {name: values[order] for name, values in arrays.items()}
    return replace_inputs(prepared, changes, attempts=table[order])


def present_machines(prepared: PreparedReplay) -> np.ndarray:
    """Return a boolean array: machines with an ADD at or before the horizon."""
    inputs = prepared.inputs
    present = np.zeros(int(inputs.machines), dtype=bool)
    adds = (inputs.machine_event_kind == int(CellEvent.ADD)) & (
        inputs.machine_event_time_us <= inputs.horizon_us
    )
    present[inputs.machine_event_machine[adds]] = True
    return present
