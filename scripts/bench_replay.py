"""Benchmark the replay kernel: against SimPy, at full trace scale, and per placement.

Usage, from the repository root::

    PYTHONPATH=$PWD python scripts/bench_replay.py [--quick] [--parts PARTS]

Each part runs on a synthetic workload drawn with a fixed seed. Jobs have a
geometric size with a mean of 37 tasks, as the 2011 trace has 25.4 million tasks in
672,004 jobs. Requests are per job, durations log-normal and sized for a CPU load
near 70%, and machines fail and change capacity. The parts:

1. the SimPy implementation of the model and the kernel on the same input, in the
   same run, with identical outputs checked;
2. a full-scale replay (12,500 machines, 25 million tasks, 29 days) in a child
   process, whose peak resident memory (``ru_maxrss``) is the figure reported;
3. the time per placement at several machine counts, the number of tasks scaled
   with the machines so that the load stays the same.

Compilation (or the Numba cache load) is timed apart, before any timing. It prints
a few lines of text and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.kernels.reference.replay_simpy import replay_simpy
from muosm_perf.kernels.replay import ReplayInput, compile_replay, replay_arrays
from muosm_perf.model.lifecycle import CellEvent

SECOND_US = 1_000_000
BEST_FIT_LIMIT = 16_000
DAY_US = 86_400 * SECOND_US


def synthetic_workload(
    machines: int,
    tasks: int,
    span_us: int,
    *,
    seed: int,
    load: float = 0.7,
    grid_step_us: int = 300 * SECOND_US,
) -> ReplayInput:
    """Draw a replay input with ``tasks`` processes on ``machines`` machines."""
    rng = np.random.default_rng(seed)

    # Machines: mostly half-size, as in the 2011 trace, with a few full-size and
    # quarter-size ones. Failures: a REMOVE and an ADD 10 to 60 minutes later for
    # about 70% of the machines over 29 days, and a few capacity UPDATEs.
    cpu_capacity = rng.choice([0.25, 0.5, 1.0], machines, p=[0.05, 0.85, 0.10])
    memory_capacity = rng.choice(
        [0.25, 0.5, 0.75, 1.0], machines, p=[0.1, 0.6, 0.2, 0.1]
    )
    failures = int(0.7 * machines * span_us / (29 * DAY_US))
    failed = rng.integers(0, machines, failures)
    removed_at = rng.integers(0, span_us, failures)
    back_at = removed_at + rng.integers(600, 3600, failures) * SECOND_US
    updates = failures // 2
    updated = rng.integers(0, machines, updates)
    event_time = np.concatenate(
        [
            np.zeros(machines, np.int64),
            removed_at,
            back_at,
            rng.integers(0, span_us, updates),
        ]
    )
    event_machine = np.concatenate([np.arange(machines), failed, failed, updated])
    event_kind = np.concatenate(
        [
            np.full(machines, CellEvent.ADD),
            np.full(failures, CellEvent.REMOVE),
            np.full(failures, CellEvent.ADD),
            np.full(updates, CellEvent.UPDATE),
        ]
    ).astype(np.int8)
    event_cpu = np.concatenate(
        [
            cpu_capacity,
            np.full(failures, np.nan),
            cpu_capacity[failed],
            cpu_capacity[updated],
        ]
    )
    event_memory = np.concatenate(
        [
            memory_capacity,
            np.full(failures, np.nan),
            memory_capacity[failed],
            memory_capacity[updated] * 0.9,
        ]
    )
    order = np.argsort(event_time, kind="stable")

    # Jobs, their submission instants, band and per-job requests.
    jobs = max(1, tasks // 37)
    sizes = rng.geometric(1 / 37, jobs)
    sizes = sizes[np.cumsum(sizes) <= tasks]
    if sizes.sum() < tasks:
        sizes = np.append(sizes, tasks - sizes.sum())
    jobs = sizes.shape[0]
    job_submit = np.sort(rng.integers(0, span_us, jobs))
    job_priority = rng.choice(
        [0, 1, 2, 4, 9, 10], jobs, p=[0.3, 0.1, 0.3, 0.15, 0.1, 0.05]
    )
    job_cpu = np.minimum(rng.lognormal(np.log(0.02), 0.8, jobs), 0.5)
    job_memory = np.minimum(rng.lognormal(np.log(0.015), 0.9, jobs), 0.5)
    cpu = np.repeat(job_cpu, sizes)
    mean_duration_us = load * cpu_capacity.sum() * span_us / (tasks * cpu.mean())
    sigma = 1.5
    duration = rng.lognormal(np.log(mean_duration_us) - sigma**2 / 2, sigma, tasks)
    return ReplayInput(
        machines=machines,
        machine_event_time_us=np.ascontiguousarray(event_time[order]),
        machine_event_machine=np.ascontiguousarray(
            event_machine[order].astype(np.int64)
        ),
        machine_event_kind=np.ascontiguousarray(event_kind[order]),
        machine_event_cpu_capacity=np.ascontiguousarray(event_cpu[order]),
        machine_event_memory_capacity=np.ascontiguousarray(event_memory[order]),
        submit_time_us=np.repeat(job_submit, sizes).astype(np.int64),
        cpu_request=cpu,
        memory_request=np.repeat(job_memory, sizes),
        priority=np.repeat(job_priority, sizes).astype(np.int64),
        duration_us=np.minimum(duration, 10 * span_us).astype(np.int64),
        end_time_us=np.full(tasks, NULL_INT, np.int64),
        grid_us=np.arange(0, span_us + 1, grid_step_us, dtype=np.int64),
        horizon_us=span_us,
        group=np.repeat(np.arange(jobs, dtype=np.int64), sizes),
    )


def median_time(function, repeats: int) -> tuple[float, object]:
    """Return the median wall time of ``repeats`` calls and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def compare_with_simpy(machines: int, tasks: int, repeats: int) -> dict:
    """Time SimPy and the kernel on one input and check they agree."""
    inputs = synthetic_workload(machines, tasks, 2 * 3600 * SECOND_US, seed=11)
    policy = SchedulerPolicy(job_decision_s=0.05, schedulers=4)
    simpy_s, simpy_output = median_time(lambda: replay_simpy(inputs, policy), repeats)
    kernel_s, kernel_output = median_time(
        lambda: replay_arrays(inputs, policy), repeats
    )
    identical = bool(
        np.array_equal(simpy_output.schedule_time_us, kernel_output.schedule_time_us)
        and np.array_equal(simpy_output.machine, kernel_output.machine)
        and np.array_equal(simpy_output.cpu_in_use, kernel_output.cpu_in_use)
    )
    return {
        "machines": machines,
        "tasks": tasks,
        "policy": policy.describe(),
        "simpy_s": simpy_s,
        "kernel_s": kernel_s,
        "speedup": simpy_s / kernel_s,
        "identical_outputs": identical,
        "placements": kernel_output.totals["placements"],
    }


