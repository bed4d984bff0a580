import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muosm_perf.errors import ParameterError
from muosm_perf.kernels.network_sim import (
    STATUS_OK,
    STATUS_ROUTING_POOL_EMPTY,
    run_open_network,
)
from muosm_perf.kernels.priority_sim import simulate_priority_departures
from muosm_perf.kernels.queue_sim import (
    simulate_gg1_waits,
    simulate_ggc_waits,
    simulate_tandem_waits,
)
from muosm_perf.kernels.reference import network_sim as network_reference
from muosm_perf.kernels.reference import priority_sim as priority_reference
from muosm_perf.kernels.reference import queue_sim as queue_reference

# Small integer-valued times make ties frequent and keep float arithmetic exact.
gaps = st.lists(st.integers(0, 4), min_size=0, max_size=40)


def _customers(gap_list, service_list):
    arrivals = np.cumsum(np.array(gap_list, dtype=float))
    services = np.array(service_list[: len(gap_list)], dtype=float)
    services = np.pad(services, (0, len(gap_list) - len(services)), constant_values=1)
    return arrivals, services


@settings(max_examples=200, deadline=None)
@given(gaps, st.lists(st.integers(0, 9), max_size=40))
def test_lindley_matches_reference(gap_list, service_list):
    arrivals, services = _customers(gap_list, service_list)
    expected = queue_reference.gg1_waits(arrivals.tolist(), services.tolist())
    assert simulate_gg1_waits(arrivals, services).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(gaps, st.lists(st.integers(0, 30), max_size=40), st.integers(1, 12))
def test_kiefer_wolfowitz_matches_reference(gap_list, service_list, servers):
    arrivals, services = _customers(gap_list, service_list)
    expected = queue_reference.ggc_waits(arrivals.tolist(), services.tolist(), servers)
    assert simulate_ggc_waits(arrivals, services, servers).tolist() == expected


def test_ggc_float_times_match_reference():
    rng = np.random.default_rng(11)
    arrivals = np.cumsum(rng.exponential(1.0, 3000))
    services = rng.exponential(70.0, 3000)
    expected = queue_reference.ggc_waits(arrivals.tolist(), services.tolist(), 80)
    result = simulate_ggc_waits(arrivals, services, 80)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-9)


def test_heap_kernel_many_servers_matches_reference():
    # Above 256 servers the kernel switches from the sorted vector to the heap.
    rng = np.random.default_rng(12)
    arrivals = np.cumsum(rng.exponential(1.0, 3000))
    services = rng.exponential(280.0, 3000)
    expected = queue_reference.ggc_waits(arrivals.tolist(), services.tolist(), 300)
    result = simulate_ggc_waits(arrivals, services, 300)
    assert (result > 0).any()
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(gaps, st.lists(st.integers(0, 3000), max_size=40))
def test_heap_kernel_with_ties_matches_reference(gap_list, service_list):
    arrivals, services = _customers(gap_list, service_list)
    expected = queue_reference.ggc_waits(arrivals.tolist(), services.tolist(), 260)
    assert simulate_ggc_waits(arrivals, services, 260).tolist() == expected


def test_queue_kernels_empty_input():
    assert simulate_gg1_waits([], []).shape == (0,)
    assert simulate_ggc_waits([], [], 4).shape == (0,)


def test_queue_kernels_one_customer():
    assert simulate_gg1_waits([5.0], [2.0]).tolist() == [0.0]
    assert simulate_ggc_waits([5.0], [2.0], 3).tolist() == [0.0]


def test_queue_kernels_simultaneous_arrivals():
    # Three customers at one instant and two servers: the third waits for the
    # shorter of the first two services.
    waits = simulate_ggc_waits([1.0, 1.0, 1.0], [4.0, 2.0, 1.0], 2)
    assert waits.tolist() == [0.0, 0.0, 2.0]
    assert simulate_gg1_waits([1.0, 1.0, 1.0], [4.0, 2.0, 1.0]).tolist() == [
        0.0,
        4.0,
        6.0,
    ]


