"""Benchmark the queueing kernels and Erlang C against baselines in the same run.

Measures, as medians over repeated runs after a warm-up call (compile time is
reported apart):

- G/G/1 (Lindley) and G/G/c with 64 servers (Kiefer-Wolfowitz), ns per customer,
  on pre-drawn arrays; baseline: the pure-Python references on fewer customers;
- a complete M/M/3 run of one million customers (drawing the random numbers
  included); baseline: Ciw on fewer customers, scaled per customer;
- one million Erlang C evaluations; baseline: a Python loop over the recursion.

The last line printed is one JSON object with every figure.

Usage: python scripts/bench_queueing.py [--customers N] [--repeats K] [--clock cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import ciw
import numpy as np

from muosm_perf.kernels.erlang import _erlang_b_recursion
from muosm_perf.kernels.queue_sim import (
    _run_fcfs,
    simulate_ggc_waits,
)
from muosm_perf.kernels.reference import queue_sim as reference
from muosm_perf.queueing import erlang_c
from muosm_perf.queueing.distributions import exponential
from muosm_perf.queueing.simulation import simulate_queue

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = {"now": time.perf_counter}
"""The clock in use, chosen by --clock."""


def median_seconds(function, repeats: int) -> float:
    """Return the median time of ``repeats`` calls of ``function``."""
    now = CLOCK["now"]
    times = []
    for _ in range(repeats):
        start = now()
        function()
        times.append(now() - start)
    return statistics.median(times)


def compile_seconds(function) -> float:
    """Return the duration of the first call, which compiles (or loads) the kernel."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_kernels(customers: int, repeats: int, rng: np.random.Generator) -> dict:
    arrivals = np.cumsum(rng.exponential(1.0, customers))
    services = rng.exponential(0.9, customers)
    services_64 = rng.exponential(0.9 * 64, customers)
    waits = np.empty(customers)
    few = slice(0, 16)

    result = {
        "compile_s": {
            "lindley": compile_seconds(
                lambda: _run_fcfs(arrivals[few], services[few], 1, waits[few])
            ),
            "kiefer_wolfowitz": compile_seconds(
                lambda: _run_fcfs(arrivals[few], services_64[few], 64, waits[few])
            ),
        }
    }
    gg1 = median_seconds(lambda: _run_fcfs(arrivals, services, 1, waits), repeats)
    gg64 = median_seconds(lambda: _run_fcfs(arrivals, services_64, 64, waits), repeats)
    wrapper = median_seconds(lambda: simulate_ggc_waits(arrivals, services, 1), repeats)

    base_n = 100_000
    base_gg1 = median_seconds(
        lambda: reference.gg1_waits(
            arrivals[:base_n].tolist(), services[:base_n].tolist()
        ),
        3,
    )
    base_n64 = 20_000
    base_gg64 = median_seconds(
        lambda: reference.ggc_waits(
            arrivals[:base_n64].tolist(), services_64[:base_n64].tolist(), 64
        ),
        3,
    )
    result.update(
        {
            "gg1_ns_per_customer": gg1 / customers * 1e9,
            "gg1_wrapper_ns_per_customer": wrapper / customers * 1e9,
            "gg64_ns_per_customer": gg64 / customers * 1e9,
            "gg1_reference_ns_per_customer": base_gg1 / base_n * 1e9,
            "gg64_reference_ns_per_customer": base_gg64 / base_n64 * 1e9,
        }
    )
    result["gg1_speedup_over_reference"] = (
        result["gg1_reference_ns_per_customer"] / result["gg1_ns_per_customer"]
    )
    result["gg64_speedup_over_reference"] = (
        result["gg64_reference_ns_per_customer"] / result["gg64_ns_per_customer"]
    )
    return result


def run_mm3(customers: int, seed: int) -> float:
    """Simulate M/M/3 at ρ = 0.8 with the public driver and return the mean wait.

    The time covers drawing the random numbers, the kernel and the estimates.
    """
    result = simulate_queue(
        exponential(2.4),
        exponential(1.0),
        3,
        customers=customers,
        replications=1,
        seed=seed,
    )
    return result.mean_wait.mean


def run_ciw_mm3(customers: int, seed: int) -> tuple[float, int]:
    """Simulate M/M/3 at ρ = 0.8 in Ciw; return the mean wait and customers served."""
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=2.4)],
        service_distributions=[ciw.dists.Exponential(rate=1.0)],
        number_of_servers=[3],
    )
    # Ciw draws from Python's global random state; its own seed function sets it.
    ciw.seed(seed)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(customers, method="Finish")
    records = simulation.get_all_records()
    return float(np.mean([r.waiting_time for r in records])), len(records)


def bench_mm3(customers: int, ciw_customers: int, repeats: int) -> dict:
    run_mm3(100, 0)
    ours = median_seconds(lambda: run_mm3(customers, 1), repeats)
    now = CLOCK["now"]
    start = now()
    ciw_wait, served = run_ciw_mm3(ciw_customers, 1)
    ciw_seconds = now() - start
    ours_per = ours / customers
    ciw_per = ciw_seconds / served
    return {
        "mm3_customers": customers,
        "mm3_seconds": ours,
        "mm3_mean_wait": run_mm3(customers, 1),
        "ciw_customers": served,
        "ciw_seconds": ciw_seconds,
        "ciw_mean_wait": ciw_wait,
        "ciw_seconds_scaled_to_mm3_customers": ciw_per * customers,
        "mm3_speedup_over_ciw": ciw_per / ours_per,
    }


def bench_erlang(evaluations: int, repeats: int, rng: np.random.Generator) -> dict:
    servers = rng.integers(1, 1001, evaluations)
    loads = servers * rng.uniform(0.5, 0.99, evaluations)
    erlang_c(servers[:10], loads[:10])
    ours = median_seconds(lambda: erlang_c(servers, loads), repeats)

    base_n = 2_000

    def python_loop() -> None:
        for c, a in zip(
            servers[:base_n].tolist(), loads[:base_n].tolist(), strict=True
        ):
            b = _erlang_b_recursion.py_func(c, a)
            _ = c * b / (c - a * (1 - b))

    base = median_seconds(python_loop, 3)
    return {
        "erlang_c_evaluations": evaluations,
        "erlang_c_seconds": ours,
        "erlang_c_python_recursion_seconds_scaled": base / base_n * evaluations,
        "erlang_c_speedup_over_python_recursion": base / base_n * evaluations / ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--ciw-customers", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time (default) or this process's CPU time, steadier on a shared "
        "machine",
    )
    args = parser.parse_args()
    CLOCK["now"] = CLOCKS[args.clock]
    rng = np.random.default_rng(12345)

    result = {
        "clock": args.clock,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    result.update(bench_kernels(args.customers, args.repeats, rng))
    result.update(bench_mm3(1_000_000, args.ciw_customers, args.repeats))
    result.update(bench_erlang(1_000_000, args.repeats, rng))
    result["targets_met"] = {
        "gg1_at_most_5_ns": result["gg1_ns_per_customer"] <= 5.0,
        "gg64_at_most_40_ns": result["gg64_ns_per_customer"] <= 40.0,
        "mm3_at_least_1000x_ciw": result["mm3_speedup_over_ciw"] >= 1000.0,
        "erlang_c_million_under_1_s": result["erlang_c_seconds"] < 1.0,
    }
    for key, value in result.items():
        if key not in ("clock", "machine", "targets_met", "compile_s"):
            print(
                f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
