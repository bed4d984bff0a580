"""Analytic prediction of the bus under Poisson load.

Assumptions, beyond those of :mod:`muosm_perf.bus.config`:

- messages arrive as a Poisson stream of ``rate`` per second, so every partition
  receives an independent Poisson stream of rate / partitions;
- batching is computed exactly for Poisson arrivals. A batch opened at time 0
  closes at T = min(linger, S_{B-1}), S_j being the j-th later arrival, so with
  A ~ Poisson(λ_p linger) the size is N = 1 + min(B - 1, A), and the summed wait
  of a batch's messages is E[∫_0^T (1 + A(t)) dt] = Σ_{k=0}^{B-2} (k + 1)
  P(Gamma(k + 1, λ_p) <= linger) / λ_p; the mean batching delay is its ratio to
  E[N] (renewal-reward);
- the batches reaching a broker, and the batches reaching a consumer, form
  Poisson streams (an approximation: a partition's batches are more regular);
- a broker is an M/G/1 queue of batches with service o + m N (Pollaczek-Khinchine),
  and every message of a batch waits for the batch's whole append;
- a consumer is an M^X/G/1 queue: batches of N messages arrive together, so a
  message also waits behind the messages ahead of it in its batch:
  E[W] = ρ E[S²] / (2 E[S] (1 - ρ)) + E[S] (E[N²] - E[N]) / (2 E[N] (1 - ρ))
  (Gross, Shortle, Thompson and Harris, *Fundamentals of Queueing Theory*, 4th
  ed., 2008, §5.1.7 on bulk arrivals);
- latency percentiles come from sampling the sum of independent components: the
  batching delay at its mean, the broker append at its mean, queue waits that are
  0 with probability 1 - P(wait) and otherwise exponential with the conditional
  mean (exact for M/M/1 only), and the consumer's own processing time (gamma with
  the configured mean and c², exponential for c² = 1). P(wait) is ρ at a broker
  and 1 - (1 - ρ) / E[N] at a consumer (busy, or not first in its batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

from muosm_perf.bus.config import BusConfig
from muosm_perf.errors import ParameterError, UnstableSystemError

PERCENTILE_LEVELS = (0.5, 0.9, 0.99, 0.999)
"""Latency quantiles reported by the predictions and simulations."""

SAMPLED_MESSAGES = 200_000
"""Draws used to turn the analytic components into latency percentiles."""


@dataclass(frozen=True)
class BatchFigures:
    """Batch size moments and mean batching delay of one partition."""

    mean_size: float
    mean_square_size: float
    mean_delay_s: float


def batch_figures(
    partition_rate: float, max_messages: int, linger_s: float
) -> BatchFigures:
    """Return the batch figures of a partition receiving Poisson ``partition_rate``."""
    if max_messages == 1 or linger_s == 0 or partition_rate == 0:
        return BatchFigures(1.0, 1.0, 0.0)
    m = max_messages - 1
    expected = partition_rate * linger_s
    k = np.arange(m)
    survival = scipy.stats.poisson.sf(k, expected)
    extra_mean = float(survival.sum())
    pmf = scipy.stats.poisson.pmf(k, expected)
    extra_square = float(
        (k**2 * pmf).sum() + m**2 * scipy.stats.poisson.sf(m - 1, expected)
    )
    mean_size = 1.0 + extra_mean
    mean_square = 1.0 + 2.0 * extra_mean + extra_square
    total_wait = float(
        ((k + 1) * scipy.special.gammainc(k + 1, expected)).sum() / partition_rate
    )
    return BatchFigures(mean_size, mean_square, total_wait / mean_size)


def _consumer_partitions(config: BusConfig) -> np.ndarray:
    counts = np.zeros(config.consumers, np.int64)
    for p in range(config.partitions):
        counts[config.consumer(p)] += 1
    return counts


def _broker_partitions(config: BusConfig, failed: int | None = None) -> np.ndarray:
    counts = np.zeros(config.brokers, np.int64)
    for p in range(config.partitions):
        leader = config.leader(p)
        if failed is not None and leader == failed:
            leader = config.follower(p)
        counts[leader] += 1
    return counts


def utilizations(rate: float, config: BusConfig, failed: int | None = None) -> dict:
    """Return broker and consumer utilizations at ``rate`` messages per second."""
    partition_rate = rate / config.partitions
    batch = batch_figures(partition_rate, config.batch_max_messages, config.linger_s)
    append = (
        config.broker_batch_overhead_s + config.broker_per_message_s * batch.mean_size
    )
    brokers = (
        _broker_partitions(config, failed) * partition_rate / batch.mean_size * append
    )
    consumers = (
        _consumer_partitions(config) * partition_rate * config.consumer_per_message_s
    )
    return {
        "brokers": brokers,
        "consumers": consumers,
        "batch": batch,
        "append": append,
    }


def saturation_rate(config: BusConfig, failed: int | None = None) -> float:
    """Return the message rate at which the busiest broker or consumer reaches ρ = 1.

    With full batches a broker leading k partitions saturates at
    P B / (k (o + m B)) messages per second, and a consumer reading n partitions at
    P / (n s). Partly filled batches make brokers saturate sooner, so the rate is
    found by root finding on the busiest utilization with the exact batch sizes.
    """
    brokers = _broker_partitions(config, failed)
    consumers = _consumer_partitions(config)
    b = config.batch_max_messages
    append_full = config.broker_batch_overhead_s + config.broker_per_message_s * b
    bounds = [
        config.partitions / (n * config.consumer_per_message_s) for n in consumers if n
    ]
    if append_full > 0:
        bounds += [config.partitions * b / (k * append_full) for k in brokers if k]
    upper = min(bounds)

    def busiest(rate: float) -> float:
        figures = utilizations(rate, config, failed)
        return max(figures["brokers"].max(), figures["consumers"].max()) - 1.0

    if busiest(upper) < 0:
        return upper
    return float(
        scipy.optimize.brentq(busiest, upper * 1e-9, upper, xtol=upper * 1e-10)
    )


@dataclass(frozen=True)
class BusPrediction:
    """Analytic figures of the bus at one message rate (seconds, messages)."""

    rate: float
    saturation_rate: float
    mean_batch_size: float
    mean_batching_delay_s: float
    broker_utilizations: list[float]
    consumer_utilizations: list[float]
    mean_broker_delay_s: float
    mean_consumer_delay_s: float
    mean_latency_s: float
    latency_percentiles_s: dict
    mean_consumer_lag: float
    assumptions: str = field(default=__doc__, repr=False)

    def as_dict(self) -> dict:
        """Return the figures as a JSON-ready dictionary (without the assumptions)."""
        return {
            "rate": self.rate,
            "saturation_rate": self.saturation_rate,
            "mean_batch_size": self.mean_batch_size,
            "mean_batching_delay_s": self.mean_batching_delay_s,
            "broker_utilizations": self.broker_utilizations,
            "consumer_utilizations": self.consumer_utilizations,
            "mean_broker_delay_s": self.mean_broker_delay_s,
            "mean_consumer_delay_s": self.mean_consumer_delay_s,
            "mean_latency_s": self.mean_latency_s,
            "latency_percentiles_s": self.latency_percentiles_s,
            "mean_consumer_lag": self.mean_consumer_lag,
        }


def _sample_service(
    config: BusConfig, size: int, rng: np.random.Generator
) -> np.ndarray:
    mean = config.consumer_per_message_s
    scv = config.consumer_service_scv
    if scv == 0:
        return np.full(size, mean)
    return rng.gamma(1.0 / scv, mean * scv, size)


def predict_bus(
    rate: float, config: BusConfig, *, failed: int | None = None, seed: int | None = 0
) -> BusPrediction:
    """Predict delivery latency, consumer lag and saturation at Poisson ``rate``.

    Parameters
    ----------
    rate
        Messages per second offered to the bus, > 0.
    config
        The bus.
    failed
        A broker whose partitions are led by their followers (steady state during
        a long outage), or None.
    seed
        Seed for sampling the latency percentiles.

    Raises
    ------
    UnstableSystemError
        If ``rate`` is at or above the saturation rate.
    """
    if not rate > 0:
        raise ParameterError(f"rate must be > 0 messages per second, got {rate!r}")
    saturation = saturation_rate(config, failed)
    if rate >= saturation:
        raise UnstableSystemError(
            f"the bus has no steady state at {rate:.6g} messages/s: it saturates at "
            f"{saturation:.6g} messages/s; add partitions, consumers or brokers, or "
            "lower the load"
        )
    figures = utilizations(rate, config, failed)
    batch: BatchFigures = figures["batch"]
    append = figures["append"]
    partition_rate = rate / config.partitions
    o, m = config.broker_batch_overhead_s, config.broker_per_message_s
    append_square = o * o + 2 * o * m * batch.mean_size + m * m * batch.mean_square_size

    broker_rho = figures["brokers"]
    broker_batch_rate = (
        _broker_partitions(config, failed) * partition_rate / batch.mean_size
    )
    broker_wait = broker_batch_rate * append_square / (2.0 * (1.0 - broker_rho))

    s = config.consumer_per_message_s
    s_square = s * s * (1.0 + config.consumer_service_scv)
    consumer_rho = figures["consumers"]
    consumer_wait = consumer_rho * s_square / (2.0 * s * (1.0 - consumer_rho)) + s * (
        batch.mean_square_size - batch.mean_size
    ) / (2.0 * batch.mean_size * (1.0 - consumer_rho))

    leaders = np.array(
        [
            config.follower(p)
            if failed is not None and config.leader(p) == failed
            else config.leader(p)
            for p in range(config.partitions)
        ]
    )
    readers = np.array([config.consumer(p) for p in range(config.partitions)])
    broker_delay = float((broker_wait[leaders] + append).mean())
    consumer_delay = float((consumer_wait[readers] + s).mean())
    mean_latency = (
        batch.mean_delay_s + broker_delay + config.commit_delay_s + consumer_delay
    )

    rng = np.random.default_rng(seed)
    partitions = rng.integers(config.partitions, size=SAMPLED_MESSAGES)
    broker_p = broker_rho[leaders[partitions]]
    broker_tail = broker_wait[leaders[partitions]] / np.maximum(broker_p, 1e-300)
    consumer_p = 1.0 - (1.0 - consumer_rho[readers[partitions]]) / batch.mean_size
    consumer_tail = consumer_wait[readers[partitions]] / np.maximum(consumer_p, 1e-300)
    latency = (
        batch.mean_delay_s
        + append
        + config.commit_delay_s
        + np.where(
            rng.random(SAMPLED_MESSAGES) < broker_p, rng.exponential(broker_tail), 0.0
        )
        + np.where(
            rng.random(SAMPLED_MESSAGES) < consumer_p,
            rng.exponential(consumer_tail),
            0.0,
        )
        + _sample_service(config, SAMPLED_MESSAGES, rng)
    )
    percentiles = {
        f"p{100 * q:g}": float(np.quantile(latency, q)) for q in PERCENTILE_LEVELS
    }
    lag = float(
        (_consumer_partitions(config) * partition_rate * (consumer_wait + s)).sum()
    )
    return BusPrediction(
        rate=rate,
        saturation_rate=saturation,
        mean_batch_size=batch.mean_size,
        mean_batching_delay_s=batch.mean_delay_s,
        broker_utilizations=broker_rho.tolist(),
        consumer_utilizations=consumer_rho.tolist(),
        mean_broker_delay_s=broker_delay,
        mean_consumer_delay_s=consumer_delay,
        mean_latency_s=mean_latency,
        latency_percentiles_s=percentiles,
        mean_consumer_lag=lag,
    )