def test_ggc_with_one_server_is_lindley():
    rng = np.random.default_rng(2)
    arrivals = np.cumsum(rng.exponential(1.0, 500))
    services = rng.exponential(0.9, 500)
    assert np.array_equal(
        simulate_ggc_waits(arrivals, services, 1),
        simulate_gg1_waits(arrivals, services),
    )


def test_queue_kernels_reject_decreasing_arrivals():
    with pytest.raises(ParameterError, match=r"arrival_times\[2\] = 1\.0 is before"):
        simulate_gg1_waits([0.0, 2.0, 1.0], [1.0, 1.0, 1.0])


def test_queue_kernels_reject_negative_service():
    with pytest.raises(ParameterError, match=r"service_times\[1\] is -1\.0"):
        simulate_gg1_waits([0.0, 1.0], [1.0, -1.0])


def test_queue_kernels_reject_nan_and_length_mismatch():
    with pytest.raises(ParameterError, match=r"arrival_times\[0\] is nan"):
        simulate_gg1_waits([np.nan], [1.0])
    with pytest.raises(ParameterError, match="same length"):
        simulate_gg1_waits([0.0, 1.0], [1.0])
    with pytest.raises(ParameterError, match="servers must be a whole number"):
        simulate_ggc_waits([0.0], [1.0], 0)


@settings(max_examples=150, deadline=None)
@given(
    gaps,
    st.lists(st.integers(0, 9), max_size=40),
    st.lists(st.integers(0, 2), max_size=40),
    st.booleans(),
)
def test_priority_kernel_matches_reference(gap_list, service_list, class_list, preempt):
    arrivals, services = _customers(gap_list, service_list)
    classes = np.array(class_list[: len(gap_list)], dtype=np.int64)
    classes = np.pad(classes, (0, len(gap_list) - len(classes)))
    expected = priority_reference.priority_departures(
        arrivals.tolist(), classes.tolist(), services.tolist(), preemptive=preempt
    )
    result = simulate_priority_departures(
        arrivals, classes, services, preemptive=preempt
    )
    assert result.tolist() == expected


def test_priority_kernel_one_class_is_fcfs():
    rng = np.random.default_rng(4)
    arrivals = np.cumsum(rng.exponential(1.0, 400))
    services = rng.exponential(0.8, 400)
    departures = simulate_priority_departures(arrivals, np.zeros(400), services)
    waits = simulate_gg1_waits(arrivals, services)
    np.testing.assert_allclose(departures, arrivals + waits + services, rtol=1e-13)


def test_priority_kernel_preemption_example():
    # A low-priority job (class 1) starts at 0 needing 5; a class-0 job arrives
    # at 2 needing 1. Preemptive: the first resumes at 3 and leaves at 6.
    departures = simulate_priority_departures(
        [0.0, 2.0], [1, 0], [5.0, 1.0], preemptive=True
    )
    assert departures.tolist() == [6.0, 3.0]
    departures = simulate_priority_departures([0.0, 2.0], [1, 0], [5.0, 1.0])
    assert departures.tolist() == [5.0, 6.0]


def test_priority_kernel_empty_and_bad_classes():
    assert simulate_priority_departures([], [], []).shape == (0,)
    with pytest.raises(ParameterError, match=r"classes\[1\] is -1"):
        simulate_priority_departures([0.0, 1.0], [0, -1], [1.0, 1.0])


def _network_case(seed, jobs, servers, routing):
    rng = np.random.default_rng(seed)
    nodes = len(servers)
    entry_times = np.cumsum(rng.exponential(1.0, jobs))
    entry_nodes = rng.integers(0, nodes, jobs)
    pools = [rng.exponential(0.6, 20 * jobs + 10) for _ in range(nodes)]
    uniforms = rng.random(20 * jobs * nodes + 10)
    return entry_times, entry_nodes, np.array(routing), servers, pools, uniforms


