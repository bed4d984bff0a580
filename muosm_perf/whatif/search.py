"""Capacity search: the fewest machines, or the most load, that meet an objective.

A service-level objective (SLO) is met when an output is at or below a threshold,
for example ``production_delay_p95_s <= 10``. The searches bisect over replays:

- :func:`find_min_machines`: the smallest machine count that meets the SLO;
- :func:`find_max_load`: the largest load factor that still meets it.

Both rest on one assumption: *monotonicity*. Meeting the SLO at some machine count
implies meeting it at every larger count (at some load, at every smaller load).
Common random numbers make it plausible. All scenarios of a search share one
seed, so the machines kept at a smaller count are a subset of those kept at a
larger one. Likewise the jobs of a smaller load factor are a subset of those of a
larger one. It
is still not guaranteed. Greedy list scheduling has anomalies, where more
resources give a worse schedule (R. L. Graham, "Bounds on multiprocessing timing
anomalies", SIAM J. Appl. Math. 17(2), 1969), and a first-fit placement on fewer
machines can happen to pack better.

So the search tests the assumption. After bisecting, it evaluates ``check_points``
more values on the side that should meet the SLO, and it then looks at every value
it evaluated. A value that fails beyond one that meets (a larger machine count
that fails, or a smaller load that fails) is a *violation*. With violations,
``monotone`` is false, a warning is logged, and ``answer`` becomes the
*conservative* answer: the value beyond which every evaluated point meets the SLO.
The bisection's own crossing point stays in ``bisection_answer``. Neither is
proven optimal then; evaluate a finer sweep around them.

Each round evaluates ``points_per_round`` values at once (by default one per
worker of the runner), so with k workers the bracket shrinks k + 1 times per round
instead of twice.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from muosm_perf.errors import ParameterError, ScenarioError
from muosm_perf.whatif.execution import Evaluation, LocalRunner
from muosm_perf.whatif.load import LOAD_METHODS, ScaleLoad
from muosm_perf.whatif.machines import MACHINE_ORDERS, ResizeMachines
from muosm_perf.whatif.scenario import Scenario
from muosm_perf.whatif.sweep import results_table

logger = logging.getLogger(__name__)

SEARCH_STATUSES = ("found", "all_meet", "none_meet")
"""Outcomes of a search.

