"""Up and down intervals of fault cells, from their ADD and REMOVE history.

A machine is up from an ADD to the next REMOVE and down from a REMOVE to the next
ADD. UPDATE events change capacity, not availability, and are ignored here. Every
REMOVE is counted as a failure: the traces do not say whether a removal was a fault
or maintenance (the Google v3 documentation names both).

Intervals are clipped to an observation window. An interval already going on at the
window start is *left-censored*: its true start, and so its length, is unknown. An
interval still going on at the window end is *right-censored*: its length is at least
what was observed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.model.store import TraceStore

logger = logging.getLogger(__name__)

STATE_DTYPE = pl.Enum(["up", "down"])
"""State of a fault cell during an interval."""

INTERVALS = pl.Schema(
    {
        "cell_id": pl.Int64,
        "platform": pl.String,
        "domain": pl.String,
        "state": STATE_DTYPE,
        "start_us": pl.Int64,
        "end_us": pl.Int64,
        "duration_s": pl.Float64,
        "left_censored": pl.Boolean,
        "right_censored": pl.Boolean,
        "censor_limit_s": pl.Float64,
    }
)
"""Schema of :func:`cell_intervals`.

``censor_limit_s`` is the longest length the interval could have shown: from its
start to the window end. A duration equal to it is right-censored.
"""


@dataclass(frozen=True)
class ObservationWindow:
    """The span of trace time over which fault cells were watched.

    Attributes
    ----------
    start_us, end_us
        Microseconds on the trace's clock; ``end_us`` > ``start_us``.
    """

    start_us: int
    end_us: int

    def __post_init__(self) -> None:
        if self.end_us <= self.start_us:
            raise ParameterError(
                f"observation window end {self.end_us} µs is not after its start "
                f"{self.start_us} µs; pass an end later than the start"
            )

    @property
    def length_s(self) -> float:
        """Length of the window in seconds."""
        return (self.end_us - self.start_us) / 1e6

    def as_dict(self) -> dict[str, float]:
        """Return start, end and length in seconds, for JSON."""
        return {
            "start": self.start_us / 1e6,
            "end": self.end_us / 1e6,
            "length": self.length_s,
        }


def observation_window(
    store: TraceStore, *, start_us: int | None = None, end_us: int | None = None
) -> ObservationWindow:
    """Return the window over which the store watched its fault cells.

    The start defaults to the trace start recorded in the manifest (Google 2011:
    600 s on the trace clock), else to the first in-window time of any event. The
    end defaults to the last in-window time in ``cell_events`` or ``transitions``,
    the last instant the trace is known to cover.

    Raises
    ------
    ParameterError
        If the store has no timed event at all and no bounds are given.
    """
    bounds = [
        store.scan(table)
        .select(
            pl.col("time_us").min().alias("first"),
            pl.col("time_us").max().alias("last"),
        )
        .collect()
        .row(0, named=True)
        for table in ("cell_events", "transitions")
    ]
    firsts = [b["first"] for b in bounds if b["first"] is not None]
    lasts = [b["last"] for b in bounds if b["last"] is not None]
    if start_us is None:
        clock = store.manifest.get("clock", {})
        start_us = clock.get("trace_start_us")
        if start_us is None and firsts:
            start_us = min(firsts)
    if end_us is None and lasts:
        end_us = max(lasts)
    if start_us is None or end_us is None:
        raise ParameterError(
            f"{store.path} has no timed cell or process event, so the observation "
            "window is unknown; pass start_us and end_us"
        )
    return ObservationWindow(int(start_us), int(end_us))


def _availability_events(cell_events: pl.DataFrame) -> pl.DataFrame:
    """Return the ADD and REMOVE events in order, repeats of one state dropped.

    A second ADD while up (or REMOVE while down) changes nothing, so only the first
    of a run is kept.
    """
    ordered = (
        cell_events.filter(pl.col("event").is_in(["ADD", "REMOVE"]))
        .with_columns(
            pl.when(pl.col("before_window"))
            .then(0)
            .when(pl.col("after_window"))
            .then(2)
            .otherwise(1)
            .alias("_class")
        )
        .sort("cell_id", "_class", "time_us", "source_file", "source_line")
    )
    repeated = (pl.col("event") == pl.col("event").shift(1)).over("cell_id")
    kept = ordered.filter(~repeated.fill_null(value=False))
    dropped = ordered.height - kept.height
    if dropped:
        logger.info("ignored %d repeated ADD or REMOVE events", dropped)
    return kept


def cell_intervals(
    cell_events: pl.DataFrame,
    cells: pl.DataFrame,
    window: ObservationWindow,
) -> pl.DataFrame:
    """Build the up and down intervals of every fault cell inside ``window``.

    Parameters
    ----------
    cell_events
        The store's ``cell_events`` table.
    cells
        The store's ``cells`` table; gives each machine its (last known) platform
        and failure domain.
    window
        Observation window; intervals are clipped to it.

    Returns
    -------
    polars.DataFrame
        :data:`INTERVALS`, one row per interval, sorted by cell and start. A machine
        whose first event is a REMOVE inside the window gets an up interval from the
        window start, left-censored. An event at the window end starts an interval
        of length zero; later events, and "after the window" events, start none.
    """
    events = _availability_events(cell_events)
    start, end = window.start_us, window.end_us

    # Times before the window (flagged or earlier than the start) clip to the start.
    at = (
        pl.when(pl.col("before_window") | (pl.col("time_us") < start))
        .then(pl.lit(start))
        .otherwise(pl.col("time_us"))
    )
    inside = ~pl.col("after_window") & (
        pl.col("time_us").is_null() | (pl.col("time_us") <= end)
    )
    early = (pl.col("before_window") | (pl.col("time_us") < start)).fill_null(
        value=True
    )
    events = (
        events.filter(inside)
        .with_row_index("_order")
        .with_columns(
            pl.col("_order").cast(pl.Int64),
            at.alias("start_us"),
            early.alias("left_censored"),
        )
    )
    # Of the events at or before the window start only the last one sets the state.
    last_early = (
        pl.col("_order") == pl.col("_order").filter(pl.col("left_censored")).max()
    ).over("cell_id")
    events = events.filter(~pl.col("left_censored") | last_early)

    # A machine first seen by its REMOVE was up before it: add that interval.
    first = events.group_by("cell_id").agg(pl.all().sort_by("_order").first())
    implicit_up = first.filter(~pl.col("left_censored")).filter(
        pl.col("event") == "REMOVE"
    )
    implicit_up = implicit_up.with_columns(
        pl.lit("ADD").cast(events.schema["event"]).alias("event"),
        pl.lit(start, dtype=pl.Int64).alias("start_us"),
        pl.lit(value=True).alias("left_censored"),
        pl.lit(-1, dtype=pl.Int64).alias("_order"),
    )
    if implicit_up.height:
        logger.info(
            "%d machines are first seen by a REMOVE; they count as up from the "
            "window start",
            implicit_up.height,
        )
    events = pl.concat([implicit_up.select(events.columns), events]).sort(
        "cell_id", "_order"
    )

    next_start = pl.col("start_us").shift(-1).over("cell_id")
    intervals = (
        events.with_columns(
            next_start.fill_null(end).alias("end_us"),
            next_start.is_null().alias("right_censored"),
            pl.when(pl.col("event") == "ADD")
            .then(pl.lit("up"))
            .otherwise(pl.lit("down"))
            .cast(STATE_DTYPE)
            .alias("state"),
        )
        .drop("platform", "domain")
        .join(cells.select("cell_id", "platform", "domain"), on="cell_id", how="left")
        .with_columns(
            ((pl.col("end_us") - pl.col("start_us")) / 1e6).alias("duration_s"),
            ((end - pl.col("start_us")) / 1e6).alias("censor_limit_s"),
        )
    )
    return intervals.select(INTERVALS.names()).cast(dict(INTERVALS))


def machine_summary(intervals: pl.DataFrame, window: ObservationWindow) -> pl.DataFrame:
    """Summarize the failure history of each machine.

    Returns
    -------
    polars.DataFrame
        One row per machine with ``cell_id``, ``platform`` and ``domain``, and:

        - ``removals``: down intervals that start inside the window;
        - ``repairs``: those of them that ended by an ADD inside the window;
        - ``up_s``, ``down_s``: time observed in each state, in seconds;
        - ``repair_exposure_s``: downtime after the REMOVEs counted in
          ``removals``, in seconds (a machine already down at the window start
          has no observed REMOVE, so its downtime then is left out);
        - ``down_at_end``: whether the machine was down at the window end;
        - ``mtbf_s``: ``up_s / removals``, null without removals;
        - ``mttr_s``: ``repair_exposure_s / repairs``, null without repairs;
        - ``availability``: ``up_s`` over the time the machine was observed.
    """
    down = pl.col("state") == "down"
    up = pl.col("state") == "up"
    removed = down & ~pl.col("left_censored")
    summary = intervals.group_by("cell_id").agg(
        pl.col("platform").first(),
        pl.col("domain").first(),
        removed.sum().cast(pl.UInt32).alias("removals"),
        (removed & ~pl.col("right_censored")).sum().cast(pl.UInt32).alias("repairs"),
        pl.col("duration_s").filter(up).sum().alias("up_s"),
        pl.col("duration_s").filter(down).sum().alias("down_s"),
        pl.col("duration_s").filter(removed).sum().alias("repair_exposure_s"),
        (down & pl.col("right_censored")).any().alias("down_at_end"),
    )
    observed = pl.col("up_s") + pl.col("down_s")
    return summary.with_columns(
        pl.when(pl.col("removals") > 0)
        .then(pl.col("up_s") / pl.col("removals"))
        .alias("mtbf_s"),
        pl.when(pl.col("repairs") > 0)
        .then(pl.col("repair_exposure_s") / pl.col("repairs"))
        .alias("mttr_s"),
        pl.when(observed > 0).then(pl.col("up_s") / observed).alias("availability"),
    ).sort("cell_id")


def removal_times(intervals: pl.DataFrame) -> pl.DataFrame:
    """Return the REMOVE instants inside the window, sorted by time.

    Columns: ``time_us``, ``cell_id``, ``platform``, ``domain``, and ``down_s`` (the
    downtime that followed, right-censored where ``right_censored``).
    """
    return (
        intervals.filter((pl.col("state") == "down") & ~pl.col("left_censored"))
        .select(
            pl.col("start_us").alias("time_us"),
            "cell_id",
            "platform",
            "domain",
            pl.col("duration_s").alias("down_s"),
            "right_censored",
        )
        .sort("time_us", "cell_id")
    )