@pytest.mark.parametrize(
    ("servers", "routing"),
    [
        ([1], [[0.3]]),
        ([1, 2, 1], [[0, 0.5, 0.2], [0.1, 0, 0.6], [0.3, 0, 0.1]]),
        ([3, 1], [[0.0, 1.0], [0.2, 0.0]]),
    ],
)
def test_network_kernel_matches_reference(servers, routing):
    case = _network_case(8, 300, servers, routing)
    status, visits = run_open_network(*case)
    expected = network_reference.open_network(
        case[0].tolist(),
        case[1].tolist(),
        case[2].tolist(),
        servers,
        [p.tolist() for p in case[4]],
        case[5].tolist(),
    )
    assert status == STATUS_OK
    for key in ("job", "node", "arrival", "start", "departure"):
        assert np.asarray(visits[key]).tolist() == expected[key]
    np.testing.assert_array_equal(visits["exit"], expected["exit"])


def test_network_kernel_ties_at_integer_times():
    entry_times = np.array([0.0, 0.0, 1.0, 1.0, 2.0])
    entry_nodes = np.array([0, 1, 0, 0, 1])
    routing = np.array([[0.0, 0.5], [0.5, 0.0]])
    pools = [np.array([1.0, 1.0, 2.0, 1.0] * 10), np.array([1.0, 2.0] * 20)]
    uniforms = np.tile([0.25, 0.75, 0.6], 30)
    status, visits = run_open_network(
        entry_times, entry_nodes, routing, [1, 1], pools, uniforms
    )
    expected = network_reference.open_network(
        entry_times.tolist(),
        entry_nodes.tolist(),
        routing.tolist(),
        [1, 1],
        [p.tolist() for p in pools],
        uniforms.tolist(),
    )
    assert status == STATUS_OK
    for key in ("job", "node", "arrival", "start", "departure"):
        assert np.asarray(visits[key]).tolist() == expected[key]


def test_network_kernel_empty_and_one_job():
    status, visits = run_open_network([], [], [[0.0]], [1], [np.ones(3)], np.ones(3))
    assert status == STATUS_OK
    assert visits["exit"].shape == (0,)
    status, visits = run_open_network(
        [2.0], [0], [[0.0]], [1], [np.array([1.5])], np.array([0.5])
    )
    assert status == STATUS_OK
    assert visits["exit"].tolist() == [3.5]


def test_network_kernel_reports_exhausted_pools():
    status, _ = run_open_network(
        [0.0, 1.0], [0, 0], [[0.0]], [1], [np.array([1.0])], np.ones(5)
    )
    assert status == 1
    status, _ = run_open_network([0.0], [0], [[0.9]], [1], [np.ones(50)], np.zeros(3))
    assert status == STATUS_ROUTING_POOL_EMPTY


def test_tandem_single_server_matches_network_reference():
    rng = np.random.default_rng(9)
    jobs = 400
    arrivals = np.cumsum(rng.exponential(1.0, jobs))
    stage_a = rng.exponential(0.7, jobs)
    stage_b = rng.exponential(0.8, jobs)
    waits = simulate_tandem_waits(arrivals, [stage_a, stage_b], [1, 1])
    expected = network_reference.open_network(
        arrivals.tolist(),
        [0] * jobs,
        [[0.0, 1.0], [0.0, 0.0]],
        [1, 1],
        [stage_a.tolist(), stage_b.tolist()],
        [0.5] * (2 * jobs),
    )
    nodes = np.array(expected["node"])
    jobs_seen = np.array(expected["job"])
    wait = np.array(expected["start"]) - np.array(expected["arrival"])
    for stage in (0, 1):
        order = jobs_seen[nodes == stage]
        np.testing.assert_allclose(waits[stage][order], wait[nodes == stage], atol=1e-9)


def test_tandem_multi_server_matches_stagewise_reference():
    rng = np.random.default_rng(10)
    jobs = 300
    arrivals = np.cumsum(rng.exponential(1.0, jobs))
    first = rng.exponential(2.5, jobs)
    second = rng.exponential(0.9, jobs)
    waits = simulate_tandem_waits(arrivals, [first, second], [3, 1])
    expected_first = queue_reference.ggc_waits(arrivals.tolist(), first.tolist(), 3)
    departures = arrivals + np.array(expected_first) + first
    order = np.argsort(departures, kind="stable")
    expected_second = queue_reference.gg1_waits(
        departures[order].tolist(), second[order].tolist()
    )
    np.testing.assert_allclose(waits[0], expected_first, atol=1e-9)
    np.testing.assert_allclose(waits[1][order], expected_second, atol=1e-9)
