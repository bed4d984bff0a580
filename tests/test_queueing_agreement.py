"""Formulas against simulation where the formula is exact.

Each simulation uses 10 independent replications of 100,000 to 400,000 customers
(5,000 of them warm-up) and a 99% Student t interval over the replication means.
The formula must lie inside the interval, and the interval must be narrow
(half-width under 6% of the value) so that a wrong formula, such as Kingman
without the factor 1/2 (100% off), falls outside it. The seeds are fixed, so the
outcome is reproducible.
"""

import numpy as np
import pytest
import scipy.stats

from muosm_perf.kernels.queue_sim import simulate_ggc_waits
from muosm_perf.queueing import JacksonNetwork, MG1Queue, MMcQueue, PriorityMG1Queue
from muosm_perf.queueing.distributions import Deterministic, exponential
from muosm_perf.queueing.simulation import (
    BLOCK_CUSTOMERS,
    simulate_open_network,
    simulate_priority_queue,
    simulate_queue,
    simulate_queue_from_arrivals,
)

RUN = {"customers": 100_000, "replications": 10, "warmup": 5_000}
MAX_RELATIVE_HALF_WIDTH = 0.06


def _assert_agrees(estimate, exact):
    assert estimate.contains(exact), (estimate, exact)
    assert estimate.half_width < MAX_RELATIVE_HALF_WIDTH * exact, estimate


@pytest.mark.parametrize(
    ("arrival_rate", "servers", "customers"),
    [(0.7, 1, 200_000), (2.4, 3, 200_000), (14.0, 16, 400_000)],
)
def test_mmc_against_simulation(arrival_rate, servers, customers):
    queue = MMcQueue(arrival_rate, 1.0, servers)
    result = simulate_queue(
        exponential(arrival_rate),
        exponential(1.0),
        servers,
        customers=customers,
        replications=10,
        warmup=5_000,
        seed=101,
    )
    _assert_agrees(result.mean_wait, queue.mean_wait)
    _assert_agrees(result.p_wait, queue.p_wait)
    _assert_agrees(result.mean_sojourn, queue.mean_sojourn)


def test_md1_against_simulation():
    queue = MG1Queue(0.7, 1.0, 0.0)
    result = simulate_queue(exponential(0.7), Deterministic(1.0), 1, seed=102, **RUN)
    _assert_agrees(result.mean_wait, queue.mean_wait)
    _assert_agrees(result.p_wait, queue.p_wait)


def test_mg1_gamma_service_against_simulation():
    # Gamma service with shape 0.5 and mean 1 has c_s² = 2.
    service = scipy.stats.gamma(a=0.5, scale=2.0)
    queue = MG1Queue(0.6, 1.0, 2.0)
    result = simulate_queue(exponential(0.6), service, 1, seed=103, **RUN)
    _assert_agrees(result.mean_wait, queue.mean_wait)


def test_kingman_without_half_is_rejected_by_simulation():
    result = simulate_queue(exponential(0.7), exponential(1.0), 1, seed=104, **RUN)
    wrong = 0.7 / 0.3 * 2.0
    assert not result.mean_wait.contains(wrong)


@pytest.mark.parametrize("preemptive", [False, True])
def test_priority_against_simulation(preemptive):
    rates = (0.2, 0.3, 0.25)
    services = [exponential(2.0), Deterministic(1.0), exponential(1.0)]
    queue = PriorityMG1Queue(rates, (0.5, 1.0, 1.0), (1.0, 0.0, 1.0), preemptive)
    result = simulate_priority_queue(
        rates, services, preemptive=preemptive, seed=105, **RUN
    )
    for k in range(3):
        estimate = result.mean_wait[k]
        assert estimate.contains(queue.mean_wait[k]), (k, estimate)
        assert estimate.half_width < 0.05 * queue.mean_wait[k]


def test_jackson_against_simulation():
    gamma = [1.0, 0.5, 0.0]
    routing = [[0.0, 0.4, 0.3], [0.2, 0.0, 0.5], [0.1, 0.0, 0.0]]
    rates = [3.0, 2.5, 1.0]
    servers = [1, 1, 2]
    network = JacksonNetwork(gamma, routing, rates, servers)
    result = simulate_open_network(
        gamma,
        routing,
        rates,
        servers,
        jobs=60_000,
        replications=10,
        warmup=3_000,
        seed=106,
    )
    for i in range(3):
        assert result.mean_wait[i].contains(network.mean_waits[i]), i
    assert result.mean_network_sojourn.contains(network.mean_network_sojourn)
    assert result.mean_network_sojourn.half_width < 0.03 * network.mean_network_sojourn


def test_trace_driven_poisson_arrivals_match_mm1():
    rng = np.random.default_rng(107)
    arrivals = np.cumsum(rng.exponential(1 / 0.6, 1_000_000))
    result = simulate_queue_from_arrivals(
        arrivals, exponential(1.0), 1, warmup=10_000, batches=20, seed=108
    )
    _assert_agrees(result.mean_wait, MMcQueue(0.6, 1.0, 1).mean_wait)


def test_block_boundaries_do_not_change_waits():
    # A run of 3 blocks must give the waits of one kernel call over all customers,
    # drawn from the same stream in the same block order.
    customers = 2 * BLOCK_CUSTOMERS + 1000
    result = simulate_queue(
        exponential(2.7),
        exponential(1.0),
        3,
        customers=customers,
        replications=1,
        warmup=10,
        seed=5,
        keep_waits=True,
    )
    rng = np.random.default_rng(np.random.SeedSequence(5).spawn(1)[0])
    gaps, services = [], []
    for offset in range(0, customers, BLOCK_CUSTOMERS):
        size = min(BLOCK_CUSTOMERS, customers - offset)
        gaps.append(exponential(2.7).rvs(size, rng))
        services.append(exponential(1.0).rvs(size, rng))
    waits = simulate_ggc_waits(
        np.cumsum(np.concatenate(gaps)), np.concatenate(services), 3
    )
    np.testing.assert_allclose(result.waits, waits[10:], rtol=1e-12, atol=1e-9)
    assert result.mean_wait.mean == pytest.approx(waits[10:].mean(), rel=1e-12)


def test_simulation_records_seed_and_versions():
    result = simulate_queue(
        exponential(0.5), exponential(1.0), customers=1000, replications=2, seed=7
    )
    assert result.metadata["seed"] == 7
    assert "numba" in result.metadata["versions"]
    again = simulate_queue(
        exponential(0.5), exponential(1.0), customers=1000, replications=2, seed=7
    )
    assert again.mean_wait == result.mean_wait
