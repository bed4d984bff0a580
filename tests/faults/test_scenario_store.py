"""Scenario stores: a trace store with replaced tables."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from muosm_perf.analysis.faults import fault_cell_summary, load_fault_history
from muosm_perf.errors import ParameterError
from muosm_perf.whatif.fault_scenarios import scale_failure_rate
from muosm_perf.whatif.fault_workload import remove_failure_effects
from muosm_perf.whatif.scenario_store import write_scenario_store


def test_scenario_store_replaces_tables(google_2011_store, tmp_path):
    history = load_fault_history(google_2011_store)
    processes, _ = remove_failure_effects(
        google_2011_store.read("processes"), history.removals
    )
    events = scale_failure_rate(
        google_2011_store.read("cell_events"),
        google_2011_store.read("cells"),
        history.window,
        0.0,
        rng=np.random.default_rng(0),
    )
    scenario = write_scenario_store(
        google_2011_store,
        tmp_path / "scenario",
        description="no failures",
        processes=processes,
        cell_events=events,
    )
    assert scenario.manifest["scenario"]["description"] == "no failures"
    assert scenario.manifest["scenario"]["replaced_tables"] == [
        "cell_events",
        "cells",
        "processes",
    ]
    assert scenario.manifest["window_us"] == google_2011_store.manifest["window_us"]
    assert scenario.read("processes").equals(processes)
    assert scenario.read("cells")["removes"].sum() == 0
    assert fault_cell_summary(scenario)["removals"] == 0
    # Untouched tables are copied row for row.
    assert scenario.read("transitions").equals(google_2011_store.read("transitions"))


def test_scenario_store_keeps_unreplaced(google_2011_store, tmp_path):
    scenario = write_scenario_store(
        google_2011_store, tmp_path / "same", description="nothing replaced"
    )
    assert scenario.manifest["scenario"]["replaced_tables"] == []
    assert scenario.read("cells").equals(google_2011_store.read("cells"))


def test_scenario_store_rejects_wrong_schema(google_2011_store, tmp_path):
    wrong = google_2011_store.read("processes").with_columns(pl.col("attempt") * 1.0)
    with pytest.raises(ParameterError, match="replacement processes table"):
        write_scenario_store(
            google_2011_store, tmp_path / "x", description="bad", processes=wrong
        )


def test_scenario_store_rejects_own_source(google_2011_store):
    with pytest.raises(ParameterError, match="would replace its source"):
        write_scenario_store(
            google_2011_store, google_2011_store.path, description="loop"
        )
