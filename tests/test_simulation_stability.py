"""Simulations at or above capacity: rejected from distributions, flagged from data."""

import logging
import math

import numpy as np
import pytest
import scipy.stats

from muosm_perf.bus import BusConfig, simulate_bus
from muosm_perf.bus.load import MessageStream
from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.queueing.distributions import Deterministic, exponential
from muosm_perf.queueing.simulation import (
    simulate_open_network,
    simulate_priority_queue,
    simulate_queue,
    simulate_queue_from_arrivals,
)
from muosm_perf.queueing.stability import estimate_trace_utilization

SHORT = {"customers": 2_000, "replications": 2, "seed": 1}


def test_simulate_queue_rejects_overload():
    with pytest.raises(UnstableSystemError, match=r"G/G/1 queue has no steady state"):
        simulate_queue(exponential(1.2), exponential(1.0), 1, **SHORT)


def test_simulate_queue_message_names_values():
    with pytest.raises(
        UnstableSystemError, match=r"= 1 / \(1 × 0\.833333\) = 1\.2, at or above 1"
    ):
        simulate_queue(exponential(1.2), exponential(1.0), 1, **SHORT)


def test_simulate_queue_rejects_exact_capacity():
    with pytest.raises(UnstableSystemError, match=r"G/G/3 queue .* = 1, at or above"):
        simulate_queue(Deterministic(1.0), Deterministic(3.0), 3, **SHORT)


def test_simulate_queue_below_capacity_records_utilization():
    result = simulate_queue(exponential(2.4), exponential(1.0), 3, **SHORT)
    assert result.utilization == pytest.approx(0.8)
    assert result.transient is False
    assert result.summary()["utilization"] == pytest.approx(0.8)


def test_simulate_queue_infinite_service_mean_rejected():
    # Pareto with shape 1 has an infinite mean, so no load is sustainable.
    with pytest.raises(UnstableSystemError, match="utilization"):
        simulate_queue(exponential(0.1), scipy.stats.pareto(1.0), 1, **SHORT)


def test_simulate_queue_undefined_mean_rejected():
    with pytest.raises(ParameterError, match="service distribution has mean nan"):
        simulate_queue(exponential(0.5), scipy.stats.cauchy(), 1, **SHORT)


def test_simulate_priority_rejects_overload():
    services = [exponential(1.0), Deterministic(1.0)]
    with pytest.raises(
        UnstableSystemError, match=r"priority queue .* = 0\.6 \+ 0\.5 = 1\.1"
    ):
        simulate_priority_queue([0.6, 0.5], services, **SHORT)


def test_simulate_priority_records_utilization():
    services = [exponential(2.0), Deterministic(1.0)]
    result = simulate_priority_queue([0.4, 0.3], services, **SHORT)
    assert result.utilization == pytest.approx(0.5)


def test_simulate_network_rejects_overloaded_node():
    # The traffic equations give λ = (2, 2), so node 1, with a mean service time
    # of 0.6, has ρ = 1.2 on one server and 0.6 on two.
    routing = [[0.0, 1.0], [0.5, 0.0]]
    with pytest.raises(
        UnstableSystemError, match=r"at node 1 = 2 × 0\.6 / 1 = 1\.2, at or above 1"
    ):
        simulate_open_network(
            [1.0, 0.0], routing, [5.0, 1 / 0.6], jobs=500, replications=2, seed=1
        )


def test_simulate_network_multi_server_node_is_stable():
    routing = [[0.0, 1.0], [0.5, 0.0]]
    result = simulate_open_network(
        [1.0, 0.0], routing, [5.0, 1 / 0.6], [1, 2], jobs=500, replications=2, seed=1
    )
    assert result.utilizations == pytest.approx([0.4, 0.6])


def test_trace_utilization_estimate():
    arrivals = np.array([0.0, 1.0, 2.0, 3.0])
    services = np.full(4, 1.5)
    assert estimate_trace_utilization(arrivals, services, 1) == pytest.approx(1.5)
    assert estimate_trace_utilization(arrivals, services, 2) == pytest.approx(0.75)


def test_trace_utilization_edge_cases():
    assert estimate_trace_utilization(np.array([2.0]), np.array([1.0]), 1) is None
    same = np.array([2.0, 2.0])
    assert estimate_trace_utilization(same, np.array([1.0, 1.0]), 1) == math.inf


def test_trace_driven_overload_is_transient(caplog):
    rng = np.random.default_rng(3)
    arrivals = np.cumsum(rng.exponential(1 / 1.2, 20_000))
    with caplog.at_level(logging.WARNING, logger="muosm_perf.queueing.stability"):
        result = simulate_queue_from_arrivals(arrivals, exponential(1.0), seed=4)
    assert result.transient is True
    assert result.utilization == pytest.approx(1.2, rel=0.05)
    assert result.summary()["transient"] is True
    assert "marked transient" in caplog.text


def test_trace_driven_stable_is_not_transient(caplog):
    rng = np.random.default_rng(5)
    arrivals = np.cumsum(rng.exponential(1 / 0.6, 20_000))
    with caplog.at_level(logging.WARNING):
        result = simulate_queue_from_arrivals(arrivals, exponential(1.0), seed=6)
    assert result.transient is False
    assert result.utilization == pytest.approx(0.6, rel=0.05)
    assert "transient" not in caplog.text


def test_trace_driven_recorded_services_give_exact_estimate():
    arrivals = np.arange(100, dtype=float)
    services = np.full(100, 2.0)
    result = simulate_queue_from_arrivals(arrivals, services, 2, batches=5)
    assert result.utilization == pytest.approx(1.0)
    assert result.transient is True


def _even_stream(messages: int, duration_s: float) -> MessageStream:
    times = np.linspace(0.0, duration_s, messages)
    return MessageStream(times, [None] * messages, 0)


def test_bus_simulation_flags_overloaded_consumer(caplog):
    config = BusConfig(
        partitions=1,
        brokers=1,
        replication_factor=1,
        consumers=1,
        consumer_per_message_s=0.2,
        consumer_service_scv=0.0,
    )
    with caplog.at_level(logging.WARNING):
        run = simulate_bus(_even_stream(1_001, 100.0), config, seed=1)
    # 1,001 messages of 0.2 s each over 100 s: the consumer is 2.002 times over.
    assert run.utilization == pytest.approx(2.002)
    assert run.transient is True
    assert run.as_dict()["transient"] is True
    assert "simulated message bus" in caplog.text


def test_bus_simulation_stable_not_transient():
    config = BusConfig(consumer_per_message_s=0.01, consumer_service_scv=0.0)
    run = simulate_bus(_even_stream(1_001, 100.0), config, seed=1)
    assert run.transient is False
    assert run.utilization < 1
