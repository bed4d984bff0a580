"""Failure scenarios: machine event histories with more, fewer or added outages.

A scenario rewrites a store's ``cell_events`` table and returns a table of the same
schema, which the replay and the fault analysis read like the observed one. An
*outage* is a REMOVE and the ADD that ends it (or the window end, if none). The
rewrite keeps every UPDATE and the first ADD of each machine, replaces all other
ADD and REMOVE events by those of the scenario's outages, and merges outages that
overlap on one machine.

Two scenarios are provided:

- :func:`scale_failure_rate` multiplies the number of outages by a factor. Below 1,
  each observed outage is kept with probability ``factor`` (independent thinning).
  Above 1, copies of observed outages, with their start time and length, are
  added on machines of the same platform drawn at random among those present at
  that time. Copies keep the daily pattern and the bursts of the observed
  removals, and spread them over more machines.
- :func:`fail_fault_cell` takes down every machine of one platform, failure domain
  (switch) or the whole cell at a chosen time for a chosen length.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import polars as pl

from muosm_perf.analysis.outages import ObservationWindow, cell_intervals
from muosm_perf.errors import ParameterError
from muosm_perf.model import schema

logger = logging.getLogger(__name__)

OUTAGES = pl.Schema({"cell_id": pl.Int64, "start_us": pl.Int64, "end_us": pl.Int64})
"""Outages of machines: down from ``start_us`` to ``end_us`` (null: to the end)."""

LEVELS = ("platform", "domain", "cell")
"""Fault-cell levels that :func:`fail_fault_cell` can take down as a whole."""


def observed_outages(
    cell_events: pl.DataFrame, cells: pl.DataFrame, window: ObservationWindow
) -> pl.DataFrame:
    """Return the observed outages inside ``window`` (:data:`OUTAGES`).

    An outage still going on at the window end has a null ``end_us``.
    """
    intervals = cell_intervals(cell_events, cells, window)
    return (
        intervals.filter((pl.col("state") == "down") & ~pl.col("left_censored"))
        .select(
            "cell_id",
            "start_us",
            pl.when(pl.col("right_censored"))
            .then(None)
            .otherwise(pl.col("end_us"))
            .alias("end_us"),
        )
        .cast(dict(OUTAGES))
        .sort("cell_id", "start_us")
    )


def merge_outages(outages: pl.DataFrame) -> pl.DataFrame:
    """Merge outages that overlap or touch on one machine into one.

    A null end (down to the end of the window) absorbs every later outage.
    """
    if outages.height == 0:
        return outages.cast(dict(OUTAGES))
    end = pl.col("end_us").fill_null(np.iinfo(np.int64).max)
    ordered = outages.sort("cell_id", "start_us").with_columns(end.alias("_end"))
    reach = pl.col("_end").cum_max().over("cell_id")
    # A new outage starts where the start lies beyond every earlier end.
    starts_new = (
        (pl.col("start_us") > reach.shift(1).over("cell_id"))
        .fill_null(value=True)
        .cum_sum()
        .over("cell_id")
    )
    merged = (
        ordered.with_columns(starts_new.alias("_group"))
        .group_by("cell_id", "_group")
        .agg(pl.col("start_us").min(), pl.col("_end").max())
        .with_columns(
            pl.when(pl.col("_end") == np.iinfo(np.int64).max)
            .then(None)
            .otherwise(pl.col("_end"))
            .alias("end_us")
        )
    )
    return (
        merged.select(OUTAGES.names()).cast(dict(OUTAGES)).sort("cell_id", "start_us")
    )


def events_with_outages(
    cell_events: pl.DataFrame, outages: pl.DataFrame
) -> pl.DataFrame:
    """Rebuild ``cell_events`` with the given outages in place of the observed ones.

    Every UPDATE and the first ADD of each machine are kept. Each outage becomes a
    REMOVE at its start and, unless its end is null, an ADD at its end carrying the
    machine's last known capacity and platform at the start. Generated events come
    from no input row: their ``source_code`` is -1 and their source file and line
    are 0.

    Returns
    -------
    polars.DataFrame
        The ``cell_events`` schema, sorted by time (events before the window
        first).
    """
    merged = merge_outages(outages)
    availability = cell_events.filter(pl.col("event").is_in(["ADD", "REMOVE"]))
    # The first ADD or REMOVE of a machine in time; kept only if it is an ADD.
    first_add = (
        availability.with_row_index("_row")
        .sort(
            "cell_id",
            pl.col("before_window").not_(),
            "time_us",
            "_row",
            nulls_last=False,
        )
        .filter(pl.int_range(pl.len()).over("cell_id") == 0)
        .filter(pl.col("event") == "ADD")
        .select(schema.CELL_EVENTS.names())
    )
    kept = pl.concat(
        [cell_events.filter(pl.col("event") == "UPDATE"), first_add], how="vertical"
    )

    # Capacity and platform at an outage start: the machine's last known values.
    known = (
        kept.filter(pl.col("event") != "REMOVE")
        .with_columns(pl.col("time_us").fill_null(-1).alias("_at"))
        .sort("_at")
        .select(
            "cell_id", "_at", "platform", "domain", "cpu_capacity", "memory_capacity"
        )
    )
    starts = merged.sort("start_us").join_asof(
        known,
        left_on="start_us",
        right_on="_at",
        by="cell_id",
        strategy="backward",
        check_sortedness=False,
    )

    def generated(times: pl.Expr, event: str, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(
            times.alias("time_us"),
            pl.lit(value=False).alias("before_window"),
            pl.lit(value=False).alias("after_window"),
            "cell_id",
            pl.lit(event).cast(schema.CELL_EVENTS["event"]).alias("event"),
            pl.lit(-1, dtype=pl.Int16).alias("source_code"),
            "platform",
            "domain",
            "cpu_capacity",
            "memory_capacity",
            pl.lit(0, dtype=pl.UInt16).alias("source_file"),
            pl.lit(0, dtype=pl.UInt32).alias("source_line"),
        )

    removes = generated(pl.col("start_us"), "REMOVE", starts)
    adds = generated(
        pl.col("end_us"), "ADD", starts.filter(pl.col("end_us").is_not_null())
    )
    events = pl.concat(
        [kept.select(schema.CELL_EVENTS.names()), removes, adds], how="vertical"
    ).cast(dict(schema.CELL_EVENTS))
    # At one instant a REMOVE goes before an ADD, as in an outage of length zero.
    order = pl.when(pl.col("event") == "REMOVE").then(0).otherwise(1)
    return events.sort(
        pl.col("before_window").not_(),
        "time_us",
        "cell_id",
        order,
        nulls_last=False,
    )


def _check_factor(factor: float) -> None:
    if factor < 0 or not math.isfinite(factor):
        raise ParameterError(
            f"factor must be finite and non-negative, got {factor!r}; 1 keeps the "
            "observed failure rate"
        )


def scale_failure_rate(
    cell_events: pl.DataFrame,
    cells: pl.DataFrame,
    window: ObservationWindow,
    factor: float,
    *,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Return ``cell_events`` with the rate of outages multiplied by ``factor``.

    Parameters
    ----------
    cell_events, cells
        The store's tables.
    window
        Observation window; outages outside it are not changed.
    factor
        Multiplier of the number of outages: 0 removes every outage, 1 keeps the
        observed ones, 2.5 keeps them and adds about 1.5 copies of each.
    rng
        Random generator of the thinning and of the copies.

    Returns
    -------
    polars.DataFrame
        The ``cell_events`` table of the scenario.
    """
    _check_factor(factor)
    outages = observed_outages(cell_events, cells, window)
    whole = math.floor(factor)
    parts = [outages] * whole
    fraction = factor - whole
    if fraction > 0:
        parts.append(outages.filter(pl.Series(rng.random(outages.height) < fraction)))
    if not parts:
        return events_with_outages(cell_events, outages.clear())

    # The first part keeps the observed machines; later parts move to other ones.
    moved = [parts[0]]
    moved += [_move_to_random_machines(part, cells, rng) for part in parts[1:]]
    scenario = pl.concat(moved, how="vertical")
    logger.info(
        "failure rate x%g: %d observed outages, %d in the scenario before merging",
        factor,
        outages.height,
        scenario.height,
    )
    return events_with_outages(cell_events, scenario)