``found``: the SLO changes between the bounds. ``all_meet``: it is met even at the
bound that should fail, which is then the answer. ``none_meet``: it is not met even
at the bound that should pass, and the answer is None.
"""

MACHINE_LABEL = "capacity_search"
"""Label of the machine transform a machine search adds; its results table has the
column ``capacity_search.count``."""

LOAD_LABEL = "load_search"
"""Label of the load transform a load search adds (column ``load_search.factor``)."""

POINTS = pl.Schema(
    {
        "value": pl.Float64,
        "objective": pl.Float64,
        "meets": pl.Boolean,
        "round": pl.Int64,
    }
)
"""Schema of :attr:`SearchResult.points`."""


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a capacity search.

    Attributes
    ----------
    parameter
        What was searched: ``machines`` or ``load_factor``.
    objective, threshold
        The SLO: ``objective <= threshold``.
    goal
        ``min`` (the smallest value that meets the SLO) or ``max`` (the largest).
    answer
        The value found (see the module documentation); None if no value meets.
    status
        One of :data:`SEARCH_STATUSES`.
    monotone
        False if the evaluated points contradict the monotonicity assumption.
    violations
        Pairs ``(meets, fails)`` of evaluated values in the wrong order.
    bisection_answer
        The bisection's crossing point, equal to ``answer`` when monotone.
    points
        Every evaluated value with its objective, whether it meets the SLO, and
        the round it was evaluated in (:data:`POINTS`), sorted by value.
    table
        The results table of every evaluated scenario, in evaluation order.
    low, high
        The bounds searched; ``high`` after any widening.
    """

    parameter: str
    objective: str
    threshold: float
    goal: str
    answer: float | None
    status: str
    monotone: bool
    violations: list[tuple[float, float]]
    bisection_answer: float | None
    points: pl.DataFrame
    table: pl.DataFrame
    low: float
    high: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result without the tables, ready for JSON."""
        return {
            "parameter": self.parameter,
            "objective": self.objective,
            "threshold": self.threshold,
            "goal": self.goal,
            "answer": self.answer,
            "status": self.status,
            "monotone": self.monotone,
            "violations": [list(pair) for pair in self.violations],
            "bisection_answer": self.bisection_answer,
            "evaluations": self.points.height,
            "low": self.low,
            "high": self.high,
            "notes": list(self.notes),
        }


def _check_bounds(low: float, high: float, integer: bool, tolerance: float) -> None:
    for name, value in (("low", low), ("high", high), ("tolerance", tolerance)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ParameterError(f"{name} must be finite, got {value!r}")
    if not low < high:
        raise ParameterError(f"low must be below high, got low {low!r}, high {high!r}")
    if not tolerance > 0:
        raise ParameterError(f"tolerance must be > 0, got {tolerance!r}")
    if integer and (int(low) != low or int(high) != high):
        raise ParameterError(
            f"low and high must be whole numbers, got {low!r} and {high!r}"
        )


def _interior(a: float, b: float, count: int, integer: bool) -> list[float]:
    lo, hi = min(a, b), max(a, b)
    values = [lo + (hi - lo) * i / (count + 1) for i in range(1, count + 1)]
    if integer:
        values = sorted({round(v) for v in values} - {lo, hi})
        values = [v for v in values if lo < v < hi]
    return values


def bisect_threshold(
    evaluate: Callable[[list[float]], list[float | None]],
    *,
    low: float,
    high: float,
    threshold: float,
    goal: str,
    integer: bool = False,
    tolerance: float = 1.0,
    points_per_round: int = 1,
    check_points: int = 3,
    widen: int = 0,
) -> dict[str, Any]:
    """Search for the boundary of ``objective(value) <= threshold`` by bisection.

    Parameters
    ----------
    evaluate
        Function from a list of values to their objectives, evaluated together
        (for example in parallel).
    low, high
        Bounds of the search.
    threshold
        The SLO is met where the objective is at or below it.
    goal
        ``min``: the smallest value meeting the SLO, assumed met at ``high``
        and beyond; ``max``: the largest, assumed met at ``low`` and below.
    integer
        Search whole numbers only.
    tolerance
        Stop when the bracket is at most this wide (whole numbers: 1 finds the
        exact value).
    points_per_round
        Values evaluated per round.
    check_points
        Values evaluated after the bisection on the side that should meet the SLO,
        to test monotonicity.
    widen
        How many times to double ``high`` when the SLO is not met there (goal
        ``min``) or is still met there (goal ``max``), before giving up.

    Returns
    -------
    dict
        ``answer``, ``status``, ``monotone``, ``violations``,
        ``bisection_answer``, ``points`` (a frame of :data:`POINTS`), ``low``,
        ``high`` and ``notes``.

    Raises
    ------
    ScenarioError
        If an objective is undefined (None or NaN).
    """
    if goal not in ("min", "max"):
        raise ParameterError(f"goal must be 'min' or 'max', got {goal!r}")
    _check_bounds(low, high, integer, tolerance)
    if points_per_round < 1:
        raise ParameterError(f"points_per_round must be >= 1, got {points_per_round!r}")
    evaluated: dict[float, float] = {}
    rounds: dict[float, int] = {}
    notes: list[str] = []

    def run(values: list[float], round_number: int) -> None:
        fresh = [v for v in dict.fromkeys(values) if v not in evaluated]
        if not fresh:
            return
        objectives = evaluate(fresh)
        for value, objective in zip(fresh, objectives, strict=True):
            if objective is None or math.isnan(objective):
                raise ScenarioError(
                    f"the objective is undefined (no sample) at {value:g}; choose an "
                    "objective with data in every scenario",
                    value=objective,
                )
            evaluated[value] = float(objective)
            rounds[value] = round_number

    def meets(value: float) -> bool:
        return evaluated[value] <= threshold

    run([low, high], 0)
    searched_from = low
    round_number = 1
    # For min the SLO must hold at high; for max it must fail there. Otherwise
    # high moves out, and the old high, now known to be on the low side, is the
    # new low.
    while widen > 0 and (not meets(high) if goal == "min" else meets(high)):
        low = high
        high = high * 2 if high > 0 else 1
        notes.append(f"widened the upper bound to {high:g}")
        widen -= 1
        run([high], round_number)
        round_number += 1

    passing_end, failing_end = (high, low) if goal == "min" else (low, high)
    if not meets(passing_end):
        status, answer = "none_meet", None
    elif meets(failing_end):
        status, answer = "all_meet", failing_end
    else:
        status = "found"
        passing, failing = passing_end, failing_end
        limit = max(1, tolerance) if integer else tolerance
        while abs(passing - failing) > limit:
            values = _interior(failing, passing, points_per_round, integer)
            if not values:
                break
            run(values, round_number)
            round_number += 1
            lo, hi = min(passing, failing), max(passing, failing)
            inside = [v for v in evaluated if lo < v < hi]
            good = [v for v in inside if meets(v)]
            if good:
                passing = min(good) if goal == "min" else max(good)
            beyond = [
                v
                for v in inside
                if not meets(v) and ((v < passing) if goal == "min" else (v > passing))
            ]
            if beyond:
                failing = max(beyond) if goal == "min" else min(beyond)
        answer = passing

    bisection_answer = answer
    if status == "found" and check_points > 0:
        side = (answer, high) if goal == "min" else (searched_from, answer)
        run(_interior(side[0], side[1], check_points, integer), round_number)

    ordered = sorted(evaluated)
    violations = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if goal == "min" and meets(first) and not meets(second):
                violations.append((first, second))
            if goal == "max" and not meets(first) and meets(second):
                violations.append((second, first))
    monotone = not violations
    if not monotone and status == "found":
        if goal == "min":
            worst = max(v for v in ordered if not meets(v))
            answer = min(v for v in ordered if v > worst and meets(v))
        else:
            worst = min(v for v in ordered if not meets(v))
            answer = max(v for v in ordered if v < worst and meets(v))
        notes.append(
            f"monotonicity violated at {len(violations)} pairs of evaluated values; "
            f"conservative answer {answer:g} instead of {bisection_answer:g}"
        )
        logger.warning(notes[-1])

    points = pl.DataFrame(
        {
            "value": [float(v) for v in ordered],
            "objective": [evaluated[v] for v in ordered],
            "meets": [meets(v) for v in ordered],
            "round": [rounds[v] for v in ordered],
        },
        schema=POINTS,
    )
    return {
        "answer": answer,
        "status": status,
        "monotone": monotone,
        "violations": violations,
        "bisection_answer": bisection_answer,
        "points": points,
        "low": searched_from,
        "high": high,
        "notes": notes,
    }


def _search(
    base: Any,
    evaluation: Evaluation,
    make_scenario: Callable[[float], Scenario],
    *,
    parameter: str,
    objective: str,
    threshold: float,
    goal: str,
    integer: bool,
    low: float,
    high: float,
    tolerance: float,
    points_per_round: int | None,
    check_points: int,
    widen: int,
    runner: Any | None,
    progress: bool,
) -> SearchResult:
    check_number_threshold(threshold)
    outputs = getattr(evaluation, "outputs", None)
    if outputs is not None and objective not in outputs:
        raise ScenarioError(
            f"the objective is not an output of the evaluation; outputs: "
            f"{', '.join(outputs)}",
            key="objective",
            value=objective,
        )
    own_runner = runner is None
    active = LocalRunner(base, evaluation, workers=0) if own_runner else runner
    per_round = points_per_round or max(1, active.workers)
    scenarios: list[Scenario] = []
    rows: list[dict[str, Any]] = []
    check = getattr(evaluation, "check", None)

    def evaluate(values: list[float]) -> list[float | None]:
        batch = [make_scenario(value) for value in values]
        if check is not None:
            check(base, batch)
        results = active.run(batch, progress=progress, label=f"{parameter} search")
        scenarios.extend(batch)
        rows.extend(results)
        for value, result in zip(values, results, strict=True):
            logger.info(
                "%s %g: %s = %s", parameter, value, objective, result.get(objective)
            )
        return [result.get(objective) for result in results]

    try:
        found = bisect_threshold(
            evaluate,
            low=low,
            high=high,
            threshold=threshold,
            goal=goal,
            integer=integer,
            tolerance=tolerance,
            points_per_round=per_round,
            check_points=check_points,
            widen=widen,
        )
    finally:
        if own_runner:
            active.close()
    types = getattr(evaluation, "output_types", None)
    table = results_table(
        scenarios, rows, output_types=types() if types is not None else None
    )
    answer = found["answer"]
    if integer and answer is not None:
        answer = int(answer)
    bisection = found["bisection_answer"]
    if integer and bisection is not None:
        bisection = int(bisection)
    return SearchResult(
        parameter=parameter,
        objective=objective,
        threshold=float(threshold),
        goal=goal,
        answer=answer,
        status=found["status"],
        monotone=found["monotone"],
        violations=found["violations"],
        bisection_answer=bisection,
        points=found["points"],
        table=table,
        low=found["low"],
        high=found["high"],
        notes=found["notes"],
    )


def check_number_threshold(threshold: float) -> None:
    """Raise ScenarioError unless the threshold is a finite number."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
    ):
        raise ScenarioError("must be a finite number", key="threshold", value=threshold)


