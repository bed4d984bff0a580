"""Evaluate a scenario: apply its transforms to the base, replay, compute outputs.

Table transforms (``acts_on = "tables"``) apply first, in their order, to the
base's canonical tables, and the replay inputs are prepared again from the result.
Then input transforms apply, in their order, to the prepared inputs. Without table
transforms the base's prepared inputs are used as they are, so a sweep prepares
the store once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from muosm_perf.errors import ScenarioError
from muosm_perf.predict.replay import PreparedReplay, prepare_replay, run_prepared
from muosm_perf.whatif.base import WhatIfBase, machine_table
from muosm_perf.whatif.outputs import (
    DEFAULT_OUTPUTS,
    check_output_name,
    compute_outputs,
    output_dtype,
)
from muosm_perf.whatif.scenario import Scenario
from muosm_perf.whatif.state import ScenarioInputs
from muosm_perf.whatif.transforms import transform_rng

logger = logging.getLogger(__name__)


def apply_scenario(base: WhatIfBase, scenario: Scenario) -> PreparedReplay:
    """Return the replay inputs of ``scenario``: the base with its transforms.

    Raises
    ------
    ScenarioError
        If a table transform is given but the base has no tables (load it with
        ``keep_tables=True``), or a transform cannot apply.
    """
    occurrences: Counter[str] = Counter()

    def rng_factory(transform):
        occurrence = occurrences[transform.kind]
        occurrences[transform.kind] += 1

        def rng(*stream: int):
            return transform_rng(scenario.seed, transform.kind, occurrence, *stream)

        return rng

    table_transforms = [t for t in scenario.transforms if t.acts_on == "tables"]
    input_transforms = [t for t in scenario.transforms if t.acts_on == "inputs"]
    prepared = base.prepared
    machines = base.machines
    if table_transforms:
        if base.tables is None:
            raise ScenarioError(
                f"scenario {scenario.name!r} rewrites canonical tables "
                f"({table_transforms[0].kind}), but the base was loaded without "
                "them; load it with keep_tables=True"
            )
        tables = base.tables
        for transform in table_transforms:
            tables = transform.apply_tables(tables, rng_factory(transform))
        prepared = prepare_replay(
            tables, grid_step_s=base.grid_step_s, unscheduled=base.unscheduled
        )
        machines = machine_table(prepared, tables.read("cells"))

    state = ScenarioInputs(prepared, machines)
    for transform in input_transforms:
        state = transform.apply(state, rng_factory(transform))
    return state.prepared


def check_scenarios(base: WhatIfBase, scenarios: Iterable[Scenario]) -> None:
    """Check every scenario against the base before any replay runs.

    Raises
    ------
    ScenarioError
        Naming the scenario, on an invalid policy or a transform that cannot apply
        to the base (an unknown platform or band, too many machines removed).
    """
    ignored: dict[str, str] = {}
    for scenario in scenarios:
        try:
            policy = scenario.scheduler_policy()
        except ScenarioError as error:
            raise ScenarioError(
                f"scenario {scenario.name!r}: {error.reason}",
                key=error.key,
                value=error.value,
            ) from None
        settings = scenario.replay or {}
        if "refuse_s" in settings and not policy.offers:
            ignored.setdefault("refuse_s applies only with +offers", scenario.name)
        if "candidates" in settings and policy.placement != "sampled":
            ignored.setdefault(
                "candidates applies only to 'sampled' placement", scenario.name
            )
        for position, transform in enumerate(scenario.transforms):
            if transform.acts_on == "tables" and base.tables is None:
                continue
            try:
                transform.check_base(base)
            except ScenarioError as error:
                raise ScenarioError(
                    f"scenario {scenario.name!r}: {error.reason}",
                    key=f"transforms[{position}].{error.key}",
                    value=error.value,
                ) from None

    for message, first in ignored.items():
        logger.warning(
            "replay setting ignored: %s (first in scenario %r)", message, first
        )


@dataclass(frozen=True)
class ReplayEvaluation:
    """Evaluate a scenario by replaying it and computing named outputs.

    Instances are picklable, so the same evaluation runs in this process, in
    worker processes and on Dask workers.

    Attributes
    ----------
    outputs
        Output names (:mod:`muosm_perf.whatif.outputs`).
    """

    outputs: tuple[str, ...] = DEFAULT_OUTPUTS

    def __post_init__(self) -> None:
        if not self.outputs:
            raise ScenarioError("name at least one output", key="outputs", value=[])
        for position, name in enumerate(self.outputs):
            try:
                check_output_name(name)
            except ScenarioError as error:
                raise error.located(prefix=f"outputs[{position}]") from None
        duplicated = [n for n, c in Counter(self.outputs).items() if c > 1]
        if duplicated:
            raise ScenarioError(
                f"outputs are named twice: {', '.join(duplicated)}",
                key="outputs",
                value=list(self.outputs),
            )

    def output_types(self) -> dict[str, pl.DataType]:
        """Return the column type of each output."""
        return {name: output_dtype(name) for name in self.outputs}

    def check(self, base: WhatIfBase, scenarios: Iterable[Scenario]) -> None:
        """Check scenarios against the base (see :func:`check_scenarios`)."""
        check_scenarios(base, scenarios)

    def __call__(self, base: WhatIfBase, scenario: Scenario) -> dict[str, Any]:
        """Replay ``scenario`` on ``base`` and return its outputs.

        The replay runs with :meth:`Scenario.scheduler_policy
        <muosm_perf.whatif.scenario.Scenario.scheduler_policy>`: by default the
        calibrated policy.
        """
        prepared = apply_scenario(base, scenario)
        result = run_prepared(
            prepared, policy=scenario.scheduler_policy(), seed=scenario.seed
        )
        logger.debug(
            "scenario %s: replayed %d processes in %.2f s",
            scenario.name,
            prepared.inputs.processes,
            result.kernel_seconds,
        )
        return compute_outputs(
            self.outputs,
            result,
            prepared,
            bus=scenario.bus_config(),
            seed=scenario.seed,
        )
