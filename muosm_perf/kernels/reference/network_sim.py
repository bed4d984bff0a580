"""Open network simulation by a heapq event loop on Python lists."""

from __future__ import annotations

import heapq
import math
from collections import deque


def open_network(
    entry_times: list[float],
    entry_nodes: list[int],
    routing: list[list[float]],
    servers: list[int],
    service_pools: list[list[float]],
    uniforms: list[float],
) -> dict[str, list]:
    """Return the visits and exit instants; the rules are the kernel module's.

    Raises IndexError if a pool runs out.
    """
    nodes = len(servers)
    pool_used = [0] * nodes
    busy = [0] * nodes
    queues: list[deque[int]] = [deque() for _ in range(nodes)]
    visits: dict[str, list] = {
        "job": [],
        "node": [],
        "arrival": [],
        "start": [],
        "departure": [],
    }
    service: list[float] = []
    exits = [math.nan] * len(entry_times)
    events: list[tuple[float, int, int]] = []
    stamp = 0
    uniform_used = 0

    def begin_service(visit: int, now: float) -> None:
        nonlocal stamp
        busy[visits["node"][visit]] += 1
        visits["start"][visit] = now
        visits["departure"][visit] = now + service[visit]
        heapq.heappush(events, (visits["departure"][visit], stamp, visit))
        stamp += 1

    def arrive(job: int, node: int, now: float) -> None:
        visit = len(service)
        service.append(service_pools[node][pool_used[node]])
        pool_used[node] += 1
        for key, value in (("job", job), ("node", node), ("arrival", now)):
            visits[key].append(value)
        visits["start"].append(math.nan)
        visits["departure"].append(math.nan)
        if busy[node] < servers[node]:
            begin_service(visit, now)
        else:
            queues[node].append(visit)

    next_entry = 0
    while next_entry < len(entry_times) or events:
        if events and (
            next_entry >= len(entry_times) or events[0][0] <= entry_times[next_entry]
        ):
            now, _, finished = heapq.heappop(events)
            node = visits["node"][finished]
            busy[node] -= 1
            if queues[node]:
                begin_service(queues[node].popleft(), now)
            u = uniforms[uniform_used]
            uniform_used += 1
            total = 0.0
            target = None
            for j in range(nodes):
                total += routing[node][j]
                if u < total:
                    target = j
                    break
            job = visits["job"][finished]
            if target is None:
                exits[job] = now
            else:
                arrive(job, target, now)
        else:
            arrive(next_entry, entry_nodes[next_entry], entry_times[next_entry])
            next_entry += 1
    visits["exit"] = exits
    return visits
