"""Slow statistical verification of the queueing formulas, with QQ plots.

Run with ``pytest -m slow``. The plots go to the folder named by the environment
variable MUOSM_VERIFICATION_DIR, or to pytest's temporary folder.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from muosm_perf.queueing import (
    AllenCunneenQueue,
    JacksonNetwork,
    KingmanQueue,
    MG1Queue,
    MMcQueue,
)
from muosm_perf.queueing.distributions import Deterministic, exponential
from muosm_perf.queueing.simulation import simulate_open_network, simulate_queue
from muosm_perf.report.qq import draw_qq_plot, qq_points

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plot_folder(tmp_path_factory):
    chosen = os.environ.get("MUOSM_VERIFICATION_DIR")
    if chosen:
        return Path(chosen)
    return tmp_path_factory.mktemp("queueing-verification")


def test_mm1_interval_coverage_over_many_seeds():
    # 100 independent 99% intervals: the count that covers the exact mean wait is
    # Binomial(100, 0.99) if the intervals are right; P(count < 95) is below 1e-3.
    exact = MMcQueue(0.8, 1.0, 1).mean_wait
    covered = 0
    for seed in range(100):
        result = simulate_queue(
            exponential(0.8),
            exponential(1.0),
            customers=40_000,
            replications=10,
            warmup=2_000,
            seed=1000 + seed,
        )
        covered += result.mean_wait.contains(exact)
    assert covered >= 95


@pytest.mark.parametrize(("arrival_rate", "servers"), [(0.9, 1), (2.7, 3), (60.0, 64)])
def test_mmc_waiting_time_distribution(arrival_rate, servers, plot_folder):
    queue = MMcQueue(arrival_rate, 1.0, servers)
    result = simulate_queue(
        exponential(arrival_rate),
        exponential(1.0),
        servers,
        customers=2_000_000,
        replications=1,
        warmup=100_000,
        seed=2000 + servers,
        keep_waits=True,
    )
    waits = result.waits
    # Every 200th wait is close to independent at these loads.
    thinned = waits[::200]
    positive = thinned[thinned > 0]
    decay = servers * 1.0 - arrival_rate
    ks = scipy.stats.kstest(positive, scipy.stats.expon(scale=1 / decay).cdf)
    assert ks.pvalue > 1e-3, ks
    assert (waits > 0).mean() == pytest.approx(queue.p_wait, abs=0.02)

    model, observed = qq_points(waits[waits > 0], lambda q: -np.log1p(-q) / decay)
    upper = model < np.quantile(model, 0.95)
    np.testing.assert_allclose(observed[upper], model[upper], rtol=0.1, atol=0.02)
    path = draw_qq_plot(
        waits,
        lambda q: queue.wait_percentile(np.minimum(q, 1 - 1e-12)),
        plot_folder / f"qq_mmc_{servers}_servers.png",
        title=f"M/M/{servers} wait, ρ = {queue.utilization:.3f}",
        model_label="exact quantile (Erlang C)",
        sample_label="simulated quantile",
    )
    assert path.stat().st_size > 0


@pytest.mark.parametrize("load", [0.3, 0.6, 0.9])
def test_md1_mean_wait_across_loads(load):
    result = simulate_queue(
        exponential(load),
        Deterministic(1.0),
        customers=400_000,
        replications=20,
        warmup=20_000,
        seed=3000,
    )
    assert result.mean_wait.contains(MG1Queue(load, 1.0, 0.0).mean_wait)


def test_mg1_lognormal_service_and_sojourn_qq(plot_folder):
    service = scipy.stats.lognorm(s=1.0, scale=np.exp(-0.5))
    scv = service.var() / service.mean() ** 2
    queue = MG1Queue(0.5, service.mean(), scv)
    result = simulate_queue(
        exponential(0.5),
        service,
        customers=500_000,
        replications=20,
        warmup=20_000,
        seed=3100,
        keep_waits=True,
    )
    assert result.mean_wait.contains(queue.mean_wait)
    draw_qq_plot(
        result.waits[result.waits > 0],
        scipy.stats.expon(scale=queue.mean_wait / queue.p_wait).ppf,
        plot_folder / "qq_mg1_lognormal_vs_exponential_tail.png",
        title="M/G/1 lognormal service: wait given wait > 0",
        model_label="exponential with the same mean",
    )


def test_heavy_traffic_approximations_within_ten_percent():
    # Kingman and Allen-Cunneen are approximations; at ρ = 0.95 with gamma
    # inter-arrival times (c_a² = 0.5) they should be within 10% of simulation.
    gaps = scipy.stats.gamma(a=2.0, scale=0.5 / 0.95)
    one = simulate_queue(
        gaps,
        exponential(1.0),
        customers=1_000_000,
        replications=20,
        warmup=50_000,
        seed=3200,
    )
    kingman = KingmanQueue(0.95, 1.0, 0.5, 1.0).mean_wait
    assert abs(one.mean_wait.mean - kingman) < 0.1 * kingman

    gaps = scipy.stats.gamma(a=2.0, scale=0.5 / 3.8)
    four = simulate_queue(
        gaps,
        exponential(1.0),
        4,
        customers=1_000_000,
        replications=20,
        warmup=50_000,
        seed=3300,
    )
    allen_cunneen = AllenCunneenQueue(3.8, 1.0, 4, 0.5, 1.0).mean_wait
    assert abs(four.mean_wait.mean - allen_cunneen) < 0.1 * allen_cunneen


def test_jackson_network_at_high_load():
    gamma = [0.6, 0.2]
    routing = [[0.0, 0.7], [0.35, 0.0]]
    rates = [1.0, 1.0]
    network = JacksonNetwork(gamma, routing, rates, [1, 1])
    assert max(network.utilizations) > 0.85
    result = simulate_open_network(
        gamma,
        routing,
        rates,
        [1, 1],
        jobs=400_000,
        replications=20,
        warmup=20_000,
        seed=3400,
    )
    assert result.mean_network_sojourn.contains(network.mean_network_sojourn)
