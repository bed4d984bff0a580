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
    9-11 "production"; 12 and above are "monitoring".
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
