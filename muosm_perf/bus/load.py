"""The bus's offered load: message instants from a trace or from a distribution.

Every process and group lifecycle event of a store is one message on the bus (the
event stream between schedulers and cells), as defined once by
:func:`muosm_perf.analysis.bus.bus_events`. Events before or after the trace
window have no instant and are left out, as they would not be timed messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from muosm_perf.analysis.bus import bus_events
from muosm_perf.errors import ParameterError
from muosm_perf.model.store import TraceStore

MICROSECONDS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class MessageStream:
    """Message instants in seconds from the stream's start, in order, and bands.

    Attributes
    ----------
    times_s
        Non-decreasing send instants, the first at 0.
    bands
        Band label of each message (None for group events and unknown priorities).
    origin_us
        Trace instant of the first message, in trace microseconds.
    sources
        ``"process"`` or ``"group"`` per message; empty for synthetic streams.
    """

    times_s: np.ndarray
    bands: list[str | None]
    origin_us: int
    sources: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Time from the first to the last message."""
        return float(self.times_s[-1]) if self.times_s.size else 0.0

    @property
    def mean_rate(self) -> float:
        """Messages per second over the stream's duration."""
        duration = self.duration_s
        return self.times_s.size / duration if duration > 0 else 0.0


def messages_from_events(events: pl.DataFrame | pl.LazyFrame) -> MessageStream:
    """Build a message stream from a table of bus events.

    Parameters
    ----------
    events
        A table with ``time_us`` (trace microseconds), ``band`` and optionally
        ``source`` columns, such as :func:`muosm_perf.analysis.bus.bus_events`
        returns. Rows without a time are left out.
    """
    table = (
        events.lazy()
        .filter(pl.col("time_us").is_not_null())
        .sort("time_us", maintain_order=True)
        .collect()
    )
    if table.height == 0:
        raise ParameterError(
            "no process or group event lies inside the trace window, so the bus "
            "has no load"
        )
    times = table["time_us"].to_numpy()
    origin = int(times[0])
    seconds = (times - origin).astype(np.float64) / MICROSECONDS_PER_SECOND
    sources = table["source"].to_list() if "source" in table.columns else []
    return MessageStream(seconds, table["band"].to_list(), origin, sources)


def messages_from_store(store: TraceStore) -> MessageStream:
    """Build the message stream of a store: every event of ``bus_events(store)``."""
    return messages_from_events(bus_events(store))


def poisson_messages(rate: float, duration_s: float, seed: int | None) -> MessageStream:
    """Return a Poisson stream of ``rate`` messages per second over ``duration_s``."""
    if not rate > 0 or not duration_s > 0:
        raise ParameterError(
            f"a Poisson stream needs rate > 0 and duration > 0, got {rate!r} and "
            f"{duration_s!r}"
        )
    rng = np.random.default_rng(seed)
    count = rng.poisson(rate * duration_s)
    times = np.sort(rng.uniform(0.0, duration_s, count))
    if times.size:
        times -= times[0]
    return MessageStream(times, [None] * times.size, 0)


def burstiness(stream: MessageStream) -> dict:
    """Summarize how bursty the stream is at a one-second scale.

    Returns the mean and peak rates, their ratio, and the index of dispersion of
    the per-second counts (variance / mean, empty seconds included), which is 1
    for a Poisson stream and grows with burstiness.
    """
    seconds = int(np.floor(stream.duration_s)) + 1
    counts = np.bincount(np.floor(stream.times_s).astype(np.int64), minlength=seconds)
    mean = float(counts.mean())
    return {
        "messages": int(stream.times_s.size),
        "duration_s": stream.duration_s,
        "mean_rate": mean,
        "peak_rate": int(counts.max()),
        "peak_to_mean": float(counts.max() / mean) if mean > 0 else 0.0,
        "index_of_dispersion": float(counts.var() / mean) if mean > 0 else 0.0,
    }
