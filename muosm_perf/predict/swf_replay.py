"""Replay of an SWF log under FCFS or EASY backfilling, predicting wait times.

Most archived logs record no wait time (the field is -1), so the instant a job
started is unknown. Replaying the log on its machine (``MaxProcs`` processors) with
a queueing policy predicts it: the predicted wait of a job is its replayed start
minus its submit time.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.backfill import POLICIES, replay_schedule
from muosm_perf.model.store import TraceStore

logger = logging.getLogger(__name__)


def swf_capacity(store: TraceStore) -> int:
    """Return the processors of an SWF store's machine (its one cell's capacity).

    Raises
    ------
    ParameterError
        If the store is not an SWF store or its machine's capacity is unknown.
    """
    if store.source_format != "swf":
        raise ParameterError(
            f"{store.path} contains a {store.source_format} trace; only SWF stores can "
            "be replayed as rigid jobs on one machine"
        )
    capacity = store.read("cells")["cpu_capacity"].drop_nulls()
    if capacity.len() == 0:
        raise ParameterError(
            f"{store.path}: the log gives neither MaxProcs nor MaxNodes, so the "
            "machine's processors are unknown; pass capacity="
        )
    return int(capacity.sum())


def replay_swf(
    store: TraceStore, *, policy: str = "easy", capacity: int | None = None
) -> pl.DataFrame:
    """Replay the jobs of an SWF store and return their predicted waits.

    Each job needs its allocated processors (the requested ones where the log has
    no allocation) for its logged run time; EASY reservations use the requested
    time as the estimate (the run time where the log has none).

    Parameters
    ----------
    store
        A store ingested with ``muosm ingest swf``.
    policy
        ``fcfs`` or ``easy``.
    capacity
        Processors of the machine; by default the header's ``MaxProcs``.

    Returns
    -------
    polars.DataFrame
        One row per job line: ``job_number``, ``line``, ``submit_time_us``,
        ``logged_wait_time_us`` (null where the log has none),
        ``predicted_start_time_us`` and ``predicted_wait_time_us`` (null for jobs
        that cannot be replayed: unknown run time, no processors, or more than the
        machine has).
    """
    if policy not in POLICIES:
        raise ParameterError(
            f"policy must be one of {', '.join(POLICIES)}, got {policy!r}"
        )
    if capacity is None:
        capacity = swf_capacity(store)
    jobs = store.read(
        "swf_jobs",
        [
            "line",
            "job_number",
            "submit_time",
            "wait_time",
            "run_time",
            "allocated_processors",
            "requested_processors",
            "requested_time",
        ],
    )
    processors = jobs.select(
        pl.coalesce("allocated_processors", "requested_processors").fill_null(0)
    ).to_series()

    def ints(column: str) -> np.ndarray:
        return jobs[column].fill_null(NULL_INT).to_numpy()

    start = replay_schedule(
        ints("submit_time"),
        ints("run_time"),
        ints("requested_time"),
        processors.to_numpy(),
        capacity,
        policy,
    )
    predicted = pl.Series("predicted_start_time_us", start)
    predicted = predicted.set(predicted == NULL_INT, None)
    left_out = int(predicted.null_count())
    if left_out:
        logger.info(
            "%s: %d of %d jobs not replayed (unknown run time, no processors or "
            "more than %d)",
            store.path,
            left_out,
            jobs.height,
            capacity,
        )
    return jobs.select(
        "job_number",
        "line",
        pl.col("submit_time").alias("submit_time_us"),
        pl.col("wait_time").alias("logged_wait_time_us"),
    ).with_columns(
        predicted,
        (predicted - pl.col("submit_time_us")).alias("predicted_wait_time_us"),
    )
