"""What-if studies of the bus: partition count, and a broker unavailable for a while."""

from __future__ import annotations

import dataclasses

import numpy as np

from muosm_perf.bus.analytic import predict_bus, saturation_rate
from muosm_perf.bus.config import BrokerOutage, BusConfig
from muosm_perf.bus.load import MessageStream
from muosm_perf.bus.simulate import simulate_bus
from muosm_perf.errors import UnstableSystemError


def sweep_partitions(
    stream: MessageStream,
    config: BusConfig,
    partition_counts: list[int],
    *,
    seed: int | None = 0,
) -> list[dict]:
    """Predict and simulate the bus for each partition count, all else equal.

    Returns one row per count with the saturation rate, the analytic p99 latency at
    the stream's mean rate (None when that rate saturates the bus), and the
    simulated p99 latency and maximum consumer lag of the stream itself.
    ``simulated_transient`` is set where the stream overloads a station (see
    :class:`~muosm_perf.bus.simulate.BusSimulation`).
    """
    rows = []
    for count in partition_counts:
        variant = dataclasses.replace(config, partitions=int(count))
        try:
            analytic_p99 = predict_bus(stream.mean_rate, variant, seed=seed)
            analytic = analytic_p99.latency_percentiles_s["p99"]
        except UnstableSystemError:
            analytic = None
        simulated = simulate_bus(stream, variant, seed=seed)
        rows.append(
            {
                "partitions": int(count),
                "saturation_rate": saturation_rate(variant),
                "analytic_p99_latency_s": analytic,
                "simulated_p99_latency_s": simulated.latency_percentiles_s["p99"],
                "simulated_max_consumer_lag": simulated.max_consumer_lag,
                "simulated_transient": simulated.transient,
            }
        )
    return rows


def outage_impact(
    stream: MessageStream,
    config: BusConfig,
    outage: BrokerOutage,
    *,
    seed: int | None = 0,
) -> dict:
    """Compare the bus with and without ``outage`` on the same stream and seed.

    Returns the latency figures of messages sent during the outage in both runs,
    the maximum consumer lag in both, and the saturation rate while the failed
    broker's partitions are led by their followers.
    """
    base = simulate_bus(stream, dataclasses.replace(config, outage=None), seed=seed)
    hit = simulate_bus(stream, dataclasses.replace(config, outage=outage), seed=seed)
    during = (stream.times_s >= outage.start_s) & (
        stream.times_s < outage.start_s + outage.duration_s
    )

    def window(latencies: np.ndarray) -> dict:
        if not during.any():
            return {"messages": 0}
        values = latencies[during]
        return {
            "messages": int(values.size),
            "mean_latency_s": float(values.mean()),
            "p99_latency_s": float(np.quantile(values, 0.99)),
            "max_latency_s": float(values.max()),
        }

    return {
        "outage": dataclasses.asdict(outage),
        "without_outage": window(base.latencies),
        "with_outage": window(hit.latencies),
        "max_consumer_lag_without": base.max_consumer_lag,
        "max_consumer_lag_with": hit.max_consumer_lag,
        "saturation_rate_after_failover": saturation_rate(config, failed=outage.broker),
    }
