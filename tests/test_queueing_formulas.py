import math

import numpy as np
import pytest

from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.queueing import (
    AllenCunneenQueue,
    KingmanQueue,
    MG1Queue,
    MMcQueue,
    PriorityMG1Queue,
    md1_queue,
)


def test_mmc_thousand_servers_waiting_time():
    queue = MMcQueue(arrival_rate=990.0, service_rate=1.0, servers=1000)
    assert queue.p_wait == pytest.approx(0.659080421880854, abs=1e-12, rel=0)
    assert queue.mean_wait == pytest.approx(0.0659080421880854, abs=1e-13, rel=0)
    assert queue.wait_cdf(0.1) == pytest.approx(0.757537862711433, abs=1e-12, rel=0)


def test_mmc_one_server_closed_forms():
    queue = MMcQueue(0.9, 1.0, 1)
    assert queue.p_wait == pytest.approx(0.9, rel=1e-15)
    assert queue.mean_wait == pytest.approx(9.0, rel=1e-14)
    assert queue.mean_sojourn == pytest.approx(10.0, rel=1e-14)
    assert queue.mean_in_system == pytest.approx(9.0, rel=1e-14)
    # M/M/1 sojourn is exponential with rate μ - λ.
    assert queue.sojourn_cdf(3.0) == pytest.approx(1 - math.exp(-0.3), rel=1e-12)
    assert queue.sojourn_percentile(0.9) == pytest.approx(10 * math.log(10), rel=1e-10)


def test_mmc_two_servers_closed_form():
    # M/M/2: P(wait) = 2ρ² / (1 + ρ) with ρ = λ / 2μ.
    queue = MMcQueue(1.8, 1.0, 2)
    rho = 0.9
    assert queue.p_wait == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-14)
    assert queue.mean_queue_length == pytest.approx(
        2 * rho**3 / (1 - rho**2), rel=1e-13
    )


def test_mmc_wait_percentile_inverts_cdf():
    queue = MMcQueue(990.0, 1.0, 1000)
    for level in (0.5, 0.9, 0.99, 0.999):
        time = queue.wait_percentile(level)
        assert queue.wait_cdf(time) == pytest.approx(level, abs=1e-12)


def test_mmc_wait_percentile_zero_below_no_wait_mass():
    queue = MMcQueue(0.5, 1.0, 2)
    assert queue.wait_percentile(0.5) == 0.0


def test_mmc_sojourn_cdf_when_decay_equals_service_rate():
    # c μ - λ = μ: the sojourn is W + S with equal exponential rates.
    queue = MMcQueue(1.0, 1.0, 2)
    p_wait = queue.p_wait
    t = 1.7
    expected = 1 - math.exp(-t) * (1 + p_wait * t)
    assert queue.sojourn_cdf(t) == pytest.approx(expected, rel=1e-12)
    assert queue.sojourn_cdf(t + 1e-12) > queue.sojourn_cdf(t)


def test_mmc_sojourn_percentile_inverts_cdf():
    queue = MMcQueue(3.0, 1.0, 4)
    time = queue.sojourn_percentile(0.95)
    assert queue.sojourn_cdf(time) == pytest.approx(0.95, abs=1e-10)


def test_mmc_vectorized_over_arrival_rates():
    queue = MMcQueue(np.array([0.5, 1.0, 1.5]), 1.0, 2)
    single = MMcQueue(1.0, 1.0, 2)
    assert queue.mean_wait.shape == (3,)
    assert queue.mean_wait[1] == pytest.approx(single.mean_wait, rel=1e-15)


@pytest.mark.parametrize("arrival_rate", [2.0, 2.5])
def test_mmc_unstable_raises(arrival_rate):
    with pytest.raises(UnstableSystemError, match="M/M/c queue has no steady state"):
        MMcQueue(arrival_rate, 1.0, 2)


def test_mmc_rejects_bad_rate():
    with pytest.raises(ParameterError, match="service_rate must be positive"):
        MMcQueue(1.0, 0.0, 2)


def test_mmc_percentile_level_must_be_below_one():
    with pytest.raises(
        ParameterError, match=r"level must be a probability in \[0, 1\)"
    ):
        MMcQueue(1.0, 1.0, 2).wait_percentile(1.0)


def test_kingman_reduces_to_mm1():
    queue = KingmanQueue(0.9, 1.0, arrival_scv=1.0, service_scv=1.0)
    assert queue.mean_wait == pytest.approx(9.0, rel=1e-14)
    assert queue.mean_wait != pytest.approx(18.0)


def test_kingman_reduces_to_md1():
    queue = KingmanQueue(0.9, 1.0, arrival_scv=1.0, service_scv=0.0)
    assert queue.mean_wait == pytest.approx(4.5, rel=1e-14)
    assert queue.mean_wait == pytest.approx(md1_queue(0.9, 1.0).mean_wait, rel=1e-14)


def test_pollaczek_khinchine_md1_and_mm1():
    assert md1_queue(0.9, 1.0).mean_wait == pytest.approx(4.5, rel=1e-14)
    assert MG1Queue(0.9, 1.0, 1.0).mean_wait == pytest.approx(9.0, rel=1e-14)
    assert MG1Queue(0.9, 1.0, 1.0).mean_wait == pytest.approx(
        MMcQueue(0.9, 1.0, 1).mean_wait, rel=1e-14
    )


