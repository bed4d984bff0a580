"""Trace-driven simulation of the bus, message by message.

The simulation follows the rules of :mod:`muosm_perf.bus.config` exactly, with no
Poisson or independence assumption: each message is sent at its recorded instant,
assigned a partition at random (``seed``), batched, appended by its partition's
leader, committed, and processed by its consumer. Consumer lag at an instant is
the number of messages committed but not yet processed (Kafka's definition:
log-end offset minus the consumer's position, summed over partitions).

A trace cannot be rejected for its load, so the busiest station's utilization is
estimated from the work the stream brings it. At or above 1 the run is logged and
marked ``transient``, because its latencies then grow with the trace's length.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from muosm_perf.bus.analytic import PERCENTILE_LEVELS, _sample_service
from muosm_perf.bus.config import BusConfig
from muosm_perf.bus.load import MessageStream
from muosm_perf.errors import ParameterError
from muosm_perf.kernels.bus_sim import batch_messages, serve_at_stations
from muosm_perf.queueing.stability import warn_if_transient

logger = logging.getLogger(__name__)

LAG_STEP_S = 1.0
"""Spacing of the consumer-lag series."""


@dataclass(frozen=True)
class BusSimulation:
    """Figures of one simulated run (seconds, messages).

    ``utilization`` is the offered load of the busiest broker or consumer: the
    work the stream brings it divided by the stream's duration (None for a single
    message). ``transient`` is True when it is >= 1, so that the station has no
    steady state and the latency and lag figures grow with the stream's length.
    """

    messages: int
    mean_latency_s: float
    latency_percentiles_s: dict
    max_latency_s: float
    mean_batch_size: float
    mean_batching_delay_s: float
    mean_broker_delay_s: float
    mean_consumer_delay_s: float
    broker_utilizations: list[float]
    consumer_utilizations: list[float]
    mean_consumer_lag: float
    max_consumer_lag: int
    max_lag_at_s: float
    utilization: float | None
    transient: bool
    lag_series: np.ndarray = field(repr=False)
    latencies: np.ndarray = field(repr=False)

    def as_dict(self) -> dict:
        """Return the figures as a JSON-ready dictionary (without the series)."""
        return {
            "messages": self.messages,
            "mean_latency_s": self.mean_latency_s,
            "latency_percentiles_s": self.latency_percentiles_s,
            "max_latency_s": self.max_latency_s,
            "mean_batch_size": self.mean_batch_size,
            "mean_batching_delay_s": self.mean_batching_delay_s,
            "mean_broker_delay_s": self.mean_broker_delay_s,
            "mean_consumer_delay_s": self.mean_consumer_delay_s,
            "broker_utilizations": self.broker_utilizations,
            "consumer_utilizations": self.consumer_utilizations,
            "mean_consumer_lag": self.mean_consumer_lag,
            "max_consumer_lag": self.max_consumer_lag,
            "max_lag_at_s": self.max_lag_at_s,
            "utilization": self.utilization,
            "transient": self.transient,
        }


def _route_batches(close, partition, config: BusConfig, service):
    """Return each batch's ready instant and broker, applying the outage if any."""
    leader = partition % config.brokers
    ready = close.copy()
    broker = leader.copy()
    outage = config.outage
    if outage is None or outage.duration_s == 0:
        return ready, broker

    start, end = outage.start_s, outage.start_s + outage.duration_s
    takes_over = config.replication_factor > 1 and outage.failover_s < outage.duration_s
    takeover = start + outage.failover_s if takes_over else end
    new_leader = (partition + 1) % config.brokers if takes_over else leader
    affected = leader == outage.broker

    # Batches queued at the failed broker that had not started when it failed.
    before = np.flatnonzero(affected & (close < start))
    if before.size:
        order = before[np.argsort(close[before], kind="stable")]
        free = np.full(1, -np.inf)
        begins = serve_at_stations(
            close[order], np.zeros(order.size, np.int64), service[order], free
        )
        stranded = order[begins >= start]
        ready[stranded] = takeover
        broker[stranded] = new_leader[stranded]

    leaderless = affected & (close >= start) & (close < takeover)
    ready[leaderless] = takeover
    broker[leaderless] = new_leader[leaderless]
    followed = affected & (close >= takeover) & (close < end)
    broker[followed] = new_leader[followed]
    return ready, broker


