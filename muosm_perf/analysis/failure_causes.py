"""Why attempts of processes ended: machine removals, preemption, crashes, users.

An attempt that ended by EVICT, LOST or KILL is attributed to the removal of its
machine when it was running on that machine at the REMOVE and ended at most
``tolerance_s`` seconds after it. The other endings keep the cause their event
names in the trace documentation: EVICT for preemption or overcommitment, KILL by a
user, a driver or a dependency, LOST for a missing record, FAIL for the process
itself. Endings before a REMOVE are never attributed to it: on the Google 2011
sample no EVICT, KILL or LOST on a machine falls in the minute before its REMOVE.

Crash loops are runs of consecutive attempts of one process that end by FAIL, each
followed by a resubmission of the same process.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import polars as pl

from muosm_perf.analysis.characterize import distribution_summary
from muosm_perf.errors import ParameterError

logger = logging.getLogger(__name__)

ATTRIBUTABLE_END_STATES = ("EVICT", "LOST", "KILL")
"""End states that a machine removal can cause."""

DEFAULT_TOLERANCE_S = 60.0
"""Default largest delay (seconds) from a REMOVE to an ending caused by it.

On the Google 2011 sample the endings of attempts running on a removed machine form
two groups: within 1 ms of the REMOVE, and 10-60 s after it. 80% of those endings
fall within 60 s, and all but one of the rest within 30 minutes.
"""

SENSITIVITY_TOLERANCES_S = (0.001, 1.0, 10.0, 60.0, 300.0, 1800.0)
"""Tolerances (seconds) of the sensitivity table in :func:`cause_summary`."""

OTHER_CAUSES = {
    "EVICT": "preemption_or_other",
    "KILL": "user_or_dependency",
    "LOST": "record_missing",
    "FAIL": "process_failure",
    "FINISH": "finished",
}
"""Cause given to an ending not attributed to a machine removal, by end state."""

REMOVAL_CAUSE = "machine_removal"

DEFAULT_CRASH_LOOP_FAILURES = 3
"""Default smallest number of consecutive FAIL attempts counted as a crash loop."""


def _check_tolerance(tolerance_s: float) -> None:
    if tolerance_s < 0 or not math.isfinite(tolerance_s):
        raise ParameterError(
            f"tolerance_s must be finite and non-negative seconds, got {tolerance_s!r}"
        )


def removal_context(processes: pl.DataFrame, removals: pl.DataFrame) -> pl.DataFrame:
    """Find, for each ended attempt on a machine, the machine's last REMOVE before.

    Returns
    -------
    polars.DataFrame
        The ended attempts with a machine, with three more columns.
        ``removal_time_us`` is the machine's last REMOVE at or before the end, null
        if none. ``running_at_removal`` is true when the attempt was scheduled at or
        before that REMOVE, or before the window. ``after_removal_s`` is the time
        from the REMOVE to the end, in seconds.
    """
    ended = processes.filter(
        pl.col("end_state").is_not_null()
        & pl.col("end_time_us").is_not_null()
        & pl.col("cell_id").is_not_null()
    ).sort("end_time_us")
    instants = removals.select(
        "cell_id", pl.col("time_us").alias("removal_time_us")
    ).sort("removal_time_us")
    joined = ended.join_asof(
        instants,
        left_on="end_time_us",
        right_on="removal_time_us",
        by="cell_id",
        strategy="backward",
        check_sortedness=False,
    )
    running = pl.col("removal_time_us").is_not_null() & (
        pl.col("schedule_before_window")
        | (pl.col("schedule_time_us") <= pl.col("removal_time_us"))
    ).fill_null(value=False)
    return joined.with_columns(
        running.alias("running_at_removal"),
        ((pl.col("end_time_us") - pl.col("removal_time_us")) / 1e6).alias(
            "after_removal_s"
        ),
    )


def attribute_causes(
    processes: pl.DataFrame,
    removals: pl.DataFrame,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> pl.DataFrame:
    """Give every ended attempt a cause.

    Parameters
    ----------
    processes
        The store's ``processes`` table (attempts).
    removals
        Removal instants with ``time_us`` and ``cell_id``.
    tolerance_s
        Largest delay in seconds from a REMOVE to an ending it caused.

    Returns
    -------
    polars.DataFrame
        One row per attempt with a known end state: ``group_id``,
        ``process_index``, ``attempt``, ``cell_id``, ``end_state`` (string),
        ``end_time_us``, ``cause``, ``removal_time_us`` and ``after_removal_s``
        (null unless the cause is a removal), ``run_time_s`` and ``cpu_request``.
    """
    _check_tolerance(tolerance_s)
    ended = processes.filter(
        pl.col("end_state").is_not_null() & ~pl.col("end_after_window")
    ).with_columns(pl.col("end_state").cast(pl.String))
    context = removal_context(ended, removals)
    caused = (
        pl.col("running_at_removal")
        & pl.col("end_state").is_in(ATTRIBUTABLE_END_STATES)
        & (pl.col("after_removal_s") <= tolerance_s)
    )
    keys = ["group_id", "process_index", "attempt"]
    attributed = context.filter(caused).select(
        *keys, "removal_time_us", "after_removal_s"
    )
    return (
        ended.join(attributed, on=keys, how="left")
        .with_columns(
            pl.when(pl.col("removal_time_us").is_not_null())
            .then(pl.lit(REMOVAL_CAUSE))
            .otherwise(pl.col("end_state").replace_strict(OTHER_CAUSES, default=None))
            .alias("cause"),
            (pl.col("run_time_us") / 1e6).alias("run_time_s"),
        )
        .select(
            *keys,
            "cell_id",
            "end_state",
            "end_time_us",
            "cause",
            "removal_time_us",
            "after_removal_s",
            "run_time_s",
            "schedule_before_window",
            "cpu_request",
        )
        .sort(keys)
    )


def tolerance_sensitivity(
    processes: pl.DataFrame,
    removals: pl.DataFrame,
    tolerances_s: tuple[float, ...] = SENSITIVITY_TOLERANCES_S,
) -> list[dict[str, Any]]:
    """Count attempts attributed to removals for each tolerance, by end state.

    Also counts the attempts running on a machine at its REMOVE that ended later
    than every tolerance, so the effect of the choice is visible.
    """
    for tolerance in tolerances_s:
        _check_tolerance(tolerance)
    context = removal_context(
        processes.filter(~pl.col("end_after_window")).with_columns(
            pl.col("end_state").cast(pl.String)
        ),
        removals,
    ).filter(pl.col("running_at_removal"))
    rows = []
    for tolerance in tolerances_s:
        within = context.filter(pl.col("after_removal_s") <= tolerance)
        row: dict[str, Any] = {"tolerance_s": tolerance}
        for state in ATTRIBUTABLE_END_STATES:
            row[state] = int((within["end_state"] == state).sum())
        row["other_end_states"] = int(
            (~within["end_state"].is_in(ATTRIBUTABLE_END_STATES)).sum()
        )
        rows.append(row)
    return rows


def _lost_work(causes: pl.DataFrame, window_start_us: int | None) -> dict[str, Any]:
    """Sum CPU core-seconds of attempts that ended without FINISH, by cause."""
    unfinished = causes.filter(pl.col("end_state") != "FINISH")
    known = unfinished.filter(pl.col("run_time_s").is_not_null())
    work = pl.col("run_time_s") * pl.col("cpu_request").fill_null(0.0)
    by_cause = known.group_by("cause").agg(
        pl.len().alias("attempts"), work.sum().alias("cpu_core_s")
    )
    result: dict[str, Any] = {
        "unit": "core-seconds, cores normalized to the largest machine",
        "cpu_core_s": float(known.select(work.sum()).item() or 0.0),
        "by_cause": {
            row["cause"]: {"attempts": row["attempts"], "cpu_core_s": row["cpu_core_s"]}
            for row in by_cause.sort("cause").iter_rows(named=True)
        },
        "attempts_start_unknown": unfinished.height - known.height,
    }
    if window_start_us is not None:
        # Attempts already running at the window start ran at least since then.
        early = unfinished.filter(pl.col("schedule_before_window"))
        lower = early.select(
            ((pl.col("end_time_us") - window_start_us) / 1e6)
            .clip(lower_bound=0)
            .mul(pl.col("cpu_request").fill_null(0.0))
            .sum()
        ).item()
        result["cpu_core_s_lower_bound_started_before_window"] = float(lower or 0.0)
    return result


def _same_process_as_next() -> pl.Expr:
    """Return whether the next row of a frame sorted by process is the same process."""
    return (
        (pl.col("group_id") == pl.col("group_id").shift(-1))
        & (pl.col("process_index") == pl.col("process_index").shift(-1))
    ).fill_null(value=False)


def _next_attempt_value(column: pl.Expr) -> pl.Expr:
    """Value of ``column`` in the next attempt of the same process, else null.

    Shifting the whole sorted frame and masking at process boundaries is much faster
    than a windowed shift over 10^5 small groups.
    """
    return pl.when(_same_process_as_next()).then(column.shift(-1))


def crash_loops(
    processes: pl.DataFrame, *, min_failures: int = DEFAULT_CRASH_LOOP_FAILURES
) -> pl.DataFrame:
    """Find runs of consecutive FAIL attempts of one process, each resubmitted.

    Parameters
    ----------
    processes
        The store's ``processes`` table.
    min_failures
        Smallest number of FAIL attempts in a run that makes it a loop.

    Returns
    -------
    polars.DataFrame
        One row per loop: ``group_id``, ``process_index``, ``first_attempt``,
        ``failures``, ``cpu_core_s``, ``start_us``, ``end_us`` and ``outcome``.
        ``cpu_core_s`` is the requested CPU times the run time of the failed
        attempts, where known. ``outcome`` is the end state of the attempt after
        the loop, ``running_at_end`` if that attempt was still going on, or
        ``not_resubmitted`` if the last FAIL had no successor.
    """
    if min_failures < 1:
        raise ParameterError(f"min_failures must be at least 1, got {min_failures!r}")
    keys = ["group_id", "process_index"]
    ordered = processes.sort(*keys, "attempt").with_columns(
        (pl.col("end_state") == "FAIL").fill_null(value=False).alias("_fail"),
        _next_attempt_value(pl.col("end_state").cast(pl.String)).alias("_next_state"),
        _next_attempt_value(pl.col("end_after_window")).alias("_next_open"),
        _next_attempt_value(pl.col("attempt")).alias("_next_attempt"),
    )
    # A run starts at every change of the FAIL flag and at every new process.
    new_process = ~_same_process_as_next().shift(1).fill_null(value=False)
    run = new_process | (pl.col("_fail") != pl.col("_fail").shift(1)).fill_null(
        value=True
    )
    ordered = ordered.with_columns(run.cum_sum().alias("_run"))
    loops = (
        ordered.filter(pl.col("_fail"))
        .group_by(*keys, "_run")
        .agg(
            pl.col("attempt").min().alias("first_attempt"),
            pl.len().alias("failures"),
            (pl.col("run_time_us") / 1e6 * pl.col("cpu_request").fill_null(0.0))
            .sum()
            .alias("cpu_core_s"),
            pl.col("submit_time_us").min().alias("start_us"),
            pl.col("end_time_us").max().alias("end_us"),
            pl.col("_next_state").last(),
            pl.col("_next_open").last(),
            pl.col("_next_attempt").last(),
        )
        .filter(pl.col("failures") >= min_failures)
    )
    outcome = (
        pl.when(pl.col("_next_attempt").is_null())
        .then(pl.lit("not_resubmitted"))
        .when(pl.col("_next_open").fill_null(value=False))
        .then(pl.lit("running_at_end"))
        .otherwise(pl.col("_next_state").fill_null("end_unknown"))
    )
    return (
        loops.with_columns(outcome.alias("outcome"))
        .select(
            *keys,
            "first_attempt",
            "failures",
            "cpu_core_s",
            "start_us",
            "end_us",
            "outcome",
        )
        .sort([*keys, "first_attempt"])
    )


def restart_delays(processes: pl.DataFrame) -> pl.DataFrame:
    """Return, for each resubmitted attempt, how soon its successor was submitted.

    Columns: ``end_state`` of the ended attempt, ``resubmit_s`` (its end to the
    next SUBMIT) and ``reschedule_s`` (its end to the next SCHEDULE), in seconds.
    """
    keys = ["group_id", "process_index"]
    ordered = processes.sort(*keys, "attempt").with_columns(
        _next_attempt_value(pl.col("submit_time_us")).alias("_next_submit"),
        _next_attempt_value(pl.col("schedule_time_us")).alias("_next_schedule"),
    )
    return ordered.filter(
        pl.col("end_state").is_not_null() & pl.col("_next_submit").is_not_null()
    ).select(
        pl.col("end_state").cast(pl.String),
        ((pl.col("_next_submit") - pl.col("end_time_us")) / 1e6).alias("resubmit_s"),
        ((pl.col("_next_schedule") - pl.col("end_time_us")) / 1e6).alias(
            "reschedule_s"
        ),
    )


def _summarize_by_level(causes: pl.DataFrame, cells: pl.DataFrame) -> dict[str, Any]:
    """Count removal-caused endings per machine, platform and failure domain."""
    removal = causes.filter(pl.col("cause") == REMOVAL_CAUSE).join(
        cells.select("cell_id", "platform", "domain"), on="cell_id", how="left"
    )
    result: dict[str, Any] = {}
    for level, column in (
        ("machine", "cell_id"),
        ("platform", "platform"),
        ("domain", "domain"),
    ):
        if removal.height and removal[column].null_count() == removal.height:
            continue
        counts = (
            removal.group_by(column)
            .agg(pl.len().alias("attempts"), pl.col("removal_time_us").n_unique())
            .sort("attempts", column, descending=[True, False])
        )
        result[level] = {
            "cells_affected": counts.height,
            "top": [
                {
                    "key": str(row[column]),
                    "attempts": int(row["attempts"]),
                    "removals": int(row["removal_time_us"]),
                }
                for row in counts.head(5).iter_rows(named=True)
            ],
        }
    return result


def cause_summary(
    processes: pl.DataFrame,
    removals: pl.DataFrame,
    cells: pl.DataFrame,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    min_loop_failures: int = DEFAULT_CRASH_LOOP_FAILURES,
    window_start_us: int | None = None,
) -> dict[str, Any]:
    """Summarize process outcomes by cause, crash loops, attempts and lost work.

    Parameters
    ----------
    processes
        The store's ``processes`` table.
    removals
        Removal instants (``time_us``, ``cell_id``) inside the task window.
    cells
        The store's ``cells`` table (platform and domain of each machine).
    tolerance_s
        Largest delay from a REMOVE to an ending it caused.
    min_loop_failures
        Smallest run of FAIL attempts counted as a crash loop.
    window_start_us
        Start of the task window, for the lower bound of work lost by attempts
        already running when it began.

    Returns
    -------
    dict
        JSON-serializable: ``tolerance_s``, ``by_end_state`` (end state -> cause
        -> attempts), ``removal_attributed``, ``by_fault_cell``,
        ``tolerance_sensitivity``, ``attempts_per_process``, ``crash_loops``,
        ``restart_delay_s`` and ``lost_work``.
    """
    causes = attribute_causes(processes, removals, tolerance_s=tolerance_s)
    table = causes.group_by("end_state", "cause").len().sort("end_state", "cause")
    by_state: dict[str, dict[str, int]] = {}
    for row in table.iter_rows(named=True):
        by_state.setdefault(row["end_state"], {})[row["cause"]] = int(row["len"])

    removal_caused = causes.filter(pl.col("cause") == REMOVAL_CAUSE)
    attempts = processes.group_by("group_id", "process_index").len()["len"]
    loops = crash_loops(processes, min_failures=min_loop_failures)
    delays = restart_delays(processes)
    return {
        "tolerance_s": tolerance_s,
        "by_end_state": by_state,
        "removal_attributed": {
            "attempts": removal_caused.height,
            "removals_with_casualties": removal_caused.select(
                pl.struct("cell_id", "removal_time_us").n_unique()
            ).item()
            if removal_caused.height
            else 0,
            "after_removal_s": distribution_summary(
                removal_caused["after_removal_s"].to_numpy()
            ),
        },
        "by_fault_cell": _summarize_by_level(causes, cells),
        "tolerance_sensitivity": tolerance_sensitivity(processes, removals),
        "attempts_per_process": {
            **distribution_summary(attempts.to_numpy()),
            "max": int(attempts.max()) if attempts.len() else None,
            "processes_with_retries": int((attempts > 1).sum()),
        },
        "crash_loops": {
            "min_failures": min_loop_failures,
            "loops": loops.height,
            "processes": loops.select(
                pl.struct("group_id", "process_index").n_unique()
            ).item()
            if loops.height
            else 0,
            "groups": int(loops["group_id"].n_unique()),
            "failed_attempts": int(loops["failures"].sum()),
            "longest": int(loops["failures"].max()) if loops.height else None,
            "cpu_core_s": float(loops["cpu_core_s"].sum()),
            "outcomes": {
                row["outcome"]: int(row["len"])
                for row in loops.group_by("outcome")
                .len()
                .sort("outcome")
                .iter_rows(named=True)
            },
        },
        "restart_delay_s": {
            state: {
                "resubmit": distribution_summary(
                    part["resubmit_s"].drop_nulls().to_numpy()
                ),
                "reschedule": distribution_summary(
                    part["reschedule_s"].drop_nulls().to_numpy()
                ),
            }
            for (state,), part in sorted(
                delays.partition_by("end_state", as_dict=True).items()
            )
        },
        "lost_work": _lost_work(causes, window_start_us),
    }
