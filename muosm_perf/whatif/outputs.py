"""Outputs of a scenario: the figures one replay yields, by name.

Names follow a small grammar, so a scenario file can ask for any band and
statistic:

- ``BAND_delay_STAT_s``: scheduling delay of the band's attempts, seconds.
  ``BAND`` is a priority band of the store (``production``, ``middle``,
  ``free``, ...) or ``all``; ``STAT`` is ``mean``, ``max`` or ``pNN`` (a
  percentile, ``p95``, ``p99.9``...).
- ``BAND_submitted``, ``BAND_unscheduled``, ``BAND_unscheduled_fraction``: the
  attempts whose delay is counted, those never placed, and their share.
- ``cpu_utilization_mean``, ``cpu_utilization_max``, and the same for
  ``memory``: requested over alive capacity on the sampling grid, a fraction.
- ``cpu_capacity_mean``, ``memory_capacity_mean``: alive capacity on the grid,
  normalized units; ``machines``: present machines.
- a replay counter: ``evictions``, ``cancelled``, ``unschedulable``,
  ``pending_at_end``, ``running_at_end``, ``placements``.
- ``bus_latency_STAT_s`` (``mean``, ``p50``, ``p90``, ``p99``, ``max``),
  ``bus_messages``, ``bus_max_consumer_lag``: the message bus carrying the
  replay's lifecycle messages (see :func:`bus_outputs`).

Which attempts have a delay: those submitted inside the window (not before it)
and at or before the horizon. One placed by the replay has its predicted delay.
One never placed and cancelled at or before the horizon (the trace killed it while
pending) has none. One never placed and still waiting at the horizon is *censored*:
its delay is at least the horizon minus its submission, and that lower bound is
what counts. Leaving such attempts out would make a cluster that schedules nothing
look fast, so counting them, even low, is the safer choice. A percentile that
falls on a censored attempt is itself a lower bound. ``BAND_unscheduled`` counts
them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.bus.config import BusConfig
from muosm_perf.bus.load import MICROSECONDS_PER_SECOND, MessageStream
from muosm_perf.bus.simulate import simulate_bus
from muosm_perf.errors import ScenarioError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.model.lifecycle import BAND_LABELS
from muosm_perf.predict.replay import PreparedReplay, ReplayResult
from muosm_perf.whatif.state import present_machines

COUNTERS = (
    "evictions",
    "cancelled",
    "unschedulable",
    "pending_at_end",
    "running_at_end",
    "placements",
)
"""Replay counters that can be outputs."""

BANDS = (*BAND_LABELS, "all")
"""Bands an output can name; ``all`` is every attempt with a band or none."""

DEFAULT_OUTPUTS = (
    "production_delay_p50_s",
    "production_delay_p95_s",
    "middle_delay_p95_s",
    "free_delay_p95_s",
    "production_unscheduled",
    "all_unscheduled_fraction",
    "cpu_utilization_mean",
    "memory_utilization_mean",
    "machines",
    "evictions",
)
"""Outputs of a scenario file that names none."""

_STATISTIC = r"mean|max|p\d+(?:\.\d+)?"
_DELAY = re.compile(rf"^(?P<band>[a-z][a-z0-9]*)_delay_(?P<stat>{_STATISTIC})_s$")
_COUNT = re.compile(
    r"^(?P<band>[a-z][a-z0-9]*)_(?P<what>submitted|unscheduled_fraction|unscheduled)$"
)
_GRID = re.compile(
    r"^(?P<resource>cpu|memory)_(?P<what>utilization_mean|utilization_max|capacity_mean)$"
)
_BUS = re.compile(rf"^bus_latency_(?P<stat>{_STATISTIC})_s$")
BUS_OUTPUTS = ("bus_messages", "bus_max_consumer_lag")
"""Bus outputs besides the latency statistics."""


def check_output_name(name: str) -> None:
    """Raise ScenarioError unless ``name`` is a valid output name."""
    if not isinstance(name, str):
        raise ScenarioError("an output name is a string", value=name)
    if name in COUNTERS or name in BUS_OUTPUTS or name == "machines":
        return
    for pattern in (_DELAY, _COUNT, _GRID, _BUS):
        match = pattern.match(name)
        if match is None:
            continue
        band = match.groupdict().get("band")
        if band is not None and band not in BANDS:
            raise ScenarioError(
                f"unknown band {band!r} in output; bands: {', '.join(BANDS)}",
                value=name,
            )
        statistic = match.groupdict().get("stat")
        if (
            statistic
            and statistic.startswith("p")
            and not 0 <= float(statistic[1:]) <= 100
        ):
            raise ScenarioError("a percentile is between p0 and p100", value=name)
        return
    raise ScenarioError(
        "unknown output; outputs are BAND_delay_STAT_s, BAND_submitted, "
        "BAND_unscheduled, BAND_unscheduled_fraction, cpu_ or memory_utilization_mean "
        "or _max, cpu_ or memory_capacity_mean, machines, bus_latency_STAT_s, "
        f"bus_messages, bus_max_consumer_lag, {', '.join(COUNTERS)} (BAND: a band "
        "or all; STAT: mean, max or pNN)",
        value=name,
    )


def output_dtype(name: str) -> pl.DataType:
    """Return the column type of an output: Int64 for counts, Float64 otherwise."""
    if name in COUNTERS or name in BUS_OUTPUTS or name == "machines":
        return pl.Int64
    match = _COUNT.match(name)
    if match is not None and match["what"] != "unscheduled_fraction":
        return pl.Int64
    return pl.Float64


def wants_bus(names: Sequence[str]) -> bool:
    """Return whether any of ``names`` is a bus output."""
    return any(name.startswith("bus_") for name in names)


def delays_by_attempt(result: ReplayResult, prepared: PreparedReplay) -> pl.DataFrame:
    """Return the delay that counts for each attempt, as described above.

    Returns
    -------
    polars.DataFrame
        ``band`` (String), ``delay_s`` (seconds) and ``censored`` (never placed,
        waiting at the horizon), for the attempts whose delay counts.
    """
    inputs = prepared.inputs
    horizon = int(inputs.horizon_us)
    cancel = inputs.end_time_us
    attempts = result.attempts
    submit = attempts["submit_time_us"].to_numpy()
    placed = attempts["predicted_schedule_time_us"].is_not_null().to_numpy()
    in_window = attempts["submit_in_window"].to_numpy() & (submit <= horizon)
    cancelled = (~placed) & (cancel != NULL_INT) & (cancel <= horizon)
    censored = in_window & ~placed & ~cancelled
    counted = in_window & (placed | censored)
    schedule = attempts["predicted_schedule_time_us"].fill_null(horizon).to_numpy()
    delay = (np.where(placed, schedule, horizon) - submit) / 1e6
    return pl.DataFrame(
        {
            "band": attempts["band"].cast(pl.String).to_numpy()[counted],
            "delay_s": delay[counted],
            "censored": censored[counted],
        },
        schema={"band": pl.String, "delay_s": pl.Float64, "censored": pl.Boolean},
    )


def _statistic(values: np.ndarray, statistic: str) -> float | None:
    if values.size == 0:
        return None
    if statistic == "mean":
        return float(values.mean())
    if statistic == "max":
        return float(values.max())
    return float(np.percentile(values, float(statistic[1:])))


def compute_outputs(
    names: Sequence[str],
    result: ReplayResult,
    prepared: PreparedReplay,
    *,
    bus: BusConfig | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Compute the outputs ``names`` of one replay.

    Parameters
    ----------
    names
        Output names (see the module documentation).
    result
        The replay of ``prepared``.
    prepared
        The scenario's inputs, as replayed.
    bus
        Bus configuration for the bus outputs (defaults when None).
    seed
        Seed of the bus simulation.

    Returns
    -------
    dict
        Output name to value; None where a statistic has no sample.
    """
    delays = delays_by_attempt(result, prepared)
    occupancy = result.occupancy
    outputs: dict[str, Any] = {}
    bus_figures = None
    for name in names:
        if name in COUNTERS:
            outputs[name] = int(result.totals[name])
        elif name == "machines":
            outputs[name] = int(present_machines(prepared).sum())
        elif (match := _DELAY.match(name)) is not None:
            values = _band_delays(delays, match["band"])
            outputs[name] = _statistic(values, match["stat"])
        elif (match := _COUNT.match(name)) is not None:
            outputs[name] = _band_count(delays, match["band"], match["what"])
        elif (match := _GRID.match(name)) is not None:
            outputs[name] = _grid_figure(occupancy, match["resource"], match["what"])
        else:
            if bus_figures is None:
                bus_figures = bus_outputs(result, prepared, bus or BusConfig(), seed)
            outputs[name] = (
                bus_figures[name]
                if name in bus_figures
                else _statistic(bus_figures["latencies"], _BUS.match(name)["stat"])
            )
    return outputs


