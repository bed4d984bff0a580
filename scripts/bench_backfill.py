"""Benchmark the FCFS/EASY replay kernel against its pure-Python reference.

The workload is seeded and synthetic: rigid jobs with Poisson submits, log-uniform
processor counts up to the machine, log-normal run times and estimates 1-3 times
the run time. Both replay the same jobs, then the kernel alone replays a larger
workload. The first kernel call, which compiles, is timed apart. Times are
medians of ``--repeats`` runs; the last line printed is one JSON object.

    PYTHONPATH=. python scripts/bench_backfill.py --jobs 3000 --large 200000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numba
import numpy as np

from muosm_perf.kernels.backfill import replay_schedule
from muosm_perf.kernels.reference.backfill import replay_reference


def workload(jobs: int, capacity: int, seed: int) -> dict[str, np.ndarray]:
    """Draw a workload whose offered load is about 90% of the machine."""
    rng = np.random.default_rng(seed)
    processors = np.exp(rng.uniform(0, np.log(capacity), jobs)).astype(np.int64)
    run = np.exp(rng.normal(5.0, 1.5, jobs)).astype(np.int64)
    estimate = (run * rng.uniform(1.0, 3.0, jobs)).astype(np.int64)
    work = float((processors * run).sum())
    gap = work / (0.9 * capacity) / jobs
    submit = np.cumsum(rng.exponential(gap, jobs)).astype(np.int64)
    return {
        "submit": submit,
        "run": run,
        "estimate": estimate,
        "processors": processors,
    }


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="jobs for both")
    parser.add_argument("--large", type=int, default=200_000, help="kernel only")
    parser.add_argument("--capacity", type=int, default=128, help="processors")
    parser.add_argument("--policy", choices=("fcfs", "easy"), default="easy")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    small = workload(args.jobs, args.capacity, args.seed)
    large = workload(args.large, args.capacity, args.seed + 1)

    def kernel(jobs):
        return replay_schedule(
            jobs["submit"],
            jobs["run"],
            jobs["estimate"],
            jobs["processors"],
            args.capacity,
            args.policy,
        )

    started = time.perf_counter()
    kernel(workload(10, args.capacity, args.seed))
    first_call_s = time.perf_counter() - started

    lists = {name: values.tolist() for name, values in small.items()}
    reference_s = median_seconds(
        lambda: replay_reference(
            lists["submit"],
            lists["run"],
            lists["estimate"],
            lists["processors"],
            args.capacity,
            args.policy,
        ),
        max(1, args.repeats // 2),
    )
    kernel_s = median_seconds(lambda: kernel(small), args.repeats)
    agree = kernel(small).tolist() == replay_reference(
        lists["submit"],
        lists["run"],
        lists["estimate"],
        lists["processors"],
        args.capacity,
        args.policy,
    )
    large_s = median_seconds(lambda: kernel(large), args.repeats)
    waits = kernel(large) - large["submit"]

    print(f"first kernel call (compile or cache load): {first_call_s:.3f} s")
    print(f"{args.jobs:,} jobs: reference {reference_s:.3f} s, kernel {kernel_s:.4f} s")
    print(f"{args.large:,} jobs: kernel {large_s:.3f} s, mean wait {waits.mean():.0f}")
    print(
        json.dumps(
            {
                "benchmark": "backfill_replay",
                "policy": args.policy,
                "capacity": args.capacity,
                "jobs": args.jobs,
                "large_jobs": args.large,
                "seed": args.seed,
                "repeats": args.repeats,
                "first_call_s": first_call_s,
                "reference_median_s": reference_s,
                "kernel_median_s": kernel_s,
                "speedup_over_reference": reference_s / kernel_s,
                "kernel_large_median_s": large_s,
                "large_mean_wait": float(waits.mean()),
                "kernel_agrees_with_reference": agree,
                "numba": numba.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