def _offered_utilization(
    stream: MessageStream, broker_work: np.ndarray, consumer_work: np.ndarray
) -> float | None:
    """Return the busiest station's work per second of the stream, or None."""
    if stream.times_s.size < 2:
        return None
    busiest = max(float(broker_work.max()), float(consumer_work.max()))
    if stream.duration_s <= 0:
        return math.inf if busiest > 0 else 0.0
    return busiest / stream.duration_s


def simulate_bus(
    stream: MessageStream, config: BusConfig, *, seed: int | None = 0
) -> BusSimulation:
    """Simulate the bus carrying ``stream`` and return latency and lag figures.

    Parameters
    ----------
    stream
        Message instants (a trace's transitions or a synthetic stream).
    config
        The bus, with an optional broker outage.
    seed
        Seed for the partition choice and the consumers' processing times.
    """
    times = stream.times_s
    if times.size == 0:
        raise ParameterError("the message stream is empty; nothing to simulate")
    rng = np.random.default_rng(seed)
    partitions = rng.integers(config.partitions, size=times.size)

    batch_of, close, batch_partition, size = batch_messages(
        times, partitions, config.partitions, config.batch_max_messages, config.linger_s
    )
    append = config.broker_batch_overhead_s + config.broker_per_message_s * size
    ready, broker = _route_batches(close, batch_partition, config, append)
    order = np.argsort(ready, kind="stable")
    begin = np.empty(ready.size)
    begin[order] = serve_at_stations(
        ready[order], broker[order], append[order], np.full(config.brokers, -np.inf)
    )
    commit = begin + append + config.commit_delay_s

    message_commit = commit[batch_of]
    consumer = np.array([config.consumer(p) for p in range(config.partitions)])[
        partitions
    ]
    work = _sample_service(config, times.size, rng)
    order = np.argsort(message_commit, kind="stable")
    start = np.empty(times.size)
    start[order] = serve_at_stations(
        message_commit[order],
        consumer[order],
        work[order],
        np.full(config.consumers, -np.inf),
    )
    finish = start + work
    latency = finish - times

    horizon = max(float(finish.max()), stream.duration_s)
    grid = np.arange(0.0, horizon + LAG_STEP_S, LAG_STEP_S)
    committed = np.searchsorted(np.sort(message_commit), grid, side="right")
    processed = np.searchsorted(np.sort(finish), grid, side="right")
    lag = committed - processed
    peak = int(np.argmax(lag))

    span = horizon if horizon > 0 else 1.0
    broker_busy = np.bincount(broker, weights=append, minlength=config.brokers)
    consumer_busy = np.bincount(consumer, weights=work, minlength=config.consumers)
    utilization = _offered_utilization(stream, broker_busy, consumer_busy)
    transient = warn_if_transient("simulated message bus", utilization)
    logger.debug("simulated %d messages in %d batches", times.size, close.size)
    return BusSimulation(
        messages=int(times.size),
        mean_latency_s=float(latency.mean()),
        latency_percentiles_s={
            f"p{100 * q:g}": float(np.quantile(latency, q)) for q in PERCENTILE_LEVELS
        },
        max_latency_s=float(latency.max()),
        mean_batch_size=float(size.mean()),
        mean_batching_delay_s=float((close[batch_of] - times).mean()),
        mean_broker_delay_s=float(
            (commit - config.commit_delay_s - ready)[batch_of].mean()
            + (ready - close)[batch_of].mean()
        ),
        mean_consumer_delay_s=float((finish - message_commit).mean()),
        broker_utilizations=(broker_busy / span).tolist(),
        consumer_utilizations=(consumer_busy / span).tolist(),
        mean_consumer_lag=float(lag.mean()),
        max_consumer_lag=int(lag[peak]),
        max_lag_at_s=float(grid[peak]),
        utilization=utilization,
        transient=transient,
        lag_series=lag,
        latencies=latency,
    )
