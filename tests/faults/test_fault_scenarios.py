"""Failure scenarios: thinned, multiplied and added outages of machines."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from fault_tables import cell_events

from muosm_perf.analysis.outages import (
    ObservationWindow,
    cell_intervals,
    machine_summary,
    observation_window,
)
from muosm_perf.errors import ParameterError
from muosm_perf.model import schema
from muosm_perf.whatif.fault_scenarios import (
    OUTAGES,
    events_with_outages,
    fail_fault_cell,
    merge_outages,
    observed_outages,
    scale_failure_rate,
)

WINDOW = ObservationWindow(start_us=0, end_us=1_000_000_000)  # 0-1000 s


def cells_table(
    platforms: dict[int, str], first_seen_s: dict[int, float] | None = None
):
    first_seen_s = first_seen_s or {}
    return pl.DataFrame(
        {
            "cell_id": list(platforms),
            "platform": list(platforms.values()),
            "domain": [None] * len(platforms),
            "first_seen_us": [
                None if c not in first_seen_s else round(first_seen_s[c] * 1e6)
                for c in platforms
            ],
            "first_seen_before_window": [c not in first_seen_s for c in platforms],
        },
        schema={
            "cell_id": pl.Int64,
            "platform": pl.String,
            "domain": pl.String,
            "first_seen_us": pl.Int64,
            "first_seen_before_window": pl.Boolean,
        },
    )


def outages(rows):
    return pl.DataFrame(
        {
            "cell_id": [r[0] for r in rows],
            "start_us": [r[1] for r in rows],
            "end_us": [r[2] for r in rows],
        },
        schema=OUTAGES,
    )


EVENTS = cell_events(
    [
        (None, 1, "ADD"),
        (None, 2, "ADD"),
        (100, 1, "REMOVE"),
        (150, 1, "ADD"),
        (200, 2, "UPDATE"),
        (600, 2, "REMOVE"),
        (700, 3, "ADD"),
    ]
)
CELLS = cells_table({1: "a", 2: "a", 3: "b"}, {3: 700.0})


def test_merge_overlapping_and_touching():
    merged = merge_outages(
        outages(
            [
                (1, 10, 20),
                (1, 15, 30),
                (1, 30, 40),
                (1, 50, 60),
                (2, 5, None),
                (2, 8, 9),
            ]
        )
    )
    assert merged.rows() == [(1, 10, 40), (1, 50, 60), (2, 5, None)]


def test_merge_empty():
    assert merge_outages(outages([])).height == 0


def test_observed_outages():
    assert observed_outages(EVENTS, CELLS, WINDOW).rows() == [
        (1, 100_000_000, 150_000_000),
        (2, 600_000_000, None),
    ]


def test_rebuild_with_observed_outages_keeps_history():
    rebuilt = events_with_outages(EVENTS, observed_outages(EVENTS, CELLS, WINDOW))
    assert rebuilt.schema == schema.CELL_EVENTS
    original = cell_intervals(EVENTS, CELLS, WINDOW).drop("platform", "domain")
    again = cell_intervals(rebuilt, CELLS, WINDOW).drop("platform", "domain")
    assert again.equals(original)


def test_generated_add_carries_capacity():
    events = cell_events([(None, 1, "ADD"), (300, 1, "UPDATE")]).with_columns(
        pl.when(pl.col("event") == "UPDATE")
        .then(0.25)
        .otherwise(pl.col("cpu_capacity"))
        .alias("cpu_capacity")
    )
    rebuilt = events_with_outages(events, outages([(1, 400_000_000, 500_000_000)]))
    add = rebuilt.filter((pl.col("event") == "ADD") & pl.col("time_us").is_not_null())
    assert add["time_us"].to_list() == [500_000_000]
    assert add["cpu_capacity"].to_list() == [0.25]
    assert add["source_code"].to_list() == [-1]


def test_factor_one_reproduces_observed():
    scenario = scale_failure_rate(
        EVENTS, CELLS, WINDOW, 1.0, rng=np.random.default_rng(0)
    )
    assert observed_outages(scenario, CELLS, WINDOW).equals(
        observed_outages(EVENTS, CELLS, WINDOW)
    )


def test_factor_zero_removes_outages():
    scenario = scale_failure_rate(
        EVENTS, CELLS, WINDOW, 0.0, rng=np.random.default_rng(0)
    )
    assert (scenario["event"] == "REMOVE").sum() == 0
    assert (scenario["event"] == "ADD").sum() == 3
    assert (scenario["event"] == "UPDATE").sum() == 1


def test_negative_factor_raises():
    with pytest.raises(ParameterError, match="factor must be finite and non-negative"):
        scale_failure_rate(EVENTS, CELLS, WINDOW, -1.0, rng=np.random.default_rng(0))


def test_fail_platform_takes_machines_down():
    scenario = fail_fault_cell(
        EVENTS,
        CELLS,
        WINDOW,
        level="platform",
        key="a",
        at_us=300_000_000,
        duration_s=100.0,
    )
    assert observed_outages(scenario, CELLS, WINDOW).rows() == [
        (1, 100_000_000, 150_000_000),
        (1, 300_000_000, 400_000_000),
        (2, 300_000_000, 400_000_000),
        (2, 600_000_000, None),
    ]


def test_fail_cell_skips_absent_machines():
    scenario = fail_fault_cell(
        EVENTS,
        CELLS,
        WINDOW,
        level="cell",
        key=None,
        at_us=300_000_000,
        duration_s=None,
    )
    down = observed_outages(scenario, CELLS, WINDOW)
    # Machine 3 joins at 700 s, after the failure, so it is not taken down.
    assert down.rows() == [
        (1, 100_000_000, 150_000_000),
        (1, 300_000_000, None),
        (2, 300_000_000, None),
    ]


def test_fail_unknown_level_raises():
    with pytest.raises(ParameterError, match="level must be one of"):
        fail_fault_cell(
            EVENTS, CELLS, WINDOW, level="rack", key="x", at_us=0, duration_s=1.0
        )


def test_fail_empty_fault_cell_raises():
    with pytest.raises(ParameterError, match="no machine of platform 'zzz'"):
        fail_fault_cell(
            EVENTS,
            CELLS,
            WINDOW,
            level="platform",
            key="zzz",
            at_us=0,
            duration_s=1.0,
        )


def test_fail_negative_duration_raises():
    with pytest.raises(ParameterError, match="duration_s must be finite"):
        fail_fault_cell(
            EVENTS, CELLS, WINDOW, level="cell", key=None, at_us=0, duration_s=-5.0
        )


@pytest.fixture(scope="module")
def sample_tables(google_2011_store):
    window = observation_window(google_2011_store)
    return (
        google_2011_store.read("cell_events"),
        google_2011_store.read("cells"),
        window,
    )


def test_sample_factor_one_is_identity(sample_tables):
    events, cells, window = sample_tables
    scenario = scale_failure_rate(
        events, cells, window, 1.0, rng=np.random.default_rng(1)
    )
    assert observed_outages(scenario, cells, window).equals(
        observed_outages(events, cells, window)
    )


def test_sample_thinning_keeps_about_half(sample_tables):
    events, cells, window = sample_tables
    observed = observed_outages(events, cells, window).height
    scenario = scale_failure_rate(
        events, cells, window, 0.5, rng=np.random.default_rng(2)
    )
    kept = observed_outages(scenario, cells, window).height
    # Binomial(n, 1/2): standard deviation sqrt(n) / 2, about 47 for n = 8,957.
    assert abs(kept - observed / 2) < 4 * np.sqrt(observed) / 2


def test_sample_doubling_keeps_platform_mix(sample_tables):
    events, cells, window = sample_tables
    scenario = scale_failure_rate(
        events, cells, window, 2.0, rng=np.random.default_rng(3)
    )
    before = machine_summary(cell_intervals(events, cells, window), window)
    after = machine_summary(cell_intervals(scenario, cells, window), window)
    observed = before["removals"].sum()
    doubled = after["removals"].sum()
    # Copies that overlap an outage of their machine merge with it.
    assert 1.9 * observed < doubled <= 2 * observed
    for platform in before["platform"].unique().to_list():
        was = before.filter(pl.col("platform") == platform)["removals"].sum()
        now = after.filter(pl.col("platform") == platform)["removals"].sum()
        assert 1.8 * was <= now <= 2 * was, platform
