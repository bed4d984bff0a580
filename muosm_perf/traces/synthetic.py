"""A synthetic trace in the Google 2011 layout, made by a small cluster simulation.

:func:`generate_google_2011` writes a self-consistent trace that any reader of the
public ``clusterdata-2011-2`` trace reads unchanged. It is the default input of
``muosm demo`` and a test input whose ground truth is known.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from muosm_perf import __version__
from muosm_perf.errors import ParameterError
from muosm_perf.traces._synthetic_cluster import NEW_MACHINE_SHARE, ClusterSimulation
from muosm_perf.traces._synthetic_usage import usage_rows
from muosm_perf.traces._synthetic_workload import (
    AFTER_WINDOW_US,
    MICROSECONDS,
    WINDOW_START_US,
    JobFactory,
    draw_machines,
    format_number,
)

logger = logging.getLogger(__name__)

GOOGLE_2011_COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "job_events/part-?????-of-?????.csv.gz": (
        ("time", "INTEGER", True),
        ("missing info", "INTEGER", False),
        ("job ID", "INTEGER", True),
        ("event type", "INTEGER", True),
        ("user", "STRING_HASH", False),
        ("scheduling class", "INTEGER", False),
        ("job name", "STRING_HASH", False),
        ("logical job name", "STRING_HASH", False),
    ),
    "task_events/part-?????-of-?????.csv.gz": (
        ("time", "INTEGER", True),
        ("missing info", "INTEGER", False),
        ("job ID", "INTEGER", True),
        ("task index", "INTEGER", True),
        ("machine ID", "INTEGER", False),
        ("event type", "INTEGER", True),
        ("user", "STRING_HASH", False),
        ("scheduling class", "INTEGER", False),
        ("priority", "INTEGER", True),
        ("CPU request", "FLOAT", False),
        ("memory request", "FLOAT", False),
        ("disk space request", "FLOAT", False),
        ("different machines restriction", "BOOLEAN", False),
    ),
    "machine_events/part-00000-of-00001.csv.gz": (
        ("time", "INTEGER", True),
        ("machine ID", "INTEGER", True),
        ("event type", "INTEGER", True),
        ("platform ID", "STRING_HASH", False),
        ("CPUs", "FLOAT", False),
        ("Memory", "FLOAT", False),
    ),
    "machine_attributes/part-00000-of-00001.csv.gz": (
        ("time", "INTEGER", True),
        ("machine ID", "INTEGER", True),
        ("attribute name", "STRING_HASH", True),
        ("attribute value", "STRING_HASH_OR_INTEGER", False),
        ("attribute deleted", "BOOLEAN", True),
    ),
    "task_constraints/part-?????-of-?????.csv.gz": (
        ("time", "INTEGER", True),
        ("job ID", "INTEGER", True),
        ("task index", "INTEGER", True),
        ("comparison operator", "INTEGER", True),
        ("attribute name", "STRING_HASH", True),
        ("attribute value", "STRING_HASH_OR_INTEGER", False),
    ),
    "task_usage/part-?????-of-?????.csv.gz": (
        ("start time", "INTEGER", True),
        ("end time", "INTEGER", True),
        ("job ID", "INTEGER", True),
        ("task index", "INTEGER", True),
        ("machine ID", "INTEGER", True),
        ("CPU rate", "FLOAT", False),
        ("canonical memory usage", "FLOAT", False),
        ("assigned memory usage", "FLOAT", False),
        ("unmapped page cache", "FLOAT", False),
        ("total page cache", "FLOAT", False),
        ("maximum memory usage", "FLOAT", False),
        ("disk I/O time", "FLOAT", False),
        ("local disk space usage", "FLOAT", False),
        ("maximum CPU rate", "FLOAT", False),
        ("maximum disk IO time", "FLOAT", False),
        ("cycles per instruction", "FLOAT", False),
        ("memory accesses per instruction", "FLOAT", False),
        ("sample portion", "FLOAT", False),
        ("aggregation type", "BOOLEAN", False),
        ("sampled CPU usage", "FLOAT", False),
    ),
}
"""Columns (content, format, mandatory) of each table of the public trace, in
file order, keyed by the file pattern of its shards."""

GOOGLE_2011_SCHEMA_CSV = (
    "file pattern,field number,content,format,mandatory\n"
    + "".join(
        f"{pattern},{number},{content},{kind},{'YES' if mandatory else 'NO'}\n"
        for pattern, columns in GOOGLE_2011_COLUMNS.items()
        for number, (content, kind, mandatory) in enumerate(columns, start=1)
    )
)
"""The text of the public trace's ``schema.csv``."""