def find_min_machines(
    base: Any,
    evaluation: Evaluation,
    *,
    objective: str,
    threshold: float,
    template: Scenario | None = None,
    low: int = 0,
    high: int | None = None,
    order: str = "random",
    tolerance: int = 1,
    points_per_round: int | None = None,
    check_points: int = 3,
    widen: int = 3,
    runner: Any | None = None,
    progress: bool = False,
) -> SearchResult:
    """Find the fewest machines at which ``objective <= threshold``.

    Parameters
    ----------
    base
        A :class:`~muosm_perf.whatif.base.WhatIfBase`.
    evaluation
        An evaluation whose outputs include ``objective``.
    objective, threshold
        The SLO, for example ``"production_delay_p95_s"`` and 10.0 (seconds).
    template
        Scenario whose transforms apply before the machine count is set (for
        example a doubled load); its seed selects the machines kept.
    low, high
        Machine counts searched; ``high`` defaults to the machines present. When
        the SLO fails at ``high``, it is doubled up to ``widen`` times (machines
        copied, see :class:`~muosm_perf.whatif.machines.ResizeMachines`).
    order
        Which machines go first (:data:`~muosm_perf.whatif.machines.MACHINE_ORDERS`).
    tolerance
        Stop when the bracket is at most this many machines wide.
    points_per_round, check_points
        See :func:`bisect_threshold`.
    runner
        A runner holding the same base and evaluation (several workers evaluate a
        round together); None evaluates in this process.
    progress
        Show progress bars on standard error.
    """
    template = template or Scenario(name="capacity")
    if order not in MACHINE_ORDERS:
        raise ScenarioError(
            f"must be one of: {', '.join(MACHINE_ORDERS)}", key="order", value=order
        )
    if high is None:
        high = int(base.present_machines)

    def make(value: float) -> Scenario:
        count = round(value)
        resize = ResizeMachines(count=count, order=order, label=MACHINE_LABEL)
        return dataclasses.replace(
            template,
            name=f"{template.name}[machines={count}]",
            transforms=(*template.transforms, resize),
            parameters={**template.parameters, f"{MACHINE_LABEL}.count": count},
        )

    return _search(
        base,
        evaluation,
        make,
        parameter="machines",
        objective=objective,
        threshold=threshold,
        goal="min",
        integer=True,
        low=low,
        high=high,
        tolerance=tolerance,
        points_per_round=points_per_round,
        check_points=check_points,
        widen=widen,
        runner=runner,
        progress=progress,
    )


