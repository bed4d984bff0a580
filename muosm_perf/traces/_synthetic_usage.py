"""Resource-usage windows of the synthetic Google 2011 trace (the task_usage table).

Each attempt that runs on a sampled machine gets one row per 5-minute window it
overlaps, cut to the part of the window it ran in, as the real table reports usage.
The distributions are listed in the docstring of
:func:`muosm_perf.traces.synthetic.generate_google_2011`.
"""

from __future__ import annotations

import math

import numpy as np

from muosm_perf.traces._synthetic_workload import (
    MICROSECONDS,
    WINDOW_START_US,
    Job,
    Machine,
)

USAGE_WINDOW_US = 300 * MICROSECONDS
"""Length of a usage window; windows are aligned on the window start (600 s)."""

OVER_CAPACITY_SHARE = 0.002
ZERO_REQUEST_CPU_MEDIAN = 0.002


def usage_rows(
    rng: np.random.Generator,
    attempts: list[list],
    machines: list[Machine],
    sampled_machines: int,
    window_end_us: int,
) -> list[tuple]:
    """Draw usage rows for every attempt on ``sampled_machines`` random machines.

    Parameters
    ----------
    rng
        The generator's random state.
    attempts
        Attempts as recorded by the simulation: job ID, task index, machine, start
        time, end time (``None`` if running at the window end), job.
    machines
        Every machine; only those with a known capacity are sampled.
    sampled_machines
        How many machines report usage.
    window_end_us
        Trace time of the window end.

    Returns
    -------
    list of tuple
        Rows of the 20 task_usage columns, floats unrounded, in attempt order and
        then window order; the writer sorts them by start time.
    """
    known = [m.index for m in machines if not math.isnan(m.cpu)]
    if not known or sampled_machines <= 0:
        return []
    size = min(sampled_machines, len(known))
    chosen = {int(i) for i in rng.choice(known, size=size, replace=False)}

    rows: list[tuple] = []
    for job_id, task_index, machine, start_us, end_us, job in attempts:
        if machine.index not in chosen:
            continue
        stop_us = window_end_us if end_us is None else end_us
        if stop_us <= start_us:
            continue
        rows.extend(
            _attempt_rows(rng, job_id, task_index, machine, start_us, stop_us, job)
        )

    # A few measurements above the machine's capacity, as the real trace has; at
    # least one whenever there are rows.
    if rows:
        flagged = np.flatnonzero(rng.random(len(rows)) < OVER_CAPACITY_SHARE)
        if not flagged.size:
            flagged = np.array([int(rng.integers(len(rows)))])
        for i in flagged:
            row = list(rows[int(i)])
            capacity = row[-1]
            row[5] = capacity * rng.uniform(1.05, 1.6)
            row[13] = max(row[13], row[5] * rng.uniform(1.0, 1.3))
            rows[int(i)] = tuple(row)
    return [row[:-1] for row in rows]


def _attempt_rows(
    rng: np.random.Generator,
    job_id: int,
    task_index: int,
    machine: Machine,
    start_us: int,
    stop_us: int,
    job: Job,
) -> list[tuple]:
    cpu_request = job.cpu
    memory_request = job.memory
    disk_request = job.disk

    # Per-attempt level: most tasks use less than they request, some more.
    cpu_ratio = float(rng.lognormal(math.log(0.55), 0.6))
    memory_ratio = float(rng.uniform(0.35, 1.0))
    cpi = float(rng.lognormal(math.log(2.0), 0.35))
    mai = float(rng.lognormal(math.log(0.008), 0.6))
    aggregated = rng.random() < 0.47

    rows = []
    first = (start_us - WINDOW_START_US) // USAGE_WINDOW_US
    window_start = WINDOW_START_US + first * USAGE_WINDOW_US
    while window_start < stop_us:
        window_end = window_start + USAGE_WINDOW_US
        begin = max(window_start, start_us)
        end = min(window_end, stop_us)
        window_start = window_end
        if end <= begin:
            continue
        noise = float(rng.lognormal(0.0, 0.25))
        if cpu_request > 0:
            cpu = cpu_request * cpu_ratio * noise
        else:
            cpu = float(rng.lognormal(math.log(ZERO_REQUEST_CPU_MEDIAN), 0.8))
        memory = memory_request * memory_ratio * float(rng.lognormal(0.0, 0.05))
        unmapped_cache = memory_request * float(rng.uniform(0.0, 0.05))
        disk_io = float(rng.lognormal(math.log(1e-4), 1.0))
        rows.append(
            (
                begin,
                end,
                job_id,
                task_index,
                machine.machine_id,
                cpu,
                memory,
                memory * float(rng.uniform(1.0, 1.2)),
                unmapped_cache,
                unmapped_cache + memory_request * float(rng.uniform(0.0, 0.1)),
                memory * float(rng.uniform(1.0, 1.15)),
                disk_io,
                disk_request * float(rng.uniform(0.05, 1.0)),
                cpu * float(rng.uniform(1.1, 4.0)),
                disk_io * float(rng.uniform(1.0, 5.0)),
                cpi,
                mai,
                0.0,
                int(aggregated),
                0.0 if aggregated else cpu * float(rng.lognormal(0.0, 0.5)),
                machine.cpu,
            )
        )
    return rows
