import numpy as np
import pytest

from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.queueing import JacksonNetwork, MMcQueue, solve_traffic_equations


def test_traffic_equations_with_feedback():
    # One node with feedback probability 0.5 doubles its arrival rate.
    rates = solve_traffic_equations([1.0], [[0.5]])
    assert rates[0] == pytest.approx(2.0, rel=1e-15)


def test_traffic_equations_three_nodes():
    gamma = np.array([1.0, 0.5, 0.0])
    routing = np.array([[0.0, 0.6, 0.3], [0.0, 0.0, 0.8], [0.2, 0.0, 0.0]])
    rates = solve_traffic_equations(gamma, routing)
    # λ must satisfy λ = γ + Pᵀ λ.
    assert rates == pytest.approx(gamma + routing.T @ rates, rel=1e-14)


def test_tandem_network_is_sum_of_nodes():
    network = JacksonNetwork(
        [1.0, 0.0], [[0.0, 1.0], [0.0, 0.0]], service_rates=[2.0, 3.0], servers=1
    )
    first = MMcQueue(1.0, 2.0, 1)
    second = MMcQueue(1.0, 3.0, 1)
    expected = first.mean_sojourn + second.mean_sojourn
    assert network.mean_network_sojourn == pytest.approx(expected, rel=1e-14)
    assert network.mean_time_to_exit[0] == pytest.approx(expected, rel=1e-14)
    assert network.mean_time_to_exit[1] == pytest.approx(second.mean_sojourn)
    assert network.visit_ratios == pytest.approx([1.0, 1.0])


def test_feedback_node_end_to_end():
    # M/M/1 with Bernoulli feedback p: λ = γ / (1 - p), visits 1 / (1 - p).
    network = JacksonNetwork([1.0], [[0.25]], service_rates=[2.0])
    node = MMcQueue(4 / 3, 2.0, 1)
    assert network.mean_network_sojourn == pytest.approx(node.mean_sojourn / 0.75)
    assert network.mean_jobs_in_network == pytest.approx(float(node.mean_in_system))


def test_multi_server_nodes_use_erlang_c():
    network = JacksonNetwork([3.0, 1.0], [[0.0, 0.5], [0.0, 0.0]], [1.0, 1.5], [4, 3])
    assert network.arrival_rates == pytest.approx([3.0, 2.5])
    assert network.p_wait[0] == pytest.approx(MMcQueue(3.0, 1.0, 4).p_wait)
    assert network.p_wait[1] == pytest.approx(MMcQueue(2.5, 1.5, 3).p_wait)


def test_unreached_node_has_no_load():
    network = JacksonNetwork([1.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], [2.0, 2.0])
    assert network.utilizations[1] == 0.0
    assert network.mean_in_system[1] == 0.0


def test_network_without_exit_raises():
    # Node 0 sends half its jobs out and half into the loop 1 -> 2 -> 1.
    routing = [[0.0, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    with pytest.raises(UnstableSystemError, match=r"no exit from nodes \[1, 2\]"):
        JacksonNetwork([1.0, 0.0, 0.0], routing, [5.0, 5.0, 5.0])


def test_closed_loop_everywhere_raises():
    routing = [[0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(UnstableSystemError, match=r"no exit from nodes \[0, 1\]"):
        solve_traffic_equations([1.0, 0.0], routing)


def test_overloaded_node_raises_with_its_name():
    # Feedback 0.5 makes node 0's rate 2.0, at its capacity.
    with pytest.raises(UnstableSystemError, match="node 0 of the Jackson network"):
        JacksonNetwork([1.0], [[0.5]], [2.0])


def test_routing_rows_above_one_rejected():
    with pytest.raises(ParameterError, match=r"routing row 0 sums to 1\.2"):
        solve_traffic_equations([1.0, 0.0], [[0.6, 0.6], [0.0, 0.0]])


def test_negative_routing_rejected():
    with pytest.raises(ParameterError, match=r"routing\[1, 0\] = -0.1"):
        solve_traffic_equations([1.0, 0.0], [[0.0, 0.5], [-0.1, 0.0]])


def test_routing_shape_checked():
    with pytest.raises(ParameterError, match="must be a 2 x 2 matrix"):
        solve_traffic_equations([1.0, 0.0], [[0.0]])


def test_no_external_arrivals_rejected():
    with pytest.raises(ParameterError, match="external_arrival_rates are all 0"):
        solve_traffic_equations([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]])
