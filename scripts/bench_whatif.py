"""Time a 100-scenario what-if sweep on the Google 2011 sample with 1 and 2 workers.

The sweep is a 10 x 10 grid: machines resized to 80% ... 125% of those present,
times the load scaled by 0.8 ... 1.25 (jobs replicated or thinned), all replayed
by the default, calibrated policy on a base that holds out the attempts the trace
never scheduled. The baseline is the same sweep on one worker process; the
ratio of the medians is the speed-up of the second worker. The machine may be
shared, so each run also records the load average and the share of their CPUs the
worker processes got. Each run starts a fresh
runner and first evaluates one scenario per worker, so that process start, imports
and the Numba cache load (or compilation) are timed apart from the sweep. The
tables of both worker counts must be equal, which is checked. With ``--dask`` the
sweep also runs on a local Dask cluster of 2 workers.

The last line printed is one JSON object with every figure.

Usage: python scripts/bench_whatif.py [SAMPLES] [--store STORE] [--runs 3]
       [--scenarios 100] [--dask]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from whatif_sample import add_arguments, sample_store

from muosm_perf.whatif import (
    ReplayEvaluation,
    ResizeMachines,
    ScaleLoad,
    Scenario,
    expand_sweep,
    load_base,
    open_runner,
    run_sweep,
)
from muosm_perf.whatif.execution import Payload

OUTPUTS = (
    "production_delay_p95_s",
    "middle_delay_p95_s",
    "all_unscheduled_fraction",
    "cpu_utilization_mean",
    "machines",
)


def grid(count: int) -> list[Scenario]:
    """Return ``count`` scenarios (a square grid, cut to ``count``)."""
    side = math.ceil(math.sqrt(count))
    template = Scenario(
        name="bench",
        transforms=(ResizeMachines(fraction=1.0), ScaleLoad(factor=1.0)),
        seed=2011,
    )
    values = np.round(np.linspace(0.8, 1.25, side), 4).tolist()
    scenarios = expand_sweep(
        template,
        {"resize_machines.fraction": values, "scale_load.factor": values},
    )
    return scenarios[:count]


def children_cpu_s() -> float:
    """Return the CPU time of this process's finished child processes, seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_sweep(base, evaluation, scenarios, workers, dask=None) -> dict:
    """Start a runner, warm it up, then time the sweep; return the timings.

    ``worker_cpu_s`` is the CPU time of the worker processes over the runner's
    whole life (start, warm-up and sweep), counted when they exit. Equal CPU
    times for 1 and 2 workers mean the second worker adds no work. Divided by
    ``workers`` times the wall time, it is the share of their CPUs the workers
    got on a shared machine (``worker_cpu_share``).
    """
    load_before = os.getloadavg()[0]
    cpu_before = children_cpu_s()
    began = time.perf_counter()
    with open_runner(base, evaluation, workers=workers, dask=dask) as runner:
        warm = [Scenario(name=f"warm-up-{i}", seed=i) for i in range(max(1, workers))]
        runner.run(warm)
        startup = time.perf_counter() - began
        began_sweep = time.perf_counter()
        table = run_sweep(base, scenarios, evaluation, runner=runner)
        sweep = time.perf_counter() - began_sweep
    life = time.perf_counter() - began
    worker_cpu = children_cpu_s() - cpu_before
    return {
        "startup_s": startup,
        "sweep_s": sweep,
        "worker_cpu_s": worker_cpu,
        "worker_cpu_share": worker_cpu / (max(1, workers) * life),
        "load_average": (load_before + os.getloadavg()[0]) / 2,
        "table": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count")
    parser.add_argument("--scenarios", type=int, default=100, help="sweep size")
    parser.add_argument(
        "--dask", action="store_true", help="also time a local Dask cluster"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        began = time.perf_counter()
        base = load_base(sample_store(args, Path(scratch)))
        prepare_s = time.perf_counter() - began
    evaluation = ReplayEvaluation(outputs=OUTPUTS)
    scenarios = grid(args.scenarios)
    payload_mb = len(pickle.dumps(Payload(base, evaluation))) / 1e6
    print(
        f"{len(scenarios)} scenarios on {base.prepared.inputs.processes:,} processes "
        f"and {base.present_machines:,} machines; payload {payload_mb:.1f} MB"
    )

    configurations = [("local", 1, None), ("local", 2, None)]
    if args.dask:
        configurations.append(("dask", 2, "local"))
    timings: dict[str, list[dict]] = {}
    tables = {}
    for run in range(args.runs):
        for kind, workers, dask in configurations:
            key = f"{kind}-{workers}"
            result = timed_sweep(base, evaluation, scenarios, workers, dask)
            tables.setdefault(key, result.pop("table"))
            timings.setdefault(key, []).append(result)
            print(
                f"run {run + 1}: {key}: sweep {result['sweep_s']:.1f} s, "
                f"start and warm-up {result['startup_s']:.1f} s, workers got "
                f"{100 * result['worker_cpu_share']:.0f}% of their CPUs, load "
                f"average {result['load_average']:.1f}"
            )

    reference = tables["local-1"]
    equal = {key: table.equals(reference) for key, table in tables.items()}
    figures: dict[str, object] = {}
    for key, runs in timings.items():
        sweep = statistics.median(r["sweep_s"] for r in runs)
        figures[key] = {
            "sweep_s": round(sweep, 2),
            "per_scenario_s": round(sweep / len(scenarios), 3),
            "startup_s": round(statistics.median(r["startup_s"] for r in runs), 2),
            "worker_cpu_s": round(
                statistics.median(r["worker_cpu_s"] for r in runs), 1
            ),
            "worker_cpu_share": round(
                statistics.median(r["worker_cpu_share"] for r in runs), 3
            ),
            "load_average": round(
                statistics.median(r["load_average"] for r in runs), 2
            ),
            "runs": [round(r["sweep_s"], 2) for r in runs],
            "table_equals_1_worker": equal[key],
        }
    speedup = figures["local-1"]["sweep_s"] / figures["local-2"]["sweep_s"]
    for key, values in figures.items():
        print(f"{key}: median sweep {values['sweep_s']} s over {args.runs} runs")
    print(f"2 workers over 1: speed-up {speedup:.2f} (ideal 2)")
    summary = {
        "benchmark": "whatif_sweep",
        "scenarios": len(scenarios),
        "processes": int(base.prepared.inputs.processes),
        "machines": base.present_machines,
        "policy": scenarios[0].scheduler_policy().describe(),
        "unscheduled": base.unscheduled,
        "prepare_base_s": round(prepare_s, 2),
        "payload_mb": round(payload_mb, 1),
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "speedup_2_over_1": round(speedup, 3),
        **figures,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
