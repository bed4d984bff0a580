"""Sweeps: evaluate many scenarios and gather their results in one table.

The table has one row per scenario, in scenario order. Its columns are:

- ``scenario``, the scenario's name;
- one per parameter path that any scenario sets, null where a scenario does not;
- ``seed``, and ``policy``, the name of the policy the scenario replayed with;
- ``replay.calibrated`` and one ``replay.FIELD`` per field of
  :data:`~muosm_perf.whatif.replay_settings.RECORDED_SETTINGS`: the settings
  the policy ran with, after calibration and overrides;
- ``transforms``, every transform of the scenario in one line;
- one per output.

It has no timing, so two runs of one sweep give the same table, bit for bit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from muosm_perf.errors import ScenarioError
from muosm_perf.whatif.execution import Evaluation, LocalRunner
from muosm_perf.whatif.replay_settings import RECORDED_SETTINGS, recorded_values
from muosm_perf.whatif.scenario import Scenario

logger = logging.getLogger(__name__)

REPLAY_COLUMNS = (
    "replay.calibrated",
    *(f"replay.{name}" for name in RECORDED_SETTINGS),
)
"""Columns of the policy settings each scenario ran with."""

FIXED_COLUMNS = ("scenario", "seed", "policy", *REPLAY_COLUMNS, "transforms")
"""Columns every results table has besides parameters and outputs."""

REPLAY_COLUMN_TYPES = {
    "replay.calibrated": pl.Boolean,
    "replay.cpu_overcommit": pl.Float64,
    "replay.memory_overcommit": pl.Float64,
    "replay.job_decision_s": pl.Float64,
    "replay.task_decision_s": pl.Float64,
    "replay.schedulers": pl.Int64,
    "replay.optimistic": pl.Boolean,
    "replay.supervision": pl.String,
}
"""Column type of each of :data:`REPLAY_COLUMNS`."""


def value_dtype(values: Sequence[Any]) -> pl.DataType:
    """Return the column type for ``values`` by an explicit rule.

    All booleans: Boolean; all whole numbers: Int64; numbers: Float64; anything
    else: String (lists joined with ``+``). Nulls are ignored; an all-null column
    is String.
    """
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return pl.Boolean
    if any(isinstance(value, bool) for value in present):
        return pl.String
    if present and all(isinstance(value, int) for value in present):
        return pl.Int64
    if present and all(isinstance(value, int | float) for value in present):
        return pl.Float64
    return pl.String


def _as_cell(value: Any, dtype: pl.DataType) -> Any:
    if value is None:
        return None
    if dtype == pl.Float64:
        return float(value)
    if dtype == pl.String:
        if isinstance(value, list | tuple):
            return "+".join(str(item) for item in value)
        return str(value)
    return value


def results_table(
    scenarios: Sequence[Scenario],
    outputs: Sequence[Mapping[str, Any]],
    *,
    output_types: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Build the results table of evaluated scenarios.

    Parameters
    ----------
    scenarios
        The scenarios, in order.
    outputs
        Their outputs, in the same order.
    output_types
        Column type of each output; outputs not named here get
        :func:`value_dtype` of their values. Its order is the column order; other
        outputs follow in the order they first appear.

    Raises
    ------
    ScenarioError
        If an output or parameter name clashes with a fixed column.
    """
    if len(scenarios) != len(outputs):
        raise ValueError("one output mapping per scenario is required")
    # A swept seed, policy or recorded replay setting is already in the fixed
    # column of that name.
    parameter_names: list[str] = []
    for scenario in scenarios:
        for name in scenario.parameters:
            if name not in parameter_names and name not in FIXED_COLUMNS:
                parameter_names.append(name)
    output_names = list(output_types or {})
    for row in outputs:
        for name in row:
            if name not in output_names:
                output_names.append(name)
    clashes = set(FIXED_COLUMNS) & (set(parameter_names) | set(output_names))
    clashes |= set(parameter_names) & set(output_names)
    if clashes:
        raise ScenarioError(
            f"column names are used twice: {', '.join(sorted(clashes))}; rename the "
            "outputs or parameters"
        )

    policies = [s.scheduler_policy() for s in scenarios]
    settings = [recorded_values(policy) for policy in policies]
    columns: dict[str, list[Any]] = {
        "scenario": [s.name for s in scenarios],
        **{
            name: [s.parameters.get(name) for s in scenarios]
            for name in parameter_names
        },
        "seed": [s.seed for s in scenarios],
        "policy": [policy.name for policy in policies],
        "replay.calibrated": [s.calibrated for s in scenarios],
        **{
            f"replay.{name}": [row[name] for row in settings]
            for name in RECORDED_SETTINGS
        },
        "transforms": [s.describe() for s in scenarios],
        **{name: [row.get(name) for row in outputs] for name in output_names},
    }
    schema: dict[str, pl.DataType] = {}
    for name, values in columns.items():
        if name in ("scenario", "policy", "transforms"):
            schema[name] = pl.String
        elif name == "seed":
            schema[name] = pl.Int64
        elif name in REPLAY_COLUMN_TYPES:
            schema[name] = REPLAY_COLUMN_TYPES[name]
        elif output_types and name in output_types:
            schema[name] = output_types[name]
        else:
            schema[name] = value_dtype(values)
    data = {
        name: [_as_cell(value, schema[name]) for value in values]
        for name, values in columns.items()
    }
    return pl.DataFrame(data, schema=schema)


def run_sweep(
    base: Any,
    scenarios: Sequence[Scenario],
    evaluation: Evaluation,
    *,
    runner: Any | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Evaluate every scenario and return the results table.

    Parameters
    ----------
    base
        What every scenario starts from (usually a
        :class:`~muosm_perf.whatif.base.WhatIfBase`).
    scenarios
        The scenarios; their names must differ.
    evaluation
        Function of (base, scenario) returning outputs by name, such as
        :class:`~muosm_perf.whatif.evaluate.ReplayEvaluation`. If it has a
        ``check(base, scenarios)`` method, that runs first, and its
        ``output_types()``, if any, set the output columns' types.
    runner
        A runner from :func:`~muosm_perf.whatif.execution.open_runner` holding
        the same base and evaluation; None runs in this process.
    progress
        Show a progress bar on standard error.

    Raises
    ------
    ScenarioError
        On duplicate names, a scenario the check rejects, or a failed evaluation.
    """
    names = [scenario.name for scenario in scenarios]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ScenarioError(
            f"scenario names must differ; repeated: {', '.join(duplicates)}"
        )
    check = getattr(evaluation, "check", None)
    if check is not None:
        check(base, scenarios)

    began = time.perf_counter()
    own_runner = runner is None
    active = LocalRunner(base, evaluation, workers=0) if own_runner else runner
    try:
        outputs = active.run(scenarios, progress=progress)
    finally:
        if own_runner:
            active.close()
    logger.info(
        "evaluated %d scenarios in %.1f s on %s",
        len(scenarios),
        time.perf_counter() - began,
        active.description,
    )
    types = getattr(evaluation, "output_types", None)
    return results_table(
        scenarios, outputs, output_types=types() if types is not None else None
    )