def _band_delays(delays: pl.DataFrame, band: str) -> np.ndarray:
    chosen = delays if band == "all" else delays.filter(pl.col("band") == band)
    return chosen["delay_s"].to_numpy()


def _band_count(delays: pl.DataFrame, band: str, what: str) -> int | float | None:
    chosen = delays if band == "all" else delays.filter(pl.col("band") == band)
    submitted = chosen.height
    unscheduled = int(chosen["censored"].sum())
    if what == "submitted":
        return submitted
    if what == "unscheduled":
        return unscheduled
    return unscheduled / submitted if submitted else None


def _grid_figure(occupancy: pl.DataFrame, resource: str, what: str) -> float | None:
    if what == "capacity_mean":
        column = occupancy[f"{resource}_capacity"]
    else:
        column = occupancy[f"{resource}_utilization"].drop_nulls()
    if column.len() == 0:
        return None
    value = column.max() if what == "utilization_max" else column.mean()
    return None if value is None else float(value)


def lifecycle_message_times(
    result: ReplayResult, prepared: PreparedReplay
) -> np.ndarray:
    """Return the instants (trace microseconds, sorted) of the replay's messages.

    Only messages sent inside the window count:

    - a SUBMIT for every attempt submitted inside the window, at or before the
      horizon;
    - a SCHEDULE for the first placement of such an attempt, and for an attempt
      from before the window that the replay places after the window start. One
      placed at the start was already running then, as the trace shows;
    - an end message (FINISH, FAIL or KILL) for every placed attempt with a known
      duration, at placement plus duration or at its cancellation time if it has
      one, when that falls at or before the horizon.

    NOTE: resubmissions after a machine REMOVE (``evictions``) send more messages
    that this count leaves out; on the Google 2011 sample they are about 0.1% of
    attempts.
    """
    inputs = prepared.inputs
    horizon = int(inputs.horizon_us)
    start = int(prepared.window_us["start"])
    submit = result.attempts["submit_time_us"].to_numpy()
    in_window = result.attempts["submit_in_window"].to_numpy()
    schedule_series = result.attempts["predicted_schedule_time_us"]
    placed = schedule_series.is_not_null().to_numpy()
    schedule = schedule_series.fill_null(0).to_numpy()
    duration = inputs.duration_us
    cancel = inputs.end_time_us
    finite_end = placed & ((duration >= 0) | (cancel != NULL_INT))
    end = np.where(cancel != NULL_INT, cancel, schedule + np.maximum(duration, 0))
    ends = end[finite_end & (end <= horizon)]
    submits = submit[in_window & (submit <= horizon)]
    schedules = schedule[placed & (in_window | (schedule > start))]
    return np.sort(np.concatenate([submits, schedules, ends]), kind="stable")


def bus_outputs(
    result: ReplayResult, prepared: PreparedReplay, config: BusConfig, seed: int
) -> dict[str, Any]:
    """Simulate the bus carrying the replay's lifecycle messages.

    Returns ``bus_messages``, ``bus_max_consumer_lag`` and ``latencies`` (seconds
    per message) from :func:`~muosm_perf.bus.simulate.simulate_bus`.
    """
    times = lifecycle_message_times(result, prepared)
    if times.size == 0:
        return {"bus_messages": 0, "bus_max_consumer_lag": None, "latencies": times}
    origin = int(times[0])
    seconds = (times - origin).astype(np.float64) / MICROSECONDS_PER_SECOND
    stream = MessageStream(seconds, [None] * seconds.size, origin)
    simulation = simulate_bus(stream, config, seed=seed)
    return {
        "bus_messages": int(simulation.messages),
        "bus_max_consumer_lag": int(simulation.max_consumer_lag),
        "latencies": simulation.latencies,
    }
