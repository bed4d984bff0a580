"""Seeded and trace-driven simulation runs of the kernels, with confidence intervals.

Each driver draws its random numbers from ``numpy.random.default_rng`` streams
spawned from one ``seed`` (one independent stream per replication), drops the first
``warmup`` customers of every run, and returns estimates with confidence intervals
from :mod:`muosm_perf.queueing.confidence`. Inputs, seed and library versions are
recorded in each result's ``metadata``.

The drivers that draw from distributions raise
:class:`~muosm_perf.errors.UnstableSystemError` when the means give a utilization
ρ >= 1, as the formulas do. The trace-driven driver estimates ρ from the trace and
marks its result ``transient`` when ρ >= 1 (see :mod:`muosm_perf.queueing.stability`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy

from muosm_perf import __version__
from muosm_perf.errors import ParameterError
from muosm_perf.kernels.network_sim import STATUS_OK, run_open_network
from muosm_perf.kernels.priority_sim import simulate_priority_departures
from muosm_perf.kernels.queue_sim import (
    _cumulative_sum,
    advance_fcfs,
    new_fcfs_state,
    simulate_ggc_waits,
)
from muosm_perf.queueing._checks import server_count
from muosm_perf.queueing.confidence import (
    Estimate,
    batch_means_estimate,
    replication_estimate,
)
from muosm_perf.queueing.distributions import Distribution, exponential
from muosm_perf.queueing.jackson import solve_traffic_equations
from muosm_perf.queueing.stability import (
    distribution_mean,
    estimate_trace_utilization,
    require_stable_simulation,
    warn_if_transient,
)

logger = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    return {
        "muosm_perf": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
    }


def _check_run_lengths(customers: int, warmup: int, replications: int) -> None:
    if customers < 1 or warmup < 0 or warmup >= customers:
        raise ParameterError(
            f"customers ({customers}) must be >= 1 and warmup ({warmup}) in "
            "[0, customers); lower warmup or simulate more customers"
        )
    if replications < 1:
        raise ParameterError(f"replications must be >= 1, got {replications}")


def _streams(seed: int | None, count: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


@dataclass(frozen=True)
class QueueSimulation:
    """Estimates from simulated runs of a FCFS queue.

    Attributes
    ----------
    mean_wait, p_wait, mean_sojourn
        Estimates of E[W], P(W > 0) and E[T] with confidence intervals.
    waits
        Waits of the last run after warm-up, for distribution plots (empty
        unless requested).
    metadata
        Inputs, seed and library versions.
    utilization
        Offered load per server ρ: from the distributions' means, or estimated
        from a trace. None when a trace has fewer than two arrivals.
    transient
        True when a trace's estimated ρ is >= 1. The queue then has no steady
        state, and the estimates describe this trace's length only.
    """

    mean_wait: Estimate
    p_wait: Estimate
    mean_sojourn: Estimate
    waits: np.ndarray = field(repr=False)
    metadata: dict = field(default_factory=dict)
    utilization: float | None = None
    transient: bool = False

    def summary(self) -> dict:
        """Return the estimates and metadata as a JSON-ready dictionary."""
        return {
            "mean_wait": self.mean_wait.as_dict(),
            "p_wait": self.p_wait.as_dict(),
            "mean_sojourn": self.mean_sojourn.as_dict(),
            "utilization": self.utilization,
            "transient": self.transient,
            "metadata": self.metadata,
        }


BLOCK_CUSTOMERS = 65_536
"""Customers drawn and simulated per block: the block's arrays stay in cache and
no array grows with the run length unless the waits are kept."""


def _check_draws(name: str, values: np.ndarray) -> None:
    if not (np.isfinite(values.sum()) and values.min() >= 0):
        raise ParameterError(
            f"the {name} distribution drew a value that is negative, NaN or "
            f"infinite (minimum {float(values.min())!r}); use a distribution of "
            "non-negative times"
        )


def _simulate_run(interarrival, service, servers, customers, warmup, rng, keep_waits):
    """Simulate one run in blocks and return its totals after warm-up.

    The totals are the sum of waits, the count of waits > 0, the sum of sojourns,
    and the waits themselves when ``keep_waits`` is set (None otherwise).
    """
    state = new_fcfs_state(servers)
    clock = 0.0
    wait_total = 0.0
    waited = 0
    sojourn_total = 0.0
    kept = np.empty(customers - warmup) if keep_waits else None
    arrivals = np.empty(BLOCK_CUSTOMERS)
    waits = np.empty(BLOCK_CUSTOMERS)
    for offset in range(0, customers, BLOCK_CUSTOMERS):
        size = min(BLOCK_CUSTOMERS, customers - offset)
        gaps = np.ascontiguousarray(
            interarrival.rvs(size=size, random_state=rng), dtype=np.float64
        )
        services = np.ascontiguousarray(
            service.rvs(size=size, random_state=rng), dtype=np.float64
        )
        _check_draws("inter-arrival", gaps)
        _check_draws("service", services)
        _cumulative_sum(gaps, clock, arrivals[:size])
        clock = arrivals[size - 1]
        advance_fcfs(arrivals[:size], services, state, waits[:size])

        skip = min(max(warmup - offset, 0), size)
        block_waits = waits[skip:size]
        wait_total += block_waits.sum()
        waited += np.count_nonzero(block_waits)
        sojourn_total += block_waits.sum() + services[skip:size].sum()
        if kept is not None and skip < size:
            start = offset + skip - warmup
            kept[start : start + size - skip] = block_waits
    return wait_total, waited, sojourn_total, kept


def simulate_queue(
    interarrival: Distribution,
    service: Distribution,
    servers: int = 1,
    *,
    customers: int,
    replications: int = 10,
    warmup: int = 0,
    seed: int | None = None,
    confidence: float = 0.99,
    keep_waits: bool = False,
) -> QueueSimulation:
    """Simulate a G/G/c FCFS queue from seeded distributions.

    Parameters
    ----------
    interarrival, service
        Distributions of inter-arrival and service times, in one time unit.
    servers
        Number of servers c >= 1.
    customers
        Customers per replication, warm-up included.
    replications
        Independent runs; the interval is Student's t over their means.
    warmup
        Customers dropped from the start of every run.
    seed
        Seed of the spawned random streams; None draws fresh entropy.
    confidence
        Confidence level of the intervals.
    keep_waits
        Keep the last run's waits after warm-up in the result (8 bytes each).

    Raises
    ------
    UnstableSystemError
        If the utilization E[S] / (c E[A]) from the distributions' means is >= 1.

    Notes
    -----
    Random numbers are drawn in blocks of ``BLOCK_CUSTOMERS`` customers,
    inter-arrival times first, so a result depends on the seed and that block size.
    """
    if int(servers) != servers or servers < 1:
        raise ParameterError(f"servers must be a whole number >= 1, got {servers!r}")
    _check_run_lengths(customers, warmup, replications)
    mean_gap = distribution_mean("inter-arrival", interarrival)
    mean_service = distribution_mean("service", service)
    utilization = mean_service / (servers * mean_gap) if mean_gap > 0 else math.inf
    require_stable_simulation(
        f"G/G/{servers} queue",
        utilization,
        f"mean service time / (servers × mean inter-arrival time) = "
        f"{mean_service:.6g} / ({servers} × {mean_gap:.6g})",
        "use a longer mean inter-arrival time, a shorter mean service time or "
        "more servers",
    )
    means, fractions, sojourns = [], [], []
    kept = None
    count = customers - warmup
    for index, rng in enumerate(_streams(seed, replications)):
        last = index == replications - 1
        wait_total, waited, sojourn_total, run_waits = _simulate_run(
            interarrival,
            service,
            int(servers),
            customers,
            warmup,
            rng,
            keep_waits and last,
        )
        means.append(wait_total / count)
        fractions.append(waited / count)
        sojourns.append(sojourn_total / count)
        kept = run_waits if run_waits is not None else kept
    metadata = {
        "model": "G/G/c FCFS",
        "servers": servers,
        "customers": customers,
        "replications": replications,
        "warmup": warmup,
        "seed": seed,
        "block_customers": BLOCK_CUSTOMERS,
        "versions": _versions(),
    }
    logger.debug("simulated %d replications of %d customers", replications, customers)
    return QueueSimulation(
        replication_estimate(means, confidence),
        replication_estimate(fractions, confidence),
        replication_estimate(sojourns, confidence),
        kept if kept is not None else np.empty(0),
        metadata,
        utilization,
    )


def simulate_queue_from_arrivals(
    arrival_times: object,
    service: Distribution | object,
    servers: int = 1,
    *,
    warmup: int = 0,
    batches: int = 20,
    seed: int | None = None,
    confidence: float = 0.99,
) -> QueueSimulation:
    """Simulate a FCFS queue driven by recorded arrival instants (a trace).

    Parameters
    ----------
    arrival_times
        Arrival instants, non-decreasing, for example a trace's SUBMIT times
        converted to seconds.
    service
        A distribution to draw service times from, or an array of recorded
        service times (one per arrival).
    servers
        Number of servers c >= 1.
    warmup
        Arrivals dropped from the start before estimating.
    batches
        Number of batches for the batch-means intervals.
    seed
        Seed for drawing service times from a distribution.
    confidence
        Confidence level of the intervals.

    Notes
    -----
    The trace cannot be rejected for its load, so ρ is estimated from the
    arrivals and the service times used (:func:`estimate_trace_utilization`).
    When it is >= 1, a warning is logged and the result's ``transient`` is set.
    """
    arrivals = np.asarray(arrival_times, dtype=np.float64)
    _check_run_lengths(arrivals.shape[0], warmup, 1)
    servers = int(server_count("servers", servers))
    if hasattr(service, "rvs"):
        rng = np.random.default_rng(seed)
        services = service.rvs(size=arrivals.shape[0], random_state=rng)
    else:
        services = np.asarray(service, dtype=np.float64)
    waits = simulate_ggc_waits(arrivals, services, servers)
    utilization = estimate_trace_utilization(arrivals, services, servers)
    transient = warn_if_transient(f"trace-driven G/G/{servers} queue", utilization)
    kept = waits[warmup:]
    metadata = {
        "model": "trace-driven G/G/c FCFS",
        "servers": servers,
        "customers": int(arrivals.shape[0]),
        "warmup": warmup,
        "batches": batches,
        "seed": seed,
        "versions": _versions(),
    }
    return QueueSimulation(
        batch_means_estimate(kept, batches, confidence),
        batch_means_estimate((kept > 0).astype(float), batches, confidence),
        batch_means_estimate(kept + services[warmup:], batches, confidence),
        kept,
        metadata,
        utilization,
        transient,
    )


@dataclass(frozen=True)
class PrioritySimulation:
    """Per-class estimates of a simulated single-server priority queue.

    ``utilization`` is the total offered load Σ λ_k E[S_k] from the means.
    """

    mean_wait: list[Estimate]
    mean_sojourn: list[Estimate]
    metadata: dict = field(default_factory=dict)
    utilization: float | None = None


def simulate_priority_queue(
    arrival_rates: object,
    services: list[Distribution],
    *,
    preemptive: bool = False,
    customers: int,
    replications: int = 10,
    warmup: int = 0,
    seed: int | None = None,
    confidence: float = 0.99,
) -> PrioritySimulation:
    """Simulate an M/G/1 priority queue (class 0 most important).

    Arrivals are one Poisson stream of the total rate, each arrival's class drawn
    with probability λ_k / Σ λ, which is the superposition of independent Poisson
    classes. ``mean_wait`` per class is the time not in service.

    Raises
    ------
    UnstableSystemError
        If the total load Σ λ_k E[S_k] is >= 1, because the least important class
        then grows without bound (the formula rejects the same loads).
    """
    rates = np.asarray(arrival_rates, dtype=np.float64)
    if rates.ndim != 1 or len(services) != rates.shape[0] or (rates <= 0).any():
        raise ParameterError(
            f"pass one positive arrival rate and one service distribution per class, "
            f"got rates {rates.tolist()} and {len(services)} distributions"
        )
    _check_run_lengths(customers, warmup, replications)
    mean_services = np.array(
        [distribution_mean(f"class {k} service", d) for k, d in enumerate(services)]
    )
    loads = rates * mean_services
    require_stable_simulation(
        "priority queue",
        float(loads.sum()),
        "Σ arrival rate × mean service time = "
        + " + ".join(f"{load:.6g}" for load in loads),
        "lower the arrival rates or shorten service",
    )
    total = rates.sum()
    waits = [[] for _ in rates]
    sojourns = [[] for _ in rates]
    for rng in _streams(seed, replications):
        arrivals = np.cumsum(rng.exponential(1.0 / total, customers))
        classes = rng.choice(rates.shape[0], size=customers, p=rates / total)
        service_times = np.empty(customers)
        for k, distribution in enumerate(services):
            mask = classes == k
            service_times[mask] = distribution.rvs(
                size=int(mask.sum()), random_state=rng
            )
        departures = simulate_priority_departures(
            arrivals, classes, service_times, preemptive=preemptive
        )
        sojourn = (departures - arrivals)[warmup:]
        wait = sojourn - service_times[warmup:]
        kept_classes = classes[warmup:]
        for k in range(rates.shape[0]):
            mask = kept_classes == k
            waits[k].append(wait[mask].mean() if mask.any() else np.nan)
            sojourns[k].append(sojourn[mask].mean() if mask.any() else np.nan)
    metadata = {
        "model": "M/G/1 priority",
        "preemptive": preemptive,
        "arrival_rates": rates.tolist(),
        "customers": customers,
        "replications": replications,
        "warmup": warmup,
        "seed": seed,
        "versions": _versions(),
    }
    return PrioritySimulation(
        [replication_estimate(w, confidence) for w in waits],
        [replication_estimate(s, confidence) for s in sojourns],
        metadata,
        float(loads.sum()),
    )


@dataclass(frozen=True)
class NetworkSimulation:
    """Estimates of a simulated open network."""

    mean_wait: list[Estimate]
    """Mean wait per visit to each node."""
    mean_network_sojourn: Estimate
    """Mean time from entering to leaving the network."""
    metadata: dict = field(default_factory=dict)
    utilizations: list[float] = field(default_factory=list)
    """Offered load per server of each node, λ_i E[S_i] / c_i."""


def simulate_open_network(
    external_arrival_rates: object,
    routing: object,
    services: list[Distribution] | object,
    servers: object = 1,
    *,
    jobs: int,
    replications: int = 10,
    warmup: int = 0,
    seed: int | None = None,
    confidence: float = 0.99,
) -> NetworkSimulation:
    """Simulate an open network with Poisson external arrivals and FCFS nodes.

    Parameters
    ----------
    external_arrival_rates
        γ_i per node.
    routing
        n × n routing probabilities (row remainders are exit probabilities).
    services
        One service distribution per node, or an array of exponential service
        rates μ_i (a Jackson network).
    servers
        Servers per node, or one count for every node.
    jobs
        Jobs entering per replication; the first ``warmup`` are dropped.
    replications, seed, confidence
        As for :func:`simulate_queue`.

    Raises
    ------
    UnstableSystemError
        If some node's utilization λ_i E[S_i] / c_i is >= 1, with λ from the
        traffic equations, or if jobs can reach a node with no path out.
    """
    gamma = np.atleast_1d(np.asarray(external_arrival_rates, dtype=np.float64))
    nodes = gamma.shape[0]
    if not all(hasattr(item, "rvs") for item in np.atleast_1d(services)):
        rates = np.broadcast_to(np.asarray(services, dtype=np.float64), (nodes,))
        services = [exponential(rate) for rate in rates]
    server_counts = np.broadcast_to(server_count("servers", servers), (nodes,))
    _check_run_lengths(jobs, warmup, replications)
    visit_rates = solve_traffic_equations(gamma, routing)
    mean_services = np.array(
        [distribution_mean(f"node {i} service", services[i]) for i in range(nodes)]
    )
    utilizations = visit_rates * mean_services / server_counts
    busiest = int(np.argmax(utilizations))
    require_stable_simulation(
        "open network",
        float(utilizations[busiest]),
        f"arrival rate × mean service time / servers at node {busiest} = "
        f"{visit_rates[busiest]:.6g} × {mean_services[busiest]:.6g} / "
        f"{server_counts[busiest]}",
        "lower the external arrival rates or the routing back into that node, or "
        "add servers",
    )
    expected_visits = visit_rates / gamma.sum() * jobs

    waits: list[list[float]] = [[] for _ in range(nodes)]
    sojourns = []
    for stream in np.random.SeedSequence(seed).spawn(replications):
        margin = 1.3
        while True:
            rng = np.random.default_rng(stream)
            entry_times = np.cumsum(rng.exponential(1.0 / gamma.sum(), jobs))
            entry_nodes = rng.choice(nodes, size=jobs, p=gamma / gamma.sum())
            sizes = (expected_visits * margin + 100).astype(int)
            pools = [
                services[i].rvs(size=int(sizes[i]), random_state=rng)
                for i in range(nodes)
            ]
            uniforms = rng.random(int(sizes.sum()))
            status, visits = run_open_network(
                entry_times, entry_nodes, routing, server_counts, pools, uniforms
            )
            if status == STATUS_OK:
                break
            # Draw the same stream again with larger pools, so the result depends
            # only on the seed.
            margin *= 2
        kept = visits["job"] >= warmup
        wait = visits["start"] - visits["arrival"]
        for i in range(nodes):
            mask = kept & (visits["node"] == i)
            waits[i].append(wait[mask].mean() if mask.any() else 0.0)
        sojourns.append((visits["exit"] - entry_times)[warmup:].mean())
    metadata = {
        "model": "open network, FCFS nodes",
        "external_arrival_rates": gamma.tolist(),
        "routing": np.asarray(routing, dtype=float).tolist(),
        "servers": server_counts.tolist(),
        "jobs": jobs,
        "replications": replications,
        "warmup": warmup,
        "seed": seed,
        "versions": _versions(),
    }
    return NetworkSimulation(
        [replication_estimate(w, confidence) for w in waits],
        replication_estimate(sojourns, confidence),
        metadata,
        utilizations.tolist(),
    )
