"""What-if capacity analysis: scenarios, sweeps, capacity search, local or Dask runs.

A study starts from a base (:func:`load_base`: a store's replay inputs, prepared
once) and describes scenarios as transforms of it (:class:`ResizeMachines`,
:class:`RemovePlatform`, :class:`ScaleLoad`, a policy, bus settings).
:class:`ReplayEvaluation` evaluates them through a runner (:func:`open_runner`:
local processes or a Dask cluster), and :func:`run_sweep` gathers one results
table. :func:`find_min_machines` and :func:`find_max_load` search for the fewest
machines or the most load that meet an objective. Scenario files in TOML
(:func:`load_scenario_file`) describe a whole study for ``muosm whatif``.
"""

from muosm_perf.whatif.base import StoreTables, WhatIfBase, load_base
from muosm_perf.whatif.evaluate import ReplayEvaluation, apply_scenario
from muosm_perf.whatif.execution import DaskRunner, LocalRunner, open_runner
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.machines import RemovePlatform, ResizeMachines
from muosm_perf.whatif.outputs import DEFAULT_OUTPUTS
from muosm_perf.whatif.scenario import Scenario, expand_sweep
from muosm_perf.whatif.scenario_file import load_scenario_file, parse_scenario_document
from muosm_perf.whatif.search import (
    SearchResult,
    bisect_threshold,
    find_max_load,
    find_min_machines,
)
from muosm_perf.whatif.study import StudyResult, run_study
from muosm_perf.whatif.sweep import results_table, run_sweep
from muosm_perf.whatif.transforms import TRANSFORMS, Transform

__all__ = [
    "DEFAULT_OUTPUTS",
    "TRANSFORMS",
    "DaskRunner",
    "LocalRunner",
    "RemovePlatform",
    "ReplayEvaluation",
    "ResizeMachines",
    "ScaleLoad",
    "Scenario",
    "SearchResult",
    "StoreTables",
    "StudyResult",
    "Transform",
    "WhatIfBase",
    "apply_scenario",
    "bisect_threshold",
    "expand_sweep",
    "find_max_load",
    "find_min_machines",
    "load_base",
    "load_scenario_file",
    "open_runner",
    "parse_scenario_document",
    "results_table",
    "run_study",
    "run_sweep",
]
