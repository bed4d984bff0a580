"""Open queueing network simulation: FCFS multi-server nodes, random routing.

Jobs enter at given instants and nodes. A node serves its queue FCFS with its own
number of servers. When a visit ends, the job moves to node j with probability
P[i, j] or leaves with probability 1 - Σ_j P[i, j].

Randomness comes from the caller, so that the kernel stays a plain function of its
inputs. Every node has a pool of service times, consumed in the order in which jobs
arrive at it. One pool of uniform numbers is consumed, one per finished visit, to
choose the next node by inverting the row's cumulative probabilities. If a pool
runs out the kernel stops and reports which one; the wrapper then draws larger
pools from the same seed and runs again.

Simultaneous events: a departure is handled before an external arrival at the same
instant, and departures at one instant in the order their services started. When a
visit ends, the node first starts its next queued job and only then routes the
departing job, so a job fed back to the same node queues behind those already
waiting.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import njit

_NONE = -1
STATUS_OK = 0
STATUS_ROUTING_POOL_EMPTY = -1
# A status of k >= 1 means the service pool of node k - 1 ran out.


@njit
def _heap_push(times, order, visits, size, time, stamp, visit):
    position = size
    while position > 0:
        parent = (position - 1) >> 1
        if times[parent] < time or (times[parent] == time and order[parent] < stamp):
            break
        times[position] = times[parent]
        order[position] = order[parent]
        visits[position] = visits[parent]
        position = parent
    times[position] = time
    order[position] = stamp
    visits[position] = visit


@njit
def _heap_pop(times, order, visits, size):
    """Remove the root of a heap of ``size`` entries; the caller reads it first."""
    last = size - 1
    time = times[last]
    stamp = order[last]
    visit = visits[last]
    position = 0
    while True:
        child = 2 * position + 1
        if child >= last:
            break
        right = child + 1
        if right < last and (
            times[right] < times[child]
            or (times[right] == times[child] and order[right] < order[child])
        ):
            child = right
        if times[child] > time or (times[child] == time and order[child] > stamp):
            break
        times[position] = times[child]
        order[position] = order[child]
        visits[position] = visits[child]
        position = child
    times[position] = time
    order[position] = stamp
    visits[position] = visit


@njit
def _network_kernel(
    entry_times,
    entry_nodes,
    cumulative_routing,
    servers,
    service_pool,
    pool_starts,
    uniforms,
    visit_job,
    visit_node,
    visit_arrival,
    visit_start,
    visit_departure,
    exit_times,
):
    nodes = servers.shape[0]
    jobs = entry_times.shape[0]
    capacity = visit_job.shape[0]

    pool_used = np.zeros(nodes, np.int64)
    busy = np.zeros(nodes, np.int64)
    head = np.full(nodes, _NONE, np.int64)
    tail = np.full(nodes, _NONE, np.int64)
    following = np.full(capacity, _NONE, np.int64)
    service = np.empty(capacity)

    total_servers = 0
    for i in range(nodes):
        total_servers += servers[i]
    heap_times = np.empty(total_servers)
    heap_order = np.empty(total_servers, np.int64)
    heap_visits = np.empty(total_servers, np.int64)
    heap_size = 0
    stamp = 0

    visits = 0
    uniform_used = 0
    next_entry = 0
    while next_entry < jobs or heap_size > 0:
        if heap_size > 0 and (
            next_entry >= jobs or heap_times[0] <= entry_times[next_entry]
        ):
            now = heap_times[0]
            finished = heap_visits[0]
            _heap_pop(heap_times, heap_order, heap_visits, heap_size)
            heap_size -= 1
            node = visit_node[finished]
            busy[node] -= 1

            # The node's next queued job takes the free server.
            waiting = head[node]
            if waiting != _NONE:
                head[node] = following[waiting]
                if head[node] == _NONE:
                    tail[node] = _NONE
                visit_start[waiting] = now
                visit_departure[waiting] = now + service[waiting]
                busy[node] += 1
                _heap_push(
                    heap_times,
                    heap_order,
                    heap_visits,
                    heap_size,
                    visit_departure[waiting],
                    stamp,
                    waiting,
                )
                heap_size += 1
                stamp += 1

            if uniform_used >= uniforms.shape[0]:
                return STATUS_ROUTING_POOL_EMPTY, visits
            u = uniforms[uniform_used]
            uniform_used += 1
            job = visit_job[finished]
            target = _NONE
            for j in range(nodes):
                if u < cumulative_routing[node, j]:
                    target = j
                    break
            if target == _NONE:
                exit_times[job] = now
                continue
        else:
            now = entry_times[next_entry]
            job = next_entry
            target = entry_nodes[next_entry]
            next_entry += 1

        # A visit of ``job`` to ``target`` begins at ``now``.
        if visits >= capacity:
            return target + 1, visits
        offset = pool_starts[target] + pool_used[target]
        if offset >= pool_starts[target + 1]:
            return target + 1, visits
        pool_used[target] += 1
        visit = visits
        visits += 1
        visit_job[visit] = job
        visit_node[visit] = target
        visit_arrival[visit] = now
        service[visit] = service_pool[offset]
        if busy[target] < servers[target]:
            busy[target] += 1
            visit_start[visit] = now
            visit_departure[visit] = now + service[visit]
            _heap_push(
                heap_times,
                heap_order,
                heap_visits,
                heap_size,
                visit_departure[visit],
                stamp,
                visit,
            )
            heap_size += 1
            stamp += 1
        else:
            following[visit] = _NONE
            if tail[target] == _NONE:
                head[target] = visit
            else:
                following[tail[target]] = visit
            tail[target] = visit
    return STATUS_OK, visits


def check_routing(routing: object, nodes: int) -> np.ndarray:
    """Return the cumulative routing matrix after checking the probabilities."""
    matrix = np.ascontiguousarray(routing, dtype=np.float64)
    if matrix.shape != (nodes, nodes):
        raise ParameterError(
            f"routing must be a {nodes} x {nodes} matrix, got shape {matrix.shape}"
        )
    if (matrix < 0).any() or not np.isfinite(matrix).all():
        raise ParameterError("routing probabilities must be finite and >= 0")
    sums = matrix.sum(axis=1)
    if (sums > 1.0 + 1e-12).any():
        row = int(np.argmax(sums > 1.0 + 1e-12))
        raise ParameterError(f"routing row {row} sums to {float(sums[row])!r}, above 1")
    return np.ascontiguousarray(np.cumsum(matrix, axis=1))


def run_open_network(
    entry_times: object,
    entry_nodes: object,
    routing: object,
    servers: object,
    service_pools: list[np.ndarray],
    uniforms: object,
) -> tuple[int, dict[str, np.ndarray]]:
    """Simulate an open network with explicit pools of random numbers.

    Parameters
    ----------
    entry_times
        Instants at which jobs enter the network, non-decreasing.
    entry_nodes
        Node (0-based) at which each job enters.
    routing
        n × n routing probabilities; row i's remainder is the exit probability.
    servers
        Servers per node (whole numbers >= 1).
    service_pools
        One array of service times per node, consumed in order of arrival at it.
    uniforms
        Uniform numbers in [0, 1), one consumed per finished visit.

    Returns
    -------
    tuple of (int, dict)
        The status (0 when every job left; -1 when ``uniforms`` ran out; k >= 1
        when node k - 1's service pool ran out) and the visits made so far:
        ``job``, ``node``, ``arrival``, ``start``, ``departure`` per visit in the
        order visits began, and ``exit`` per job (NaN for a job still inside).
    """
    times = np.ascontiguousarray(entry_times, dtype=np.float64)
    where = np.ascontiguousarray(entry_nodes, dtype=np.int64)
    server_counts = np.ascontiguousarray(servers, dtype=np.int64)
    nodes = server_counts.shape[0]
    if times.ndim != 1 or where.shape != times.shape:
        raise ParameterError(
            f"entry_times (shape {times.shape}) and entry_nodes (shape {where.shape}) "
            "must be 1-D arrays of the same length"
        )
    if times.size and ((where < 0) | (where >= nodes)).any():
        index = int(np.argmax((where < 0) | (where >= nodes)))
        raise ParameterError(
            f"entry_nodes[{index}] is {where[index]}, not a node in 0..{nodes - 1}"
        )
    if times.size > 1 and (np.diff(times) < 0).any():
        raise ParameterError("entry_times must be non-decreasing; sort the jobs")
    if (server_counts < 1).any():
        raise ParameterError(f"servers must all be >= 1, got {server_counts.tolist()}")
    if len(service_pools) != nodes:
        raise ParameterError(
            f"service_pools has {len(service_pools)} arrays for {nodes} nodes"
        )
    cumulative = check_routing(routing, nodes)
    pool = np.ascontiguousarray(
        np.concatenate([np.asarray(p, dtype=np.float64) for p in service_pools])
        if nodes
        else np.empty(0)
    )
    starts = np.zeros(nodes + 1, np.int64)
    starts[1:] = np.cumsum([len(p) for p in service_pools])
    draws = np.ascontiguousarray(uniforms, dtype=np.float64)

    capacity = int(pool.shape[0])
    visit_job = np.empty(capacity, np.int64)
    visit_node = np.empty(capacity, np.int64)
    arrival = np.empty(capacity)
    start = np.empty(capacity)
    departure = np.empty(capacity)
    exits = np.full(times.shape[0], np.nan)
    status, visits = _network_kernel(
        times,
        where,
        cumulative,
        server_counts,
        pool,
        starts,
        draws,
        visit_job,
        visit_node,
        arrival,
        start,
        departure,
        exits,
    )
    return int(status), {
        "job": visit_job[:visits],
        "node": visit_node[:visits],
        "arrival": arrival[:visits],
        "start": start[:visits],
        "departure": departure[:visits],
        "exit": exits,
    }
