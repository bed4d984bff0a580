"""The μ-OSM lifecycle vocabulary: process events, cell events and priority bands.

Every reader translates its format's codes into these enums and keeps the source code
in a column of its own. The integer values are the codes the kernels see, and the
order of the names is the physical order of the Polars ``Enum`` columns, so
``pl.col("event").to_physical()`` equals ``Event(...).value``.
"""

from __future__ import annotations

import enum

import polars as pl


class Event(enum.IntEnum):
    """Canonical lifecycle event of a distributed process or a process group."""

    SUBMIT = 0
    QUEUE = 1
    ENABLE = 2
    SCHEDULE = 3
    EVICT = 4
    FAIL = 5
    FINISH = 6
    KILL = 7
    LOST = 8
    UPDATE_PENDING = 9
    UPDATE_RUNNING = 10


TERMINAL_EVENTS = (Event.EVICT, Event.FAIL, Event.FINISH, Event.KILL, Event.LOST)
"""Events that end an attempt (running or pending → dead)."""


class CellEvent(enum.IntEnum):
    """Canonical event of a fault cell (a machine): it joins, leaves or changes."""

    ADD = 0
    REMOVE = 1
    UPDATE = 2


class Band(enum.IntEnum):
    """Priority band, the unit in which scheduling delay is reported.

    Google 2011 priorities (0-11, higher is more important) map as the trace
    documentation groups them: 0-1 "free", 2-8 the middle ("batch" and others),
    9-11 "production"; 12 and above are "monitoring". Google 2019 priorities map
    by the tiers of :data:`GOOGLE_2019_TIERS`.
    """

    FREE = 0
    MIDDLE = 1
    PRODUCTION = 2
    MONITORING = 3

    @property
    def label(self) -> str:
        """Lower-case name used in tables, JSON and reports."""
        return self.name.lower()


EVENT_NAMES = [e.name for e in Event]
CELL_EVENT_NAMES = [e.name for e in CellEvent]
BAND_LABELS = [b.label for b in Band]

EVENT_DTYPE = pl.Enum(EVENT_NAMES)
CELL_EVENT_DTYPE = pl.Enum(CELL_EVENT_NAMES)
BAND_DTYPE = pl.Enum(BAND_LABELS)

# Google 2011 task and job event codes 0-8 → canonical events.
GOOGLE_2011_EVENTS = {
    0: Event.SUBMIT,
    1: Event.SCHEDULE,
    2: Event.EVICT,
    3: Event.FAIL,
    4: Event.FINISH,
    5: Event.KILL,
    6: Event.LOST,
    7: Event.UPDATE_PENDING,
    8: Event.UPDATE_RUNNING,
}

# Google 2011 machine event codes 0-2 → canonical cell events.
GOOGLE_2011_CELL_EVENTS = {0: CellEvent.ADD, 1: CellEvent.REMOVE, 2: CellEvent.UPDATE}


def google_2011_band(priority: pl.Expr) -> pl.Expr:
    """Map a Google 2011 priority column (0-11; 12 is monitoring) to the band Enum.

    Parameters
    ----------
    priority
        Integer priority expression.

    Returns
    -------
    polars.Expr
        A ``BAND_DTYPE`` expression, null where the priority is null.
    """
    label = (
        pl.when(priority <= 1)
        .then(pl.lit(Band.FREE.label))
        .when(priority <= 8)
        .then(pl.lit(Band.MIDDLE.label))
        .when(priority <= 11)
        .then(pl.lit(Band.PRODUCTION.label))
        .when(priority.is_not_null())
        .then(pl.lit(Band.MONITORING.label))
    )
    return label.cast(BAND_DTYPE)


# Google 2019 (format v3) collection and instance event codes 0-10 → canonical
# events, from the EventType enum of clusterdata_trace_format_v3.proto. Unlike 2011,
# v3 numbers QUEUE (1) and ENABLE (2) and starts SCHEDULE at 3.
GOOGLE_2019_EVENTS = {
    0: Event.SUBMIT,
    1: Event.QUEUE,
    2: Event.ENABLE,
    3: Event.SCHEDULE,
    4: Event.EVICT,
    5: Event.FAIL,
    6: Event.FINISH,
    7: Event.KILL,
    8: Event.LOST,
    9: Event.UPDATE_PENDING,
    10: Event.UPDATE_RUNNING,
}

# Google 2019 machine event codes → canonical cell events. Code 0 is
# EVENT_TYPE_UNKNOWN, which should never occur by the v3 proto file; it is rejected.
GOOGLE_2019_CELL_EVENTS = {1: CellEvent.ADD, 2: CellEvent.REMOVE, 3: CellEvent.UPDATE}

GOOGLE_2019_TIERS = (
    (Band.FREE, 0, 99),
    (Band.MIDDLE, 100, 119),
    (Band.PRODUCTION, 120, 200),
    (Band.MONITORING, 201, None),
)
"""Google 2019 priority tiers as (band, lowest, highest priority; None: no bound).

From "Google cluster-usage traces v3" (Wilkes, version of 2020-04-01), section
CollectionEvents table: "free" priorities are the lowest, "mid-SLO" priorities are
100-119, "production" priorities 120-200 and "monitoring" priorities above 200. The
free tier is therefore 0-99, and "mid-SLO" maps onto the MIDDLE band.
"""


def google_2019_band(priority: pl.Expr) -> pl.Expr:
    """Map a Google 2019 priority column to the band Enum by :data:`GOOGLE_2019_TIERS`.

    Parameters
    ----------
    priority
        Integer priority expression (v3 priorities, 0 and up).

    Returns
    -------
    polars.Expr
        A ``BAND_DTYPE`` expression, null where the priority is null or negative.
    """
    label = pl.when(pl.lit(value=False)).then(pl.lit(None, dtype=pl.String))
    for band, lowest, highest in GOOGLE_2019_TIERS:
        condition = priority >= lowest
        if highest is not None:
            condition = condition & (priority <= highest)
        label = label.when(condition).then(pl.lit(band.label))
    return label.cast(BAND_DTYPE)
