"""Capacity search: bisection against brute force, monotonicity checks."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whatif_helpers import ToyBase, toy_evaluation

from muosm_perf.errors import ParameterError, ScenarioError
from muosm_perf.whatif.evaluate import ReplayEvaluation
from muosm_perf.whatif.execution import LocalRunner
from muosm_perf.whatif.load import ScaleLoad
from muosm_perf.whatif.scenario import Scenario
from muosm_perf.whatif.search import bisect_threshold, find_max_load, find_min_machines


class Counted:
    """An objective function that records every batch it is given."""

    def __init__(self, function):
        self.function = function
        self.batches: list[list[float]] = []

    def __call__(self, values):
        self.batches.append(list(values))
        return [self.function(v) for v in values]

    @property
    def evaluations(self) -> int:
        return sum(len(batch) for batch in self.batches)


def brute_min(function, low, high, threshold):
    passing = [v for v in range(low, high + 1) if function(v) <= threshold]
    return min(passing) if passing else None


@given(
    boundary=st.integers(min_value=1, max_value=999),
    per_round=st.integers(min_value=1, max_value=4),
)
@settings(max_examples=60, deadline=None)
def test_min_search_matches_brute_force(boundary, per_round):
    def objective(machines):
        return 100.0 if machines < boundary else 1.0

    counted = Counted(objective)
    found = bisect_threshold(
        counted,
        low=0,
        high=1000,
        threshold=10.0,
        goal="min",
        integer=True,
        points_per_round=per_round,
        check_points=0,
    )
    assert found["answer"] == brute_min(objective, 0, 1000, 10.0)
    assert found["status"] == "found"
    assert found["monotone"]
    # Each round shrinks the bracket by per_round + 1 (rounding aside).
    assert len(counted.batches) <= 2 + 11


def test_parallel_rounds_need_fewer_rounds():
    def objective(machines):
        return 100.0 if machines < 377 else 1.0

    serial = Counted(objective)
    parallel = Counted(objective)
    common = {"low": 0, "high": 1000, "threshold": 10.0, "goal": "min", "integer": True}
    bisect_threshold(serial, points_per_round=1, check_points=0, **common)
    bisect_threshold(parallel, points_per_round=3, check_points=0, **common)
    assert len(parallel.batches) < len(serial.batches)
    assert all(len(batch) <= 3 for batch in parallel.batches[1:])


def test_max_search_on_a_continuous_parameter():
    def objective(load):
        return 1.0 / max(3.3 - load, 1e-9)

    found = bisect_threshold(
        objective_list(objective),
        low=1.0,
        high=4.0,
        threshold=2.0,
        goal="max",
        tolerance=0.01,
    )
    # 1 / (3.3 - x) <= 2 holds for x <= 2.8.
    assert found["status"] == "found"
    assert 2.79 <= found["answer"] <= 2.8


def objective_list(function):
    return lambda values: [function(v) for v in values]


def test_statuses_at_the_bounds():
    def never(_):
        return 100.0

    def always(_):
        return 1.0

    none = bisect_threshold(
        objective_list(never), low=0, high=10, threshold=5.0, goal="min", integer=True
    )
    assert none["status"] == "none_meet"
    assert none["answer"] is None
    every = bisect_threshold(
        objective_list(always), low=0, high=10, threshold=5.0, goal="min", integer=True
    )
    assert every["status"] == "all_meet"
    assert every["answer"] == 0


def test_widening_finds_an_answer_above_high():
    def objective(machines):
        return 100.0 if machines < 33 else 1.0

    found = bisect_threshold(
        objective_list(objective),
        low=0,
        high=10,
        threshold=5.0,
        goal="min",
        integer=True,
        widen=3,
    )
    assert found["answer"] == 33
    assert found["high"] == 40
    assert found["notes"][:2] == [
        "widened the upper bound to 20",
        "widened the upper bound to 40",
    ]


def test_non_monotone_objective_gives_the_conservative_answer(caplog):
    # Meets the SLO from 300 on, except a bad pocket at 700 to 720.
    def objective(machines):
        if 700 <= machines <= 720:
            return 50.0
        return 100.0 if machines < 300 else 1.0

    with caplog.at_level(logging.WARNING, logger="muosm_perf.whatif.search"):
        found = bisect_threshold(
            objective_list(objective),
            low=0,
            high=1000,
            threshold=10.0,
            goal="min",
            integer=True,
            check_points=99,
        )
    assert not found["monotone"]
    assert found["bisection_answer"] == 300
    assert found["violations"]
    assert all(objective(bad) > 10 for _, bad in found["violations"])
    # The smallest evaluated count above every failing evaluated one.
    points = found["points"]
    failing = points.filter(~points["meets"])["value"].max()
    assert found["answer"] == points.filter(points["value"] > failing)["value"].min()
    assert found["answer"] > 720
    assert "monotonicity violated" in caplog.text


def test_violation_missed_without_check_points():
    def objective(machines):
        if 700 <= machines <= 720:
            return 50.0
        return 100.0 if machines < 300 else 1.0

    found = bisect_threshold(
        objective_list(objective),
        low=0,
        high=1000,
        threshold=10.0,
        goal="min",
        integer=True,
        check_points=0,
    )
    # The bisection alone never looks above 300 here: the check points matter.
    assert found["monotone"]
    assert found["answer"] == 300


def test_undefined_objective_is_an_error():
    with pytest.raises(ScenarioError, match="the objective is undefined"):
        bisect_threshold(
            objective_list(lambda _: None),
            low=0,
            high=10,
            threshold=1.0,
            goal="min",
            integer=True,
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"low": 5, "high": 5}, "low must be below high"),
        ({"low": 0, "high": 10, "tolerance": 0}, "tolerance must be > 0"),
        ({"low": 0.5, "high": 10, "integer": True}, "must be whole numbers"),
        ({"low": 0, "high": 10, "goal": "most"}, "goal must be 'min' or 'max'"),
    ],
)
def test_bad_search_arguments(options, message):
    arguments = {"threshold": 1.0, "goal": "min", **options}
    with pytest.raises(ParameterError, match=message):
        bisect_threshold(objective_list(lambda _: 0.0), **arguments)


BASE = ToyBase(machines=100, offered_load=60.0)


def test_find_min_machines_with_the_toy_model():
    # delay = 60 / (m - 60) plus up to 1e-3 of noise is <= 1.501 from m = 100 on.
    result = find_min_machines(
        BASE, toy_evaluation, objective="delay_s", threshold=1.501, low=0, high=400
    )
    assert result.answer == 100
    assert result.status == "found"
    assert result.monotone
    assert result.table["capacity_search.count"].to_list()[:2] == [0, 400]
    assert result.points["value"].to_list() == sorted(result.points["value"].to_list())
    record = result.as_dict()
    assert record["answer"] == 100
    assert record["evaluations"] == result.points.height


def test_find_min_machines_in_worker_processes():
    with LocalRunner(BASE, toy_evaluation, workers=2) as runner:
        result = find_min_machines(
            BASE,
            toy_evaluation,
            objective="delay_s",
            threshold=1.501,
            high=400,
            runner=runner,
        )
    assert result.answer == 100


def test_find_max_load_with_the_toy_model():
    template = Scenario(name="toy", transforms=(ScaleLoad(factor=1.0),))
    # Offered load 60 x f on 100 machines: 60 f / (100 - 60 f) <= 1 up to f = 5/6.
    result = find_max_load(
        BASE,
        toy_evaluation,
        objective="delay_s",
        threshold=1.0,
        template=template,
        low=0.5,
        high=1.5,
        tolerance=0.01,
    )
    assert result.status == "found"
    assert 0.82 <= result.answer <= 5 / 6
    assert result.parameter == "load_factor"


def test_objective_must_be_an_output():
    with pytest.raises(ScenarioError, match="objective = 'delay_s': the objective"):
        find_min_machines(
            BASE,
            ReplayEvaluation(outputs=("machines",)),
            objective="delay_s",
            threshold=1.0,
        )