def _first_seen(cells: pl.DataFrame) -> pl.DataFrame:
    """Return ``cell_id``, ``platform``, ``domain`` and ``first_us`` of each machine.

    ``first_us`` is the machine's first event time, -1 when it was before the
    window, so that ``first_us <= t`` means "present at t".
    """
    return cells.select(
        "cell_id",
        "platform",
        "domain",
        pl.when(pl.col("first_seen_before_window"))
        .then(pl.lit(-1, dtype=pl.Int64))
        .otherwise(pl.col("first_seen_us"))
        .fill_null(-1)
        .alias("first_us"),
    )


def _move_to_random_machines(
    outages: pl.DataFrame, cells: pl.DataFrame, rng: np.random.Generator
) -> pl.DataFrame:
    """Move each outage to a random machine of its platform present at its start.

    An outage whose platform has no machine present at its start stays where it is.
    """
    machines = _first_seen(cells)
    with_platform = outages.join(
        machines.select("cell_id", "platform"), on="cell_id", how="left"
    )
    targets = with_platform["cell_id"].to_numpy().copy()
    starts = with_platform["start_us"].to_numpy()
    platforms = with_platform["platform"]
    for (platform,), members in machines.partition_by(
        "platform", as_dict=True, maintain_order=True
    ).items():
        ordered = members.sort("first_us", "cell_id")
        first = ordered["first_us"].to_numpy()
        ids = ordered["cell_id"].to_numpy()
        if platform is None:
            rows = np.flatnonzero(platforms.is_null().to_numpy())
        else:
            rows = np.flatnonzero((platforms == platform).fill_null(False).to_numpy())
        present = np.searchsorted(first, starts[rows], side="right")
        draws = np.floor(rng.random(rows.size) * present).astype(np.int64)
        has_machine = present > 0
        targets[rows[has_machine]] = ids[draws[has_machine]]
    return outages.with_columns(pl.Series("cell_id", targets, dtype=pl.Int64))