METADATA_FILE = "synthetic.json"
"""Parameters, seed, version and row counts of a generated trace."""

MAX_MACHINES = 5000
MAX_DURATION_S = 31 * 86_400
MIN_DURATION_S = 300
MAX_SHARDS = 500


def generate_google_2011(
    out_dir: str | Path,
    *,
    machines: int = 200,
    duration_s: int = 6 * 3600,
    seed: int = 0,
    shards: int = 4,
    initial_load: float = 0.75,
    usage_machines: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic trace in the Google 2011 (``clusterdata-2011-2``) layout.

    The trace comes from a discrete-event simulation of one cell, written as the
    public trace is: headerless gzip CSV shards ``part-NNNNN-of-NNNNN.csv.gz`` in
    ``task_events/``, ``job_events/``, ``task_usage/`` and ``machine_events/`` (one
    shard), plus ``schema.csv`` and ``synthetic.json`` (parameters and row counts).
    The same arguments give byte-identical files.

    Parameters
    ----------
    out_dir
        Folder to create. It is written under a temporary name beside it and
        renamed when complete.
    machines
        Machines in the trace, including those that join during the window
        (4 to 5,000). The simulation runs in Python: 200 machines for 6 hours take
        about 1 s, and 100 machines for 20 days took 90 s on a 2-core machine.
    duration_s
        Length of the trace window in seconds (300 s to 31 days).
    seed
        Seed of the only random state used (a non-negative integer).
    shards
        Shards per sharded table (1 to 500). Shard ``k`` contains the rows whose
        time falls in the ``k``-th of equal time ranges from 0 to the window end.
        Rows after the window go to the last shard, and a shard can be empty.
    initial_load
        Share of the cell's CPU requested by the tasks running at the window start
        (above 0, at most 1). The job arrival rate is set to keep this load on
        average, but the load drifts with bursts, queueing, kills and failures.
    usage_machines
        Machines whose tasks report usage (default: a tenth of ``machines``).
    overwrite
        Replace ``out_dir`` if it exists and is not empty.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ParameterError
        If an argument is out of range, or ``out_dir`` is not empty and
        ``overwrite`` is false.

    Notes
    -----
    Times are integer microseconds since 600 s before the window start, as in the
    real trace: the window runs from 600 s to ``600 + duration_s`` seconds. Floats
    are printed with 4 significant digits, like the real trace. Figures called
    "measured" come from the published sample of the trace (its first four
    task_events and job_events shards and its complete machine_events table).

    *Machines.* Platform shapes and their shares are those of the ADD rows of the
    real machine_events table: CPU 0.5 with memory 0.4995 (55%), 0.2493 (29%),
    0.749 (9%) or 0.1241; CPU 1.0 with memory 1.0 (7%); CPU 0.25 with memory
    0.2498 (1%). Platform IDs and every other name are random 44-character base64
    strings like the trace's hashed names. All but 1% of the machines (at least
    one) are ADDed at time 0, and the rest join at a uniform time in the middle
    90% of the window. With 50 or more machines, one machine is added with empty
    capacity, as in 32 ADD rows of the real trace, and nothing is placed on it.
    Each machine is REMOVEd at exponential intervals at 6 times the real rate
    (8,957 removes of 12,583 machines in 29 days), so that a few hours of a small
    cell see several. 95% come back (ADD with the same ID and capacity) after a
    log-normal downtime of median 1,000 s and sigma 2 (measured: median 998 s,
    90th percentile 31,000 s). Tasks on a removed machine are EVICTed at the
    instant of the REMOVE. UPDATEs come at the same rate as REMOVEs: 90% repeat
    the capacity, as 7,341 of the 7,380 real ones do, and 10% move the memory to
    another level of the platform. A machine whose memory shrinks below its
    tasks' requests evicts its lowest-priority tasks until the rest fit.

    *Jobs.* Arriving jobs are free band (35%, priority 0 or 1), middle band (55%,
    priority 2 mostly, also 3, 4 and 8) or production (10%, priority 9 mostly,
    also 10 and 11). The scheduling class (0-3) is drawn per band, for mean
    classes of 0.8, 0.3 and 1.9 (measured: 0.8, 0.3 and 2.2). All tasks of a job
    share its requests, class and priority. CPU and memory requests are
    log-normal per band with the measured medians (CPU 0.0156, 0.025, 0.0625;
    memory 0.0159, 0.0255, 0.028) and sigmas 0.8 and 0.9, capped at 0.5 (and
    memory at least 0.0001). Disk is
    log-normal with median 0.0003. 2% of jobs request exactly 0 CPU, five times
    the measured share (0.4%), so that small traces have some. 70% of jobs have
    one task (measured: 70%), and the others a Pareto number of tasks (alpha 1.1,
    at least 2, at most half the machines and 500). Multi-task jobs carry the
    different-machines restriction with probability 0.15, 0.30 or 0.50 per band,
    and the scheduler honours it. Users follow a Zipf law (exponent 1.2) over
    ``20 + machines // 20`` users.

    3% of middle jobs and 40% of production jobs are services: they run until
    their user KILLs them after a log-normal lifetime (median 1 day, sigma 1,
    capped at 30 days). A batch task runs for a log-normal time (median 300 s,
    sigma 1.2) or, with probability 0.1, a Pareto time (1,800 s minimum, alpha
    1.3), capped at 3 days. Users KILL 35%, 20% and 10% of free, middle and
    production batch jobs after log-normal times of median 120 s, 600 s and 1 h
    (sigma 1.5), which kills their running and pending tasks.

    *Arrivals.* Jobs arrive in bursts: a Poisson process of bursts, modulated by a
    daily sine of amplitude 30%, where 60% of bursts are one job and 40% are a
    geometric number of jobs (mean 6) of one user, band and logical name, spaced
    by log-normal gaps (median 1.5 s, the measured median gap between job
    submissions). The mean rate keeps the load at ``initial_load``: by Little's
    law the mean requested CPU is the job rate times the mean CPU-seconds a job
    requests in its life (tasks x CPU x run time or lifetime, cut by a kill),
    which is computed from the distributions above. Because job sizes and
    lifetimes are heavy-tailed, the load still wanders: over seeds 0-5 of the
    default trace, the time-averaged requested share of CPU was 0.64 to 0.84 for
    an ``initial_load`` of 0.75, and a 20-day trace of 100 machines (seed 1)
    ranged from 0.61 to 0.99 in daily samples, with thousands of tasks queued
    for a few days when it was full. The default trace (seed 0) gets 676 jobs
    and 2.3 task SUBMITs per machine-hour (measured: 2.55), so about 8 times the
    measured job rate per machine, because its jobs have fewer tasks. Job IDs
    grow with submission time from about 6.25e9. Jobs present at the start have
    distinct random smaller IDs.

    *Scheduler.* A job's SUBMIT is followed 2 µs later by its tasks' SUBMITs, and
    its SCHEDULE comes with its first task's SCHEDULE (measured: 2 µs and 3 µs).
    The scheduler considers a submitted task after 1 s plus a log-normal time
    (median 0.3 s, sigma 1), times 10 for class 3, times 1.3 for the free band,
    and divided by ``1 - load**2 / 2``, where ``load`` is the requested share of
    the CPU of machines that are up (measured median delays: 1.7 to 2.3 s per
    band, and 21 s for class 3). It places the task by best fit (least
    normalized CPU plus memory left) among up to 8 machines sampled from those
    where it fits. If none fits, a middle or production task preempts tasks of
    lower bands, lowest priority first, on the machine that lacks the least
    (EVICT and SCHEDULE at one instant); otherwise the task waits. Waiting tasks
    are retried in priority order, then earliest submission first, by a
    scheduler pass 0.5 to 2 s after capacity is freed. A pass looks at 256
    waiting tasks at most and tries 32 at most, so that a long queue costs a
    bounded time. Requests never exceed a machine's capacity: there is no
    overcommitment.

    *Endings.* A batch task that is not stopped FINISHes after its run time.
    Each attempt FAILs with probability 0.03 at a uniform 5-95% of its run time
    (for a service, of a log-normal time of median 1 h). 1% of arriving jobs
    have one to three crash-looping tasks, which FAIL after a log-normal run
    (median 60 s) on every attempt. A batch job whose task fails 10 times FAILs,
    and its other tasks are KILLed, but services keep restarting. An evicted or
    failed task is re-SUBMITted 5-15 µs later (measured medians: 7 µs after
    EVICT, 12 µs after FAIL), or at the same instant with probability 0.25 so
    that ties occur. A job ends 6 µs after its last task (measured: 6 µs), with
    FINISH, KILL or FAIL.

    *Trace start and end.* The cell starts filled to ``initial_load`` of its CPU
    with jobs alive at the window start: services up to the share of the load
    they carry in the long run (computed with the arrival rate), then batch
    jobs. Their lifetimes or run times are drawn length-biased, as for jobs seen
    at a random instant, and a uniform fraction of each is left. Their tasks have
    SUBMIT and SCHEDULE at time 0 ("before the window"). Tasks beyond the target
    load, or that fit nowhere, are pending at time 0. 2% of time-0 SUBMITs carry
    the missing-info code 2 (EXISTS_BUT_NO_CREATION) and no requests, and 60% of
    running tasks' time-0 SUBMITs name their machine, as in the real trace.
    Nothing is written after the window end: tasks still running have no
    terminal event and pending tasks no SCHEDULE, except that 1% of the
    single-task jobs running at the end (at least one) get a task and job FINISH
    at the after-the-window time 2^63-1.

    *Guaranteed cases.* Whatever the seed, a trace contains: a free-band job
    pending at time 0 that its user kills 0.1-0.9 s into the window, before the
    scheduler considers it; a job with job events and no task events, like the
    70 such jobs of the real trace (its KILL comes 1-10 minutes after its
    SUBMIT, if inside the window); and an UPDATE of a machine that is up,
    besides the random ones. When tasks run at the start, it also contains a
    task crash-looping from the window start (a service's that outlives the
    window, when there is one), a time-0 SUBMIT with missing info, and a failure
    of a machine that runs tasks at a uniform time between 20% and 50% of the
    window, whose evicted tasks are re-SUBMITted at the instant of their EVICT.
    The first batch job running at the start requests 0 CPU if no job before it
    did, and at least one usage row is above its machine's CPU capacity when
    there is usage.

    *Usage.* The tasks of ``usage_machines`` randomly chosen machines report one
    row per 5-minute window (aligned on 600 s) cut to the part each attempt ran
    in. CPU rate is the request times a per-attempt log-normal ratio (median
    0.55, sigma 0.6, so about 16% of attempts use more than they request) times a
    per-window log-normal noise (sigma 0.25); a task requesting 0 CPU uses a
    log-normal rate of median 0.002. 0.2% of rows (at least one) measure CPU 5-60%
    above the machine's capacity, as some real rows do. Memory use is the request
    times a uniform 0.35-1.0; the other columns are drawn around these. Sample
    portion is 0, and aggregation type is 1 for 47% of attempts, whose sampled
    CPU usage is then 0: the published sample's first rows show this pattern,
    whose meaning the generator does not model.

    *Not generated.* LOST, UPDATE_PENDING and UPDATE_RUNNING events, job event
    missing-info codes, reused job IDs, overcommitment, task_constraints and
    machine_attributes.
    """
    _check_arguments(machines, duration_s, seed, shards, initial_load, usage_machines)
    out = Path(out_dir)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise ParameterError(
            f"out_dir {str(out)!r} already exists and is not empty; choose a new "
            "folder or pass overwrite=True to replace it"
        )

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    window_end_us = WINDOW_START_US + duration_s * MICROSECONDS
    new_machines = max(1, round(NEW_MACHINE_SHARE * machines))
    cell = draw_machines(rng, machines)
    if machines >= 50:
        blind = cell[int(rng.integers(machines - new_machines))]
        blind.cpu = math.nan
        blind.memory = math.nan
    factory = JobFactory(
        rng, max_tasks=min(500, machines // 2), users=20 + machines // 20
    )
    simulation = ClusterSimulation(
        rng, cell, new_machines, factory, window_end_us, initial_load
    )
    rows = simulation.run()
    sampled = machines // 10 if usage_machines is None else usage_machines
    usage = usage_rows(rng, rows.attempts, cell, max(sampled, 0), window_end_us)

    tables = {
        "task_events": _sorted_lines(rows.task_events, _task_line),
        "job_events": _sorted_lines(rows.job_events, _job_line),
        "machine_events": _sorted_lines(rows.machine_events, _machine_line),
        "task_usage": _usage_lines(usage),
    }
    metadata = {
        "generator": "muosm_perf.traces.synthetic.generate_google_2011",
        "muosm_perf_version": __version__,
        "format": "google-2011",
        "parameters": {
            "machines": machines,
            "duration_s": duration_s,
            "seed": seed,
            "shards": shards,
            "initial_load": initial_load,
            "usage_machines": sampled,
        },
        "window_us": [WINDOW_START_US, window_end_us],
        "job_arrival_rate_per_s": round(simulation.job_rate, 6),
        "rows": {name: len(lines) for name, lines in tables.items()},
    }

    temporary = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex}"
    temporary.mkdir(parents=True)
    try:
        for name in ("task_events", "job_events", "task_usage"):
            _write_shards(temporary / name, tables[name], shards, window_end_us)
        _write_shards(temporary / "machine_events", tables["machine_events"], 1, 0)
        (temporary / "schema.csv").write_text(GOOGLE_2011_SCHEMA_CSV, encoding="utf-8")
        (temporary / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _replace_folder(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise

    logger.info(
        "wrote a synthetic Google 2011 trace to %s in %.1f s: %s",
        out,
        time.perf_counter() - started,
        ", ".join(f"{name} {count} rows" for name, count in metadata["rows"].items()),
    )
    return out


def _check_arguments(
    machines: int,
    duration_s: int,
    seed: int,
    shards: int,
    initial_load: float,
    usage_machines: int | None,
) -> None:
    checks: list[tuple[str, object, bool, str]] = [
        (
            "machines",
            machines,
            _is_int(machines) and 4 <= machines <= MAX_MACHINES,
            f"an integer from 4 to {MAX_MACHINES}",
        ),
        (
            "duration_s",
            duration_s,
            _is_int(duration_s) and MIN_DURATION_S <= duration_s <= MAX_DURATION_S,
            f"an integer number of seconds from {MIN_DURATION_S} to "
            f"{MAX_DURATION_S} (31 days)",
        ),
        ("seed", seed, _is_int(seed) and seed >= 0, "a non-negative integer"),
        (
            "shards",
            shards,
            _is_int(shards) and 1 <= shards <= MAX_SHARDS,
            f"an integer from 1 to {MAX_SHARDS}",
        ),
        (
            "initial_load",
            initial_load,
            isinstance(initial_load, int | float)
            and not isinstance(initial_load, bool)
            and 0 < initial_load <= 1,
            "a number above 0 and at most 1",
        ),
        (
            "usage_machines",
            usage_machines,
            usage_machines is None
            or (_is_int(usage_machines) and 0 <= usage_machines <= machines),
            "None or an integer from 0 to the number of machines",
        ),
    ]
    for name, value, valid, expected in checks:
        if not valid:
            raise ParameterError(f"invalid {name}={value!r}: expected {expected}")


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _task_line(row: tuple) -> str:
    (time_us, _, missing, job_id, index, machine, event, user, klass, priority) = row[
        :10
    ]
    cpu, memory, disk, different = row[10:]
    return ",".join(
        (
            str(time_us),
            _text(missing),
            str(job_id),
            str(index),
            _text(machine),
            str(event),
            user,
            str(klass),
            str(priority),
            format_number(cpu),
            format_number(memory),
            format_number(disk),
            _text(different),
        )
    )


def _job_line(row: tuple) -> str:
    time_us, _, missing, job_id, event, user, klass, name, logical = row
    return ",".join(
        (
            str(time_us),
            _text(missing),
            str(job_id),
            str(event),
            user,
            str(klass),
            name,
            logical,
        )
    )


def _machine_line(row: tuple) -> str:
    time_us, _, machine_id, event, platform, cpu, memory = row
    return ",".join(
        (
            str(time_us),
            str(machine_id),
            str(event),
            platform,
            format_number(cpu),
            format_number(memory),
        )
    )


def _sorted_lines(
    rows: Sequence[tuple], line: Callable[[tuple], str]
) -> list[tuple[int, str]]:
    """Sort rows by time, then by emission order, and format them."""
    return [(row[0], line(row)) for row in sorted(rows, key=lambda r: (r[0], r[1]))]


def _usage_lines(rows: Sequence[tuple]) -> list[tuple[int, str]]:
    ordered = sorted(
        enumerate(rows), key=lambda item: (item[1][0], item[1][2], item[1][3], item[0])
    )
    lines = []
    for _, row in ordered:
        integers = [str(v) for v in row[:5]]
        floats = [format_number(v) for v in row[5:18]]
        lines.append(
            (
                row[0],
                ",".join([*integers, *floats, str(row[18]), format_number(row[19])]),
            )
        )
    return lines


def _write_shards(
    folder: Path, lines: Sequence[tuple[int, str]], shards: int, window_end_us: int
) -> None:
    """Write time-ordered lines into ``shards`` gzip files by equal time ranges."""
    folder.mkdir()
    span = -(-(window_end_us + 1) // shards)
    parts: list[list[str]] = [[] for _ in range(shards)]
    for time_us, text in lines:
        index = (
            shards - 1
            if time_us == AFTER_WINDOW_US
            else min(time_us // span, shards - 1)
        )
        parts[index].append(text)
    for index, part in enumerate(parts):
        payload = "".join(f"{text}\n" for text in part).encode("utf-8")
        buffer = io.BytesIO()
        # mtime 0 and no file name in the header, as in the public trace's shards,
        # so the same content gives the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
            handle.write(payload)
        (folder / f"part-{index:05d}-of-{shards:05d}.csv.gz").write_bytes(
            buffer.getvalue()
        )


def _replace_folder(temporary: Path, out: Path) -> None:
    if not out.exists():
        temporary.rename(out)
        return
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex}"
    if out.is_dir():
        out.rename(retired)
    else:
        out.replace(retired)
    temporary.rename(out)
    if retired.is_dir():
        shutil.rmtree(retired, ignore_errors=True)
    else:
        retired.unlink(missing_ok=True)
