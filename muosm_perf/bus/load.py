"""The bus's offered load: message instants from a trace or from a distribution.

Every lifecycle event of the ``transitions`` table is one message on the bus (the
event stream between schedulers and cells). Events before or after the trace
window have no instant and are left out, as they would not be timed messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.model.lifecycle import google_2011_band

MICROSECONDS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class MessageStream:
    """Message instants in seconds from the stream's start, in order, and bands.

    Attributes
    ----------
    times_s
        Non-decreasing send instants, the first at 0.
    bands
        Band label of each message (None where the priority is unknown).
    origin_us
        Trace instant of the first message, in trace microseconds.
    """

    times_s: np.ndarray
    bands: list[str | None]
    origin_us: int

    @property
    def duration_s(self) -> float:
        """Time from the first to the last message."""
        return float(self.times_s[-1]) if self.times_s.size else 0.0

    @property
    def mean_rate(self) -> float:
        """Messages per second over the stream's duration."""
        duration = self.duration_s
        return self.times_s.size / duration if duration > 0 else 0.0


def messages_from_transitions(
    transitions: pl.DataFrame | pl.LazyFrame, band=google_2011_band
) -> MessageStream:
    """Build the message stream of a ``transitions`` table.

    Parameters
    ----------
    transitions
        The canonical table (or a lazy scan of it).
    band
        Function from the priority expression to a band expression; the default
        is the Google 2011 mapping.
    """
    table = (
        transitions.lazy()
        .filter(pl.col("time_us").is_not_null())
        .select("time_us", band(pl.col("priority")).cast(pl.String).alias("band"))
        .sort("time_us", maintain_order=True)
        .collect()
    )
    if table.height == 0:
        raise ParameterError(
            "the transitions table has no event inside the trace window, so the "
            "bus has no load"
        )
    times = table["time_us"].to_numpy()
    origin = int(times[0])
    seconds = (times - origin).astype(np.float64) / MICROSECONDS_PER_SECOND
    return MessageStream(seconds, table["band"].to_list(), origin)


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


def rates_per_second(stream: MessageStream) -> pl.DataFrame:
    """Return messages per one-second bin and band (seconds with none are absent)."""
    return (
        pl.DataFrame(
            {"second": np.floor(stream.times_s).astype(np.int64), "band": stream.bands},
            schema={"second": pl.Int64, "band": pl.String},
        )
        .group_by("second", "band")
        .agg(pl.len().alias("messages"))
        .sort("second", "band")
    )


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
