"""Predictions as a report shows them: one view per kind of replay.

A store of a cluster trace is replayed by the scheduling replay: queue order and
placement on machines with CPU and memory. A Standard Workload Format log, whose
jobs need processors of one parallel machine, is replayed by FCFS or EASY
backfilling. :func:`prediction_for` picks the replay that fits the store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from muosm_perf.analysis.characterize import occupancy
from muosm_perf.analysis.occupancy import occupancy_series
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import DEFAULT_POLICY, replay, resolve_policy
from muosm_perf.predict.swf_replay import replay_swf, swf_capacity
from muosm_perf.predict.validation import delay_validation, json_number

logger = logging.getLogger(__name__)

SWF_DEFAULT_POLICY = "easy"
"""Replay of SWF logs: EASY backfilling, as most archive machines ran it."""


@dataclass
class PredictionView:
    """The parts of a prediction that a report shows next to the observed values.

    Attributes
    ----------
    policy
        Name of the replayed scheduling policy.
    delays
        Predicted scheduling delay per attempt: ``band`` and ``delay_s`` (seconds).
    occupancy
        Predicted occupancy series on the observed series' grid.
    bands
        Band → ``observed`` and ``predicted`` summaries (``n``, ``mean``, ``p50``,
        ``p90``, ``p99``, seconds) and ``ks``, the Kolmogorov-Smirnov distance.
    utilization_mae
        Resource (``cpu``, ``memory``) → mean absolute error of utilization in
        percentage points, None where the trace does not show the observed side.
    notes
        Sentences about the model and its limits, shown under the tables.
    totals
        Counters of the replay, with their meaning in :data:`COUNTER_MEANINGS`.
    """

    policy: str
    delays: pl.DataFrame
    occupancy: pl.DataFrame
    bands: Mapping[str, Mapping[str, Any]]
    utilization_mae: Mapping[str, float | None]
    notes: list[str] = field(default_factory=list)
    totals: Mapping[str, int] = field(default_factory=dict)


COUNTER_MEANINGS = {
    "evictions": "processes killed on a removed machine (or preempted) and "
    "submitted again",
    "cancelled": "attempts removed from the queue at the time the trace killed "
    "them while pending",
    "unschedulable": "attempts that never found a machine with room before the "
    "window closed",
    "pending_at_end": "processes still waiting when the window closed (the "
    "unschedulable ones and those submitted again after an eviction)",
    "running_at_end": "processes running when the window closed",
    "instants": "distinct event times the replay processed",
    "passes": "scheduling passes over the pending queue",
    "placements": "processes placed on a machine, counting each placement after "
    "an eviction",
    "given_up": "processes the supervision policy did not restart after a kill",
    "batches": "scheduler decisions, each on a batch of one job's processes",
    "scheduler_busy_us": "sum of the schedulers' decision times, microseconds",
    "conflicts": "optimistic decisions whose machine had no room left at commit, "
    "decided again",
    "preemptions": "processes evicted to make room for a process of a higher band "
    "(with preemption on)",
    "offers": "machines offered to a framework, in the two-level offer model",
    "offers_accepted": "offers on which the framework placed a process",
    "offers_declined": "offers the framework declined; the machine returns to it "
    "after the refusal timeout",
    "jobs": "jobs in the log",
    "jobs_replayed": "jobs the backfilling replay started",
    "jobs_not_replayable": "jobs with an unknown run time, no processors, or more "
    "processors than the machine has",
    "processors": "processors of the machine (the log's MaxProcs)",
}
"""Meaning of each replay counter, for reports and help text."""


CALIBRATION = {
    "cpu_overcommit": 1.5,
    "memory_overcommit": 1.5,
    "job_decision_s": 1.5,
    "schedulers": 40,
}
"""Replay settings of the main job, fitted to the Google 2011 sample.