LEVEL_COLUMNS = {"platform": "platform", "domain": "domain"}


def fail_fault_cell(
    cell_events: pl.DataFrame,
    cells: pl.DataFrame,
    window: ObservationWindow,
    *,
    level: str,
    key: str | None,
    at_us: int,
    duration_s: float | None,
) -> pl.DataFrame:
    """Return ``cell_events`` with one fault cell taken down as a whole.

    Parameters
    ----------
    cell_events, cells
        The store's tables.
    window
        Observation window of the observed outages that are kept.
    level
        ``platform``, ``domain`` (the switch in Google v3) or ``cell``.
    key
        The platform or domain ID; ignored for ``cell``.
    at_us
        Time of the failure on the trace clock (microseconds).
    duration_s
        Length of the outage in seconds; None keeps the machines down to the end.

    Returns
    -------
    polars.DataFrame
        The ``cell_events`` table of the scenario: every machine of the fault cell
        present at ``at_us`` is down from ``at_us``, merged with its observed
        outages.

    Raises
    ------
    ParameterError
        On an unknown level, a negative duration, or a fault cell with no machine.
    """
    if level not in LEVELS:
        raise ParameterError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if duration_s is not None and (duration_s < 0 or not math.isfinite(duration_s)):
        raise ParameterError(
            f"duration_s must be finite and non-negative seconds, got {duration_s!r}"
        )
    machines = _first_seen(cells).filter(pl.col("first_us") <= at_us)
    if level != "cell":
        machines = machines.filter(pl.col(LEVEL_COLUMNS[level]) == key)
    if machines.height == 0:
        raise ParameterError(
            f"no machine of {level} {key!r} is present at {at_us} µs; choose a key "
            "from the store's cells table and a time inside the window"
        )
    end_us = None if duration_s is None else at_us + round(duration_s * 1e6)
    failed = machines.select(
        "cell_id",
        pl.lit(at_us, dtype=pl.Int64).alias("start_us"),
        pl.lit(end_us, dtype=pl.Int64).alias("end_us"),
    )
    outages = pl.concat(
        [observed_outages(cell_events, cells, window), failed], how="vertical"
    )
    logger.info("%s %r down at %d µs: %d machines", level, key, at_us, failed.height)
    return events_with_outages(cell_events, outages)
