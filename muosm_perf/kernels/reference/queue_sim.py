"""Literal Lindley and Kiefer-Wolfowitz recursions on Python floats."""

from __future__ import annotations


def gg1_waits(arrival_times: list[float], service_times: list[float]) -> list[float]:
    """Return waits by W_{n+1} = max(0, W_n + S_n - T_n), T_n the inter-arrival."""
    waits: list[float] = []
    for n in range(len(arrival_times)):
        if n == 0:
            waits.append(0.0)
            continue
        gap = arrival_times[n] - arrival_times[n - 1]
        waits.append(max(0.0, waits[n - 1] + service_times[n - 1] - gap))
    return waits


def ggc_waits(
    arrival_times: list[float], service_times: list[float], servers: int
) -> list[float]:
    """Return waits by the Kiefer-Wolfowitz vector recursion.

    V holds the servers' remaining workloads in increasing order. Customer n waits
    V[0]; then V becomes sort(max(0, V + S_n e_1 - T_n)).
    """
    workload = [0.0] * servers
    waits: list[float] = []
    for n in range(len(arrival_times)):
        waits.append(workload[0])
        workload[0] += service_times[n]
        if n + 1 < len(arrival_times):
            gap = arrival_times[n + 1] - arrival_times[n]
            workload = sorted(max(0.0, v - gap) for v in workload)
    return waits