def test_pollaczek_khinchine_second_moment_form():
    # Uniform(0, 2) service: E[S] = 1, E[S²] = 4/3, c_s² = 1/3.
    queue = MG1Queue(0.5, 1.0, 1.0 / 3.0)
    assert queue.mean_wait == pytest.approx(0.5 * (4 / 3) / (2 * 0.5), rel=1e-14)
    assert queue.p_wait == pytest.approx(0.5)


def test_allen_cunneen_mm2_is_exact():
    queue = AllenCunneenQueue(1.8, 1.0, 2, arrival_scv=1.0, service_scv=1.0)
    assert queue.p_wait == pytest.approx(0.852631578947368, abs=1e-12, rel=0)
    assert queue.mean_wait == pytest.approx(4.263157894736843, abs=1e-12, rel=0)
    assert queue.mean_wait == pytest.approx(MMcQueue(1.8, 1.0, 2).mean_wait, rel=1e-14)


def test_allen_cunneen_md2():
    queue = AllenCunneenQueue(1.8, 1.0, 2, arrival_scv=1.0, service_scv=0.0)
    assert queue.mean_wait == pytest.approx(2.131578947368422, abs=1e-12, rel=0)


def test_allen_cunneen_one_server_is_kingman():
    ac = AllenCunneenQueue(0.7, 1.0, 1, arrival_scv=2.0, service_scv=0.5)
    kingman = KingmanQueue(0.7, 1.0, arrival_scv=2.0, service_scv=0.5)
    assert ac.mean_wait == pytest.approx(kingman.mean_wait, rel=1e-14)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MG1Queue(1.0, 1.0),
        lambda: md1_queue(2.0, 1.0),
        lambda: KingmanQueue(1.0, 1.0),
        lambda: AllenCunneenQueue(2.0, 1.0, 2),
        lambda: AllenCunneenQueue(np.array([1.0, 2.5]), 1.0, 2),
        lambda: PriorityMG1Queue((0.5, 0.5), (1.0, 1.0)),
        lambda: PriorityMG1Queue((0.5, 0.6), (1.0, 1.0), preemptive=True),
    ],
)
def test_every_formula_rejects_load_at_capacity(build):
    with pytest.raises(UnstableSystemError, match="no steady state"):
        build()


def test_priority_single_class_is_pollaczek_khinchine():
    for preemptive in (False, True):
        queue = PriorityMG1Queue((0.8,), (1.0,), 0.3, preemptive=preemptive)
        assert queue.mean_wait[0] == pytest.approx(MG1Queue(0.8, 1.0, 0.3).mean_wait)


def test_priority_non_preemptive_conservation_law():
    # Kleinrock's conservation law: Σ ρ_k W_k equals ρ W of the FCFS queue with the
    # same total workload.
    rates = np.array([0.2, 0.3, 0.25])
    means = np.array([0.5, 1.0, 1.5])
    scvs = np.array([1.0, 0.0, 2.0])
    queue = PriorityMG1Queue(rates, means, scvs)
    rho = (rates * means).sum()
    second = (rates * means**2 * (1 + scvs)).sum()
    fcfs_wait = second / (2 * (1 - rho))
    assert (rates * means * queue.mean_wait).sum() == pytest.approx(rho * fcfs_wait)


def test_priority_closed_form_two_classes():
    # Exponential service of mean 1, λ = (0.3, 0.4): R = 0.7, σ = (0.3, 0.7).
    queue = PriorityMG1Queue((0.3, 0.4), (1.0, 1.0))
    assert queue.mean_wait[0] == pytest.approx(0.7 / (1 * 0.7), rel=1e-14)
    assert queue.mean_wait[1] == pytest.approx(0.7 / (0.7 * 0.3), rel=1e-14)
    preemptive = PriorityMG1Queue((0.3, 0.4), (1.0, 1.0), preemptive=True)
    # Class 1 sees an M/M/1 queue of its own.
    assert preemptive.mean_sojourn[0] == pytest.approx(1 / (1 - 0.3), rel=1e-14)
    expected = 1 / 0.7 + 0.7 / (0.7 * 0.3)
    assert preemptive.mean_sojourn[1] == pytest.approx(expected, rel=1e-14)


def test_priority_rejects_mismatched_classes():
    with pytest.raises(ParameterError, match="one entry per class"):
        PriorityMG1Queue((0.1, 0.2), (1.0,))
    with pytest.raises(ParameterError, match="service_scvs has 3 entries for 2"):
        PriorityMG1Queue((0.1, 0.2), (1.0, 1.0), (1.0, 1.0, 1.0))


def test_results_never_exceed_probability_bounds_near_capacity():
    loads = np.linspace(0.01, 0.999999, 500)
    queue = MMcQueue(loads * 64, 1.0, 64)
    assert np.all(queue.p_wait <= 1.0)
    assert np.all(queue.p_wait >= 0.0)
    assert np.all(queue.mean_wait >= 0.0)
