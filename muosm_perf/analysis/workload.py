"""The process view of a store: how many processes, how big, how long, how often.

Sizes are processes per group; durations are run times of attempts (SCHEDULE to
end, or the duration the trace records); attempts per process count restarts.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from muosm_perf.analysis.characterize import distribution_summary
from muosm_perf.model.store import TraceStore

OUTCOMES = ("FINISH", "FAIL", "KILL", "EVICT", "LOST", "running_at_end", "end_unknown")
"""Outcomes of an attempt that :func:`process_summary` counts."""


def outcome() -> pl.Expr:
    """Classify an attempt's end: an end state, running at the end, or unknown."""
    return (
        pl.when(pl.col("end_after_window") & pl.col("end_state").is_null())
        .then(pl.lit("running_at_end"))
        .when(pl.col("end_state").is_not_null())
        .then(pl.col("end_state").cast(pl.String))
        .otherwise(pl.lit("end_unknown"))
    )


def process_summary(store: TraceStore) -> dict[str, Any]:
    """Summarize the processes and groups of a store.

    Returns
    -------
    dict
        ``processes``, ``attempts``, ``attempts_per_process`` (``mean``, ``max``),
        ``groups`` (distinct group IDs), ``group_size`` (processes per group that
        has any: ``n``,
        ``mean``, ``p50``, ``p90``, ``p99``, ``max``), ``run_time_s`` (summary of
        attempt run times), ``cpu_request`` (summary per attempt, in the store's
        CPU unit) and ``outcomes`` (outcome → share of attempts).
    """
    processes = store.read(
        "processes",
        [
            "group_id",
            "process_index",
            "run_time_us",
            "cpu_request",
            "end_state",
            "end_after_window",
        ],
    )
    per_process = processes.group_by("group_id", "process_index").len()
    groups = store.read("groups", ["group_id", "processes"]).unique("group_id")
    sizes = groups.filter(pl.col("processes") > 0)["processes"].to_numpy()
    group_size = distribution_summary(sizes)
    group_size["max"] = int(sizes.max()) if sizes.size else None
    counts = dict(
        processes.select(outcome().alias("outcome"))["outcome"]
        .value_counts()
        .iter_rows()
    )
    attempts = processes.height
    return {
        "processes": per_process.height,
        "attempts": attempts,
        "attempts_per_process": {
            "mean": attempts / per_process.height if per_process.height else None,
            "max": int(per_process["len"].max()) if per_process.height else None,
        },
        "groups": groups.height,
        "group_size": group_size,
        "run_time_s": distribution_summary(
            (processes["run_time_us"].drop_nulls() / 1e6).to_numpy()
        ),
        "cpu_request": distribution_summary(
            processes["cpu_request"].drop_nulls().to_numpy()
        ),
        "outcomes": {
            name: counts.get(name, 0) / attempts if attempts else None
            for name in OUTCOMES
        },
    }
