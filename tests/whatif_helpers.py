"""A small evaluation for testing the what-if machinery without the replay.

It lives in an importable module (not a test file) because worker processes
started with ``spawn`` and Dask workers import it by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

from muosm_perf.errors import ScenarioError
from muosm_perf.model.store import TraceStore
from muosm_perf.traces.google2011 import ingest_google_2011
from muosm_perf.traces.synthetic import generate_google_2011
from muosm_perf.whatif.scenario import Scenario

LOADS_IN_THIS_PROCESS = {"count": 0}
"""How many times a :class:`ToyBase` was unpickled in this process."""


@dataclass
class ToyBase:
    """A cluster of ``machines`` identical servers with an offered load in Erlangs."""

    machines: int
    offered_load: float

    @property
    def present_machines(self) -> int:
        return self.machines

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        LOADS_IN_THIS_PROCESS["count"] += 1


def _parameters(base: ToyBase, scenario: Scenario) -> tuple[float, float]:
    machines = float(base.machines)
    load = base.offered_load
    for transform in scenario.transforms:
        values = transform.parameters()
        if transform.kind == "resize_machines":
            if values["count"] is not None:
                machines = float(values["count"])
            elif values["fraction"] is not None:
                machines = float(np.rint(values["fraction"] * base.machines))
            else:
                machines = float(base.machines - values["remove"])
        elif transform.kind == "scale_load":
            load *= values["factor"]
    return machines, load


def toy_evaluation(base: ToyBase, scenario: Scenario) -> dict:
    """Return a utilization, a noisy delay and the worker's payload loads.

    The delay is ``load / (machines - load)`` (a rough M/M/c wait shape), or
    1e6 when the cluster is saturated, plus noise drawn from the scenario seed.
    """
    machines, load = _parameters(base, scenario)
    rng = np.random.default_rng(scenario.seed)
    spare = machines - load
    delay = load / spare if spare > 0 else 1e6
    return {
        "utilization": load / machines if machines > 0 else None,
        "delay_s": delay + float(rng.uniform(0.0, 1e-3)),
        "payload_loads": LOADS_IN_THIS_PROCESS["count"],
        "worker_pid": os.getpid(),
    }


def failing_evaluation(base: ToyBase, scenario: Scenario) -> dict:
    """Raise a ScenarioError for a scenario named ``bad``, else evaluate."""
    if scenario.name == "bad":
        raise ScenarioError("the toy model rejects this scenario")
    return toy_evaluation(base, scenario)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> TraceStore:
    """A store of a synthetic three-hour Google 2011 trace on 40 machines."""
    folder = tmp_path_factory.mktemp("synthetic")
    trace = generate_google_2011(
        folder / "trace", machines=40, duration_s=3 * 3600, seed=1
    )
    return ingest_google_2011(trace, folder / "store")
