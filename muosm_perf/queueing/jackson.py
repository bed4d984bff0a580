"""Open Jackson networks: M/M/c nodes joined by probabilistic routing.

Node i receives Poisson arrivals from outside at rate γ_i, serves them FCFS with c_i
exponential servers of rate μ_i, and sends a finished job to node j with probability
P[i, j] or out of the network with probability 1 - Σ_j P[i, j]. The traffic
equations λ = γ + Pᵀ λ give the total arrival rate of every node, and Jackson's
theorem (J. R. Jackson, "Networks of waiting lines", Operations Research 5, 1957)
states that in steady state the nodes behave as independent M/M/c queues with those
rates. End-to-end figures follow from Little's law: the mean number in the network
is Σ L_i, and the mean time a job spends in the network is Σ L_i / Σ γ_i. The mean
time to leave from node i, T_i, solves T = t + P T with t_i the mean sojourn of
one visit to node i.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.queueing._checks import as_float_array, non_negative, positive
from muosm_perf.queueing.mmc import MMcQueue

ROW_SUM_TOLERANCE = 1e-12
"""Routing rows may exceed 1 by this much (rounding) before they are rejected."""


def nodes_without_exit(routing: np.ndarray) -> list[int]:
    """Return the nodes from which a job can never leave the network.

    A node can exit if its routing row sums to less than 1, or if it routes with
    positive probability to a node that can exit.
    """
    count = routing.shape[0]
    can_exit = routing.sum(axis=1) < 1.0 - ROW_SUM_TOLERANCE
    changed = True
    while changed:
        reaches = (routing[:, can_exit] > 0).any(axis=1)
        updated = can_exit | reaches
        changed = bool((updated != can_exit).any())
        can_exit = updated
    return [i for i in range(count) if not can_exit[i]]


def solve_traffic_equations(
    external_arrival_rates: object, routing: object
) -> np.ndarray:
    """Solve λ = γ + Pᵀ λ for the total arrival rate of every node.

    Parameters
    ----------
    external_arrival_rates
        γ_i per node, arrivals from outside per unit time, >= 0, not all 0.
    routing
        n × n matrix of routing probabilities P[i, j] >= 0, each row summing to at
        most 1; the remainder of row i is the probability of leaving from node i.

    Returns
    -------
    numpy.ndarray
        λ_i per node.

    Raises
    ------
    ParameterError
        On a malformed routing matrix or arrival vector.
    UnstableSystemError
        If some nodes have no path out of the network: jobs that reach them stay
        forever, so the network has no steady state.
    """
    gamma = np.atleast_1d(
        non_negative("external_arrival_rates", external_arrival_rates)
    )
    matrix = as_float_array("routing", routing)
    count = gamma.shape[0]
    if gamma.ndim != 1 or matrix.shape != (count, count):
        raise ParameterError(
            f"routing must be a {count} x {count} matrix for {count} nodes, got shape "
            f"{matrix.shape}"
        )
    if (matrix < 0).any() or not np.isfinite(matrix).all():
        i, j = np.argwhere((matrix < 0) | ~np.isfinite(matrix))[0]
        raise ParameterError(
            f"routing[{i}, {j}] = {float(matrix[i, j])!r} is not a probability; "
            "use values in [0, 1]"
        )
    sums = matrix.sum(axis=1)
    if (sums > 1.0 + ROW_SUM_TOLERANCE).any():
        i = int(np.argmax(sums > 1.0 + ROW_SUM_TOLERANCE))
        raise ParameterError(
            f"routing row {i} sums to {float(sums[i])!r}, above 1; the "
            "probabilities of leaving node i for each node (and out) must add up to 1"
        )
    if gamma.sum() <= 0:
        raise ParameterError(
            "external_arrival_rates are all 0; an open network needs arrivals from "
            "outside at some node"
        )
    trapped = nodes_without_exit(matrix)
    if trapped:
        raise UnstableSystemError(
            f"the network has no exit from nodes {trapped}: every job that reaches "
            "them circulates forever, so there is no steady state; give some of "
            "them a routing row summing to less than 1"
        )
    return np.linalg.solve(np.eye(count) - matrix.T, gamma)


@dataclass(frozen=True)
class JacksonNetwork:
    """Per-node and end-to-end steady-state figures of an open Jackson network.

    Parameters
    ----------
    external_arrival_rates
        γ_i per node, arrivals from outside per unit time.
    routing
        n × n routing probabilities, see :func:`solve_traffic_equations`.
    service_rates
        μ_i per node, completions per unit time of one busy server.
    servers
        c_i per node (a scalar applies to every node), default 1.

    Raises
    ------
    UnstableSystemError
        If a node has no exit path, or if some node's load λ_i >= c_i μ_i; the
        message names the node.
    """

    external_arrival_rates: object
    routing: object
    service_rates: object
    servers: object = 1
    nodes: list[MMcQueue | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rates = solve_traffic_equations(self.external_arrival_rates, self.routing)
        count = rates.shape[0]
        mu = np.broadcast_to(
            np.atleast_1d(positive("service_rates", self.service_rates)), (count,)
        )
        servers = np.broadcast_to(np.atleast_1d(np.asarray(self.servers)), (count,))
        nodes: list[MMcQueue | None] = []
        for i in range(count):
            capacity = servers[i] * mu[i]
            if rates[i] >= capacity:
                raise UnstableSystemError(
                    f"node {i} of the Jackson network has no steady state: its total "
                    f"arrival rate {float(rates[i])!r} (external plus routed) is at or "
                    f"above its capacity {float(capacity)!r} ({servers[i]} servers x "
                    f"{float(mu[i])!r}); lower the arrivals or feedback, or add "
                    "capacity"
                )
            # A node that no job reaches carries no load and has no queue.
            nodes.append(
                MMcQueue(rates[i], mu[i], servers[i]) if rates[i] > 0 else None
            )
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "_rates", rates)
        object.__setattr__(
            self,
            "_gamma",
            np.atleast_1d(np.asarray(self.external_arrival_rates, float)),
        )
        object.__setattr__(self, "_routing", np.asarray(self.routing, dtype=float))

    def _per_node(self, name: str) -> np.ndarray:
        return np.array(
            [0.0 if node is None else float(getattr(node, name)) for node in self.nodes]
        )

    @property
    def arrival_rates(self) -> np.ndarray:
        """λ_i, the total arrival rate of every node."""
        return self._rates.copy()

    @property
    def visit_ratios(self) -> np.ndarray:
        """Mean visits to each node per job entering the network, λ_i / Σ γ."""
        return self._rates / self._gamma.sum()

    @property
    def utilizations(self) -> np.ndarray:
        """ρ_i per node."""
        return self._per_node("utilization")

    @property
    def p_wait(self) -> np.ndarray:
        """Probability that a visit to node i waits (Erlang C)."""
        return self._per_node("p_wait")

    @property
    def mean_waits(self) -> np.ndarray:
        """Mean wait of one visit to each node."""
        return self._per_node("mean_wait")

    @property
    def mean_sojourns(self) -> np.ndarray:
        """Mean sojourn of one visit to each node (wait plus service)."""
        mu = np.broadcast_to(
            np.atleast_1d(np.asarray(self.service_rates, float)), self._rates.shape
        )
        return np.array(
            [
                1.0 / mu[i] if node is None else float(node.mean_sojourn)
                for i, node in enumerate(self.nodes)
            ]
        )

    @property
    def mean_in_system(self) -> np.ndarray:
        """L_i, the mean number of jobs at each node."""
        return self._per_node("mean_in_system")

    @property
    def mean_jobs_in_network(self) -> float:
        """Σ L_i, the mean number of jobs in the whole network."""
        return float(self.mean_in_system.sum())

    @property
    def mean_network_sojourn(self) -> float:
        """Mean time a job spends in the network, Σ L_i / Σ γ_i (Little's law)."""
        return self.mean_jobs_in_network / float(self._gamma.sum())

    @property
    def mean_time_to_exit(self) -> np.ndarray:
        """T_i, mean time to leave the network for a job that enters at node i."""
        count = self._rates.shape[0]
        return np.linalg.solve(np.eye(count) - self._routing, self.mean_sojourns)

    def summary(self) -> dict:
        """Return the figures as a JSON-ready dictionary."""
        return {
            "model": "open Jackson network",
            "arrival_rates": self.arrival_rates.tolist(),
            "visit_ratios": self.visit_ratios.tolist(),
            "utilizations": self.utilizations.tolist(),
            "p_wait": self.p_wait.tolist(),
            "mean_waits": self.mean_waits.tolist(),
            "mean_sojourns": self.mean_sojourns.tolist(),
            "mean_in_system": self.mean_in_system.tolist(),
            "mean_jobs_in_network": self.mean_jobs_in_network,
            "mean_network_sojourn": self.mean_network_sojourn,
            "mean_time_to_exit": self.mean_time_to_exit.tolist(),
        }