Requests exceed capacity on most machines of that trace because the cell
overcommits, so capacity is taken 1.5 times. The trace's delay of about 2 s is the
scheduler's own time, which 40 schedulers in parallel taking 1.5 s per job decision
reproduce. The
decision time was chosen as the best of five on the same sample's medians, so the
medians it gives there are a calibration (docs/replay-validation.md).
"""


def scheduler_view(
    store: TraceStore, policy: str = DEFAULT_POLICY, *, calibrated: bool = True
) -> tuple[PredictionView, dict[str, Any]]:
    """Replay a cluster-trace store and return the report's view and JSON summary.

    With ``calibrated`` the named queue order and placement run with
    :data:`CALIBRATION` and the attempts the trace never scheduled held out;
    without it, with the trace's capacity and no decision time.
    """
    scheduler = resolve_policy(policy)
    unscheduled = "replay"
    if calibrated:
        scheduler = scheduler.with_fields(**CALIBRATION)
        unscheduled = "hold"
    result = replay(store, policy=scheduler, unscheduled=unscheduled)
    summary = result.summary()
    delays = result.attempts.filter(pl.col("predicted_delay_s").is_not_null()).select(
        pl.col("band"), pl.col("predicted_delay_s").alias("delay_s")
    )
    totals = summary["totals"]
    inputs = summary["inputs"]
    notes = [
        "Every attempt of the trace is submitted at its observed SUBMIT time with "
        "its observed CPU and memory request and priority, and runs for its "
        "observed run time once placed. Machines join, leave and change capacity "
        "as the machine events say; processes on a removed machine are killed and "
        "submitted again. The policy sets the order of the pending queue and the "
        "machine each process goes to; a machine takes a process while the requests "
        "placed there leave room for it.",
        (
            f"Calibrated settings: capacity taken {CALIBRATION['cpu_overcommit']} "
            f"times, {CALIBRATION['schedulers']} schedulers in parallel, "
            f"{CALIBRATION['job_decision_s']} s per job decision, and the attempts "
            "the trace never scheduled held out. They were fitted to the Google 2011 "
            "sample, so on that sample the medians are a calibration, not an "
            "independent prediction; `--plain-replay` uses the trace's capacity "
            "and no decision time."
            if calibrated
            else "Plain settings: the trace's capacity and no decision time."
        ),
        f"The kernel replayed {inputs['processes']:,} attempts in "
        f"{summary['kernel_seconds']:.3f} s, after "
        f"{summary['compile_seconds']:.3f} s of compilation or cache loading.",
    ]
    if inputs.get("machines_unknown_capacity"):
        notes.append(
            f"{inputs['machines_unknown_capacity']:,} machines have no known "
            "capacity in the trace; nothing is placed on them."
        )
    if totals.get("unschedulable"):
        notes.append(
            f"{totals['unschedulable']:,} attempts never found a machine with room "
            "for their request before the window closed, so they have no predicted "
            "delay and the predicted statistics leave them out. When the trace "
            "placed them, its scheduler allowed more than the requests do here, for "
            "example by overcommitting machines."
        )
    view = PredictionView(
        policy=scheduler.name + (" (calibrated)" if calibrated else ""),
        delays=delays,
        occupancy=result.occupancy,
        bands=summary["bands"],
        utilization_mae=summary["utilization_mae"],
        notes=notes,
        totals=totals,
    )
    return view, summary


def swf_view(
    store: TraceStore, policy: str = SWF_DEFAULT_POLICY
) -> tuple[PredictionView, dict[str, Any]]:
    """Replay an SWF store with backfilling and return the view and JSON summary.

    The observed side is the log's wait time where it has one; the occupancy
    series counts processors in use over the machine's processors.
    """
    capacity = swf_capacity(store)
    replayed = replay_swf(store, policy=policy, capacity=capacity)
    processes = store.read("processes")
    window = store.manifest["window_us"]

    # The SWF reader makes each job its own group, numbered by the job number.
    jobs = processes.join(
        replayed.drop("submit_time_us"),
        left_on="group_id",
        right_on="job_number",
        how="left",
    )
    attempts = jobs.select(
        pl.col("band").cast(pl.String).fill_null("unbanded"),
        (pl.col("logged_wait_time_us") / 1e6).alias("observed_delay_s"),
        (pl.col("predicted_wait_time_us") / 1e6).alias("predicted_delay_s"),
    )
    validation = pl.concat(
        [
            delay_validation(attempts),
            delay_validation(attempts.with_columns(pl.lit("all").alias("band"))).filter(
                pl.col("band") == "all"
            ),
        ]
    )
    bands = {}
    for row in validation.iter_rows(named=True):
        bands[row["band"]] = {
            side: {
                "n": row[f"{side}_n"],
                **{
                    k: json_number(row[f"{side}_{k}_s"])
                    for k in ("mean", "p50", "p90", "p99")
                },
            }
            for side in ("observed", "predicted")
        } | {"ks": json_number(row["ks_distance"])}

    predicted_runs = jobs.select(
        pl.col("predicted_start_time_us").alias("schedule_time_us"),
        pl.lit(value=False).alias("schedule_before_window"),
        (pl.col("predicted_start_time_us") + pl.col("run_time_us")).alias(
            "end_time_us"
        ),
        (
            pl.col("predicted_start_time_us").is_not_null()
            & pl.col("run_time_us").is_null()
        ).alias("end_after_window"),
        pl.col("cpu_request"),
        pl.col("memory_request"),
        pl.col("band"),
    )
    observed_series = occupancy(store)
    predicted_series = occupancy_series(
        predicted_runs,
        store.read("cell_events"),
        observed_series["time_us"].to_numpy(),
        window["start"],
    )
    observed_known = processes["schedule_time_us"].is_not_null().any()
    mae: dict[str, float | None] = {"cpu": None, "memory": None}
    if observed_known:
        difference = (
            predicted_series["cpu_utilization"] - observed_series["cpu_utilization"]
        ).abs()
        mae["cpu"] = json_number(100 * difference.mean()) if difference.len() else None
    replayed_jobs = int(replayed["predicted_start_time_us"].is_not_null().sum())
    totals = {
        "jobs": replayed.height,
        "jobs_replayed": replayed_jobs,
        "jobs_not_replayable": replayed.height - replayed_jobs,
        "processors": capacity,
    }
    notes = [
        f"Each job of the log needs its processors (allocated, or requested where "
        f"the log has no allocation) of one machine of {capacity:,} processors for "
        "its logged run time. "
        + (
            "EASY backfilling: jobs start in arrival order, and a later job may "
            "start early when it does not delay the reservation of the first "
            "waiting job (estimates are the requested times)."
            if policy == "easy"
            else "FCFS: jobs start in arrival order and none overtakes another."
        ),
        f"{totals['jobs_not_replayable']:,} jobs cannot be replayed (unknown run "
        "time, no processors, or more than the machine has).",
    ]
    if not observed_known:
        notes.append(
            "The log records no wait times, so the observed side is unknown: the "
            "table shows the predicted waits only, and utilization has no error "
            "figure."
        )
    view = PredictionView(
        policy=policy,
        delays=attempts.filter(pl.col("predicted_delay_s").is_not_null()).select(
            pl.col("band"), pl.col("predicted_delay_s").alias("delay_s")
        ),
        occupancy=predicted_series,
        bands=bands,
        utilization_mae=mae,
        notes=notes,
        totals=totals,
    )
    summary = {
        "policy": policy,
        "bands": bands,
        "utilization_mae": mae,
        "totals": totals,
    }
    return view, summary


def prediction_for(
    store: TraceStore, policy: str | None = None, *, calibrated: bool = True
) -> tuple[PredictionView | None, dict[str, Any] | None, str | None]:
    """Replay ``store`` with the replay that fits its format.

    ``calibrated`` applies to cluster traces (see :func:`scheduler_view`).

    Returns
    -------
    tuple
        The view and JSON summary, or (None, None, reason) when the store has
        nothing to replay.
    """
    if not store.manifest.get("window_us"):
        reason = (
            f"{store.path.name} has no process events (only machine events or no "
            "rows), so there is nothing to replay"
        )
        logger.warning("replay skipped: %s", reason)
        return None, None, reason
    if store.source_format == "swf":
        view, summary = swf_view(store, policy or SWF_DEFAULT_POLICY)
    else:
        view, summary = scheduler_view(
            store, policy or DEFAULT_POLICY, calibrated=calibrated
        )
    return view, summary, None
