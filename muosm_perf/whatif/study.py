"""Run a whole study from a scenario file: its sweep and its capacity search.

:func:`run_study` is what ``muosm whatif`` runs; scripts can call it with a
:class:`~muosm_perf.whatif.scenario_file.ScenarioFile` built in Python too.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import polars as pl

from muosm_perf import __version__
from muosm_perf.errors import ScenarioError
from muosm_perf.model.store import TraceStore
from muosm_perf.traces import registry
from muosm_perf.whatif.base import WhatIfBase, load_base
from muosm_perf.whatif.execution import open_runner
from muosm_perf.whatif.scenario_file import BaseSpec, ScenarioFile
from muosm_perf.whatif.search import SearchResult, find_max_load, find_min_machines
from muosm_perf.whatif.sweep import run_sweep

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    """The results of a study.

    Attributes
    ----------
    table
        The sweep's results table (None if the study only searches).
    search
        The capacity search's result (None if there is none).
    facts
        Inputs, runner, versions and timing, for the record (not in ``table``,
        which stays identical from run to run).
    """

    table: pl.DataFrame | None
    search: SearchResult | None
    facts: dict[str, Any] = field(default_factory=dict)


def resolve_base(
    spec: BaseSpec,
    *,
    store: str | Path | None = None,
    trace: str | Path | None = None,
    source_format: str | None = None,
    ingest_into: str | Path | None = None,
    progress: bool = False,
) -> TraceStore:
    """Open the study's store, ingesting a trace folder first if that is the base.

    A store or trace given here replaces the file's base.

    Parameters
    ----------
    spec
        The file's base.
    store, trace, source_format
        Command-line replacements for the file's base.
    ingest_into
        Folder to ingest a trace into; required when the base is a trace.
    progress
        Show the reader's progress bars.

    Raises
    ------
    ScenarioError
        If no base is given, or both a store and a trace are.
    """
    if store is not None and trace is not None:
        raise ScenarioError("give either a store or a trace folder, not both")
    if store is None and trace is None:
        store, trace = spec.store, spec.trace
    if store is not None:
        return TraceStore(store)
    if trace is None:
        raise ScenarioError(
            "the study has no base; set base.store or base.trace in the file, or "
            "give --store or --trace",
            key="base",
        )
    if ingest_into is None:
        raise ScenarioError("a trace base needs a folder to ingest into")
    fmt = source_format or spec.format
    logger.info("ingesting %s (%s) into %s", trace, fmt, ingest_into)
    return registry.ingest(fmt, trace, Path(ingest_into), progress=progress)


def needs_tables(study: ScenarioFile) -> bool:
    """Return whether any scenario of the study rewrites canonical tables."""
    scenarios = [*study.scenarios, study.template]
    return any(t.acts_on == "tables" for s in scenarios for t in s.transforms)


def run_study(
    study: ScenarioFile,
    store: TraceStore,
    *,
    workers: int | None = None,
    dask: str | None = None,
    progress: bool = False,
    base: WhatIfBase | None = None,
) -> StudyResult:
    """Run the study's sweep and search on ``store``.

    Parameters
    ----------
    study
        The parsed scenario file.
    store
        The base store.
    workers
        Worker processes (or local Dask workers); 0 runs in this process, None
        uses every CPU.
    dask
        A Dask scheduler address, or ``local``; None runs local processes.
    progress
        Show progress bars on standard error.
    base
        A base already loaded from ``store`` (loaded here when None).
    """
    started = time.perf_counter()
    if base is None:
        base = load_base(
            store,
            grid_step_s=study.base.grid_step_s,
            unscheduled=study.base.unscheduled,
            keep_tables=needs_tables(study),
        )
    prepared_s = time.perf_counter() - started
    evaluation = study.evaluation
    try:
        evaluation.check(base, [*study.scenarios, study.template])
    except ScenarioError as error:
        raise error.located(path=study.path) from None

    table = None
    result = None
    with open_runner(base, evaluation, workers=workers, dask=dask) as runner:
        began = time.perf_counter()
        if study.scenarios:
            table = run_sweep(
                base, study.scenarios, evaluation, runner=runner, progress=progress
            )
        sweep_s = time.perf_counter() - began
        began = time.perf_counter()
        if study.search is not None:
            spec = study.search
            search = find_min_machines if spec.kind == "min_machines" else find_max_load
            result = search(
                base,
                evaluation,
                objective=spec.objective,
                threshold=spec.threshold,
                template=study.template,
                runner=runner,
                progress=progress,
                **spec.options,
            )
        search_s = time.perf_counter() - began
        runner_description = runner.description

    policy = study.template.scheduler_policy()
    facts = {
        "study": study.name,
        "scenario file": str(study.path) if study.path else None,
        "store": str(store.path),
        "trace format": store.source_format,
        "processes replayed": int(base.prepared.inputs.processes),
        "machines present": base.present_machines,
        "scenarios": len(study.scenarios),
        "seed": str(study.template.seed),
        "replay policy": policy.name,
        "replay settings": ", ".join(
            f"{name}={value}"
            for name, value in policy.describe().items()
            if name not in ("name", "seed")
        ),
        "bus settings": ", ".join(
            f"{name}={value}"
            for name, value in sorted((study.template.bus or {}).items())
        )
        or "defaults",
        "calibrated": study.template.calibrated,
        "never-scheduled attempts": base.unscheduled,
        "runner": runner_description,
        "base preparation s": round(prepared_s, 2),
        "sweep s": round(sweep_s, 2),
        "search s": round(search_s, 2),
        "muosm-perf": __version__,
        "polars": pl.__version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
    }
    return StudyResult(table=table, search=result, facts=facts)
