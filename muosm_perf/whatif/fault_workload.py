"""The workload of a trace without the effects of its machine removals.

A trace records what its removals did: an attempt killed by a removal and the
resubmission its supervisor made. A failure what-if replays its own removals, so
those records must go, or every observed kill would happen twice. Here each attempt
attributed to a machine removal (:func:`failure_causes.attribute_causes`) is merged
into the attempt that followed it. The successor keeps its own run time and takes
the submit time of the first attempt of the chain, as if the process had never been
killed. Its observed scheduling delay becomes null, because it includes the killed
runs. A killed attempt with no successor inside the window has an unknown
completion, so it becomes an attempt that runs past the window end.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from muosm_perf.analysis.failure_causes import (
    DEFAULT_TOLERANCE_S,
    REMOVAL_CAUSE,
    attribute_causes,
)
from muosm_perf.model import schema

logger = logging.getLogger(__name__)

_KEYS = ["group_id", "process_index"]


def remove_failure_effects(
    processes: pl.DataFrame,
    removals: pl.DataFrame,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Merge attempts killed by machine removals into their resubmissions.

    Parameters
    ----------
    processes
        The store's ``processes`` table.
    removals
        Removal instants with ``time_us`` and ``cell_id``.
    tolerance_s
        Tolerance of the attribution to removals, in seconds.

    Returns
    -------
    tuple of (polars.DataFrame, dict)
        The ``processes`` table without the killed attempts, and counts:
        ``killed_attempts`` (attempts removed or reopened), ``merged`` (killed
        attempts folded into a successor) and ``reopened`` (killed attempts
        without a successor, now running past the window end). Attempt numbers
        are kept, so they may have gaps.
    """
    causes = attribute_causes(processes, removals, tolerance_s=tolerance_s)
    killed = causes.filter(pl.col("cause") == REMOVAL_CAUSE).select(
        *_KEYS, "attempt", pl.lit(value=True).alias("_killed")
    )
    ordered = (
        processes.join(killed, on=[*_KEYS, "attempt"], how="left")
        .with_columns(pl.col("_killed").fill_null(value=False))
        .sort(*_KEYS, "attempt")
    )
    same_as_previous = (
        (pl.col("group_id") == pl.col("group_id").shift(1))
        & (pl.col("process_index") == pl.col("process_index").shift(1))
    ).fill_null(value=False)
    same_as_next = (
        (pl.col("group_id") == pl.col("group_id").shift(-1))
        & (pl.col("process_index") == pl.col("process_index").shift(-1))
    ).fill_null(value=False)
    # A chain is a run of killed attempts and the attempt that follows them. It
    # starts at an attempt whose predecessor (of the same process) was not killed.
    chain_start = ~(
        same_as_previous & pl.col("_killed").shift(1).fill_null(value=False)
    )
    ordered = ordered.with_columns(
        chain_start.cum_sum().alias("_chain"),
        same_as_next.alias("_has_next"),
    )
    first_of_chain = ordered.group_by("_chain").agg(
        pl.col("submit_time_us").first().alias("_chain_submit_us"),
        pl.col("submit_before_window").first().alias("_chain_submit_before"),
        pl.col("missing_submit").first().alias("_chain_missing_submit"),
        (pl.len() > 1).alias("_chain_merged"),
    )
    merged = ordered.join(first_of_chain, on="_chain", how="left")

    # Killed attempts with a successor disappear into it.
    folded = merged.filter(pl.col("_killed") & pl.col("_has_next"))
    kept = merged.filter(~(pl.col("_killed") & pl.col("_has_next")))
    # A killed last attempt runs past the window end: its completion is unknown.
    reopen = pl.col("_killed")
    kept = kept.with_columns(
        pl.col("_chain_submit_us").alias("submit_time_us"),
        pl.col("_chain_submit_before").alias("submit_before_window"),
        pl.col("_chain_missing_submit").alias("missing_submit"),
        pl.when(reopen)
        .then(None)
        .otherwise(pl.col("end_time_us"))
        .alias("end_time_us"),
        pl.when(reopen)
        .then(pl.lit(value=True))
        .otherwise(pl.col("end_after_window"))
        .alias("end_after_window"),
        pl.when(reopen).then(None).otherwise(pl.col("end_state")).alias("end_state"),
        pl.when(reopen)
        .then(None)
        .otherwise(pl.col("run_time_us"))
        .alias("run_time_us"),
    ).with_columns(
        # A merged attempt waited through the killed runs too: no observed delay.
        pl.when(pl.col("_chain_merged"))
        .then(None)
        .otherwise(pl.col("scheduling_delay_us"))
        .alias("scheduling_delay_us")
    )
    counts = {
        "killed_attempts": killed.height,
        "merged": folded.height,
        "reopened": int(kept["_killed"].sum()),
    }
    logger.info(
        "removed the effects of machine removals: %d killed attempts, %d merged "
        "into a resubmission, %d reopened",
        counts["killed_attempts"],
        counts["merged"],
        counts["reopened"],
    )
    table = (
        kept.select(schema.PROCESSES.names())
        .cast(dict(schema.PROCESSES))
        .sort(*_KEYS, "attempt")
    )
    return table, counts