def find_max_load(
    base: Any,
    evaluation: Evaluation,
    *,
    objective: str,
    threshold: float,
    template: Scenario | None = None,
    method: str = "replicate",
    bands: Sequence[str] | None = None,
    low: float = 1.0,
    high: float = 4.0,
    tolerance: float = 0.05,
    points_per_round: int | None = None,
    check_points: int = 3,
    widen: int = 2,
    runner: Any | None = None,
    progress: bool = False,
) -> SearchResult:
    """Find the largest load factor at which ``objective <= threshold``.

    Parameters
    ----------
    base, evaluation, objective, threshold, template, runner, progress
        As for :func:`find_min_machines`; the template sets the capacity (for
        example a platform removed).
    method, bands
        How the load is scaled (:class:`~muosm_perf.whatif.load.ScaleLoad`).
    low, high
        Load factors searched; ``high`` is doubled up to ``widen`` times while
        the SLO is still met there.
    tolerance
        Stop when the bracket is at most this wide (a load factor).
    points_per_round, check_points
        See :func:`bisect_threshold`.
    """
    template = template or Scenario(name="load")
    if method not in LOAD_METHODS:
        raise ScenarioError(
            f"must be one of: {', '.join(LOAD_METHODS)}", key="method", value=method
        )
    band_tuple = tuple(bands) if bands is not None else None

    def make(value: float) -> Scenario:
        factor = round(float(value), 6)
        scale = ScaleLoad(
            factor=factor, method=method, bands=band_tuple, label=LOAD_LABEL
        )
        return dataclasses.replace(
            template,
            name=f"{template.name}[load={factor:g}]",
            transforms=(*template.transforms, scale),
            parameters={**template.parameters, f"{LOAD_LABEL}.factor": factor},
        )

    return _search(
        base,
        evaluation,
        make,
        parameter="load_factor",
        objective=objective,
        threshold=threshold,
        goal="max",
        integer=False,
        low=low,
        high=high,
        tolerance=tolerance,
        points_per_round=points_per_round,
        check_points=check_points,
        widen=widen,
        runner=runner,
        progress=progress,
    )