def full_scale_child(machines: int, tasks: int, days: float) -> dict:
    """Replay a full-scale workload in this process; report time and peak memory."""
    compile_s = compile_replay()
    began = time.perf_counter()
    inputs = synthetic_workload(machines, tasks, int(days * DAY_US), seed=2011)
    generate_s = time.perf_counter() - began
    began = time.perf_counter()
    began_cpu = time.process_time()
    output = replay_arrays(inputs)
    replay_s = time.perf_counter() - began
    replay_cpu_s = time.process_time() - began_cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "machines": machines,
        "tasks": tasks,
        "days": days,
        "machine_events": int(inputs.machine_event_time_us.shape[0]),
        "compile_s": compile_s,
        "generate_s": generate_s,
        "replay_s": replay_s,
        "replay_cpu_s": replay_cpu_s,
        "load_average": os.getloadavg(),
        "peak_rss_gib": peak_kib / 2**20,
        "totals": output.totals,
        "mean_cpu_utilization": float(
            np.mean(output.cpu_in_use[1:] / output.cpu_capacity[1:])
        ),
    }


def full_scale(machines: int, tasks: int, days: float) -> dict:
    """Run :func:`full_scale_child` in a fresh process, so its peak is its own."""
    command = [
        sys.executable,
        __file__,
        "--child-full-scale",
        f"{machines},{tasks},{days}",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def placement_scaling(
    machine_counts: list[int], tasks_per_machine: int, repeats: int
) -> list[dict]:
    """Time per placement at several machine counts, load held constant.

    Best-fit is timed only up to 16,000 machines, because its search is not
    logarithmic (see :func:`muosm_perf.kernels.placement.best_fit`).
    """
    rows = []
    for machines in machine_counts:
        tasks = machines * tasks_per_machine
        inputs = synthetic_workload(machines, tasks, DAY_US, seed=machines)
        for placement in ("first-fit", "sampled", "worst-fit", "best-fit"):
            if placement == "best-fit" and machines > BEST_FIT_LIMIT:
                continue
            policy = SchedulerPolicy(placement=placement)
            seconds, output = median_time(
                lambda policy=policy, inputs=inputs: replay_arrays(inputs, policy),
                repeats,
            )
            row = {
                "machines": machines,
                "tasks": tasks,
                "placement": placement,
                "seconds": seconds,
                "placements": output.totals["placements"],
                "ns_per_placement": 1e9 * seconds / output.totals["placements"],
            }
            rows.append(row)
            print(
                f"{machines:>6} machines {placement:<9} "
                f"{row['ns_per_placement']:8.0f} ns per placement",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parts",
        default="simpy,scaling,full",
        help="comma-separated parts to run: simpy, scaling, full (default all)",
    )
    parser.add_argument("--child-full-scale", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_full_scale:
        machines, tasks, days = args.child_full_scale.split(",")
        print(json.dumps(full_scale_child(int(machines), int(tasks), float(days))))
        return 0

    compile_s = compile_replay()
    if args.quick:
        simpy_size, scale, counts = (20, 1_000), (1_000, 200_000, 2.0), [500, 2_000]
    else:
        simpy_size = (200, 20_000)
        scale = (12_500, 25_000_000, 29.0)
        counts = [1_000, 4_000, 16_000, 64_000]

    parts = set(args.parts.split(","))
    simpy = scaling = big = None
    if "simpy" in parts:
        simpy = compare_with_simpy(*simpy_size, args.repeats)
        print(
            f"SimPy {simpy['simpy_s']:.2f} s, kernel {simpy['kernel_s'] * 1e3:.2f} "
            f"ms, speed-up {simpy['speedup']:.0f}x, identical "
            f"{simpy['identical_outputs']}",
            flush=True,
        )
    if "scaling" in parts:
        scaling = placement_scaling(counts, 20, args.repeats)
    if "full" in parts:
        big = full_scale(*scale)
        print(
            f"full scale: {big['tasks']:,} tasks on {big['machines']:,} machines "
            f"over {big['days']} days in {big['replay_s']:.1f} s "
            f"({big['replay_cpu_s']:.1f} s CPU), peak {big['peak_rss_gib']:.2f} GiB",
            flush=True,
        )
    figures = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "compile_s": compile_s,
        "simpy": simpy,
        "placement_scaling": scaling,
        "full_scale": big,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
