"""Failure what-ifs by replay: supervision strategies and failure scenarios.

The workload is the trace's attempts with the effects of its observed removals
taken out (:mod:`muosm_perf.whatif.fault_workload`), so that every kill in a replay
comes from the replay's own machine events. Each run replays that workload on a
machine history (observed, or a scenario of
:mod:`muosm_perf.whatif.fault_scenarios`) under one supervision policy
(:mod:`muosm_perf.kernels.supervision`) and reads the kernel's kill log:

- **lost work**: requested CPU times the time each killed run had been running,
  in core-seconds (cores normalized to the largest machine), because a restarted
  process starts over;
- **resubmission load**: restarts sent back to the scheduler, per hour and at
  the busiest minute;
- **time to recover**: from a kill to the next placement of the process, for
  kills that were restarted. Kills still waiting at the window end are counted
  apart, and so are those given up;
- **delay**: the predicted scheduling delay per priority band.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.analysis.characterize import distribution_summary
from muosm_perf.analysis.failure_causes import (
    ATTRIBUTABLE_END_STATES,
    DEFAULT_TOLERANCE_S,
    REMOVAL_CAUSE,
    attribute_causes,
)
from muosm_perf.analysis.faults import load_fault_history
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels._replay_kernel import (
    GAVE_UP_AFTER_KILL,
    KILLED,
    KILLED_WITH_GROUP,
    PLACED_AGAIN,
)
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.kernels.supervision import SupervisionPolicy, restart_delay_us
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import (
    DEFAULT_POLICY,
    PreparedReplay,
    ReplayResult,
    prepare_replay,
    resolve_policy,
    run_prepared,
)
from muosm_perf.whatif.fault_workload import remove_failure_effects
from muosm_perf.whatif.scenario_store import write_scenario_store

logger = logging.getLogger(__name__)

DEFAULT_STRATEGIES = (
    "immediate",
    "backoff:1:600",
    "backoff:10:3600",
    "give-up:3",
    "give-up:0",
    "immediate+group",
)
"""Supervision strategies compared by default: restart at once, exponential backoff
from 1 s capped at 10 minutes and from 10 s capped at an hour, give up after three
restarts or at once, and restart the whole group."""


def prepare_fault_replay(
    store: TraceStore,
    cell_events: pl.DataFrame | None = None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    grid_step_s: float | None = None,
    unscheduled: str = "replay",
) -> tuple[PreparedReplay, dict[str, int]]:
    """Build the replay inputs of the failure-free workload on a machine history.

    Parameters
    ----------
    store
        The trace store.
    cell_events
        Machine history to replay; None replays the observed one.
    tolerance_s
        Tolerance of the attribution of endings to removals, in seconds.
    grid_step_s, unscheduled
        Passed to :func:`muosm_perf.predict.replay.prepare_replay`.

    Returns
    -------
    tuple of (PreparedReplay, dict)
        The inputs, and the counts of :func:`remove_failure_effects`.
    """
    history = load_fault_history(store)
    processes, counts = remove_failure_effects(
        store.read("processes"), history.removals, tolerance_s=tolerance_s
    )
    with tempfile.TemporaryDirectory(prefix="muosm-fault-replay-") as folder:
        scenario = write_scenario_store(
            store,
            Path(folder) / "store",
            description="failure-free workload for a failure replay",
            processes=processes,
            cell_events=cell_events,
        )
        prepared = prepare_replay(
            scenario, grid_step_s=grid_step_s, unscheduled=unscheduled
        )
    return prepared, counts


def kill_table(result: ReplayResult, prepared: PreparedReplay, kill_log: np.ndarray):
    """Turn a replay's kill log into one row per kill.

    Returns
    -------
    polars.DataFrame
        ``process`` (index in the replay), ``group_id``, ``process_index``,
        ``attempt``, ``killed_us``, ``with_group`` (killed with its group),
        ``run_start_us`` (placement of the killed run), ``given_up``,
        ``recovered_us`` (next placement, null if none before the window end),
        ``cpu_request``, ``lost_cpu_core_s`` and ``recovery_s``.
    """
    processes, times, kinds = (row.tolist() for row in kill_log)
    schedule = result.attempts["predicted_schedule_time_us"].fill_null(NULL_INT)
    first_start = schedule.to_numpy()
    # Each process's entries in time order; kills precede placements at an instant.
    order = sorted(
        range(len(processes)), key=lambda i: (processes[i], times[i], kinds[i])
    )
    rows: list[list[Any]] = []
    run_start: dict[int, int] = {}
    open_kill: dict[int, int] = {}
    for i in order:
        p, t, kind = processes[i], times[i], kinds[i]
        if kind in (KILLED, KILLED_WITH_GROUP):
            start = run_start.get(p, int(first_start[p]))
            open_kill[p] = len(rows)
            rows.append([p, t, kind == KILLED_WITH_GROUP, start, False, None])
        elif kind == GAVE_UP_AFTER_KILL:
            rows[open_kill.pop(p)][4] = True
        elif kind == PLACED_AGAIN:
            run_start[p] = t
            if p in open_kill:
                rows[open_kill.pop(p)][5] = t
    frame = pl.DataFrame(
        rows,
        schema={
            "process": pl.Int64,
            "killed_us": pl.Int64,
            "with_group": pl.Boolean,
            "run_start_us": pl.Int64,
            "given_up": pl.Boolean,
            "recovered_us": pl.Int64,
        },
        orient="row",
    )
    keys = result.attempts.select(
        "group_id", "process_index", "attempt"
    ).with_row_index("process")
    cpu = pl.DataFrame(
        {
            "process": np.arange(prepared.inputs.processes, dtype=np.int64),
            "cpu_request": prepared.inputs.cpu_request,
        }
    )
    return (
        frame.join(keys.with_columns(pl.col("process").cast(pl.Int64)), on="process")
        .join(cpu, on="process")
        .with_columns(
            (
                (pl.col("killed_us") - pl.col("run_start_us"))
                / 1e6
                * pl.col("cpu_request")
            ).alias("lost_cpu_core_s"),
            ((pl.col("recovered_us") - pl.col("killed_us")) / 1e6).alias("recovery_s"),
        )
        .sort("killed_us", "process")
    )


def _peak_per_minute(times_us: np.ndarray) -> int:
    """Return the largest number of instants in any 60-second span."""
    if times_us.size == 0:
        return 0
    ordered = np.sort(times_us)
    ends = np.searchsorted(ordered, ordered + 60_000_000, side="left")
    return int((ends - np.arange(ordered.size)).max())


def run_metrics(
    result: ReplayResult, prepared: PreparedReplay, supervision: SupervisionPolicy
) -> dict[str, Any]:
    """Return the failure metrics of one replay (see the module documentation)."""
    kills = kill_table(result, prepared, result.kill_log)
    window = prepared.window_us
    hours = (window["end"] - window["start"]) / 3.6e9
    restarted = kills.filter(~pl.col("given_up"))
    recovered = restarted.filter(pl.col("recovered_us").is_not_null())
    arguments = supervision.kernel_arguments()
    delays = [
        restart_delay_us(arguments[0], n, *arguments[1:]) for n in _kill_numbers(kills)
    ]
    restart_times = (kills["killed_us"].to_numpy() + np.array(delays, np.int64))[
        ~kills["given_up"].to_numpy()
    ]
    bands = result.summary()["bands"]
    return {
        "supervision": supervision.name,
        "kills": kills.height,
        "kills_with_group": int(kills["with_group"].sum()),
        "given_up": int(kills["given_up"].sum()),
        "restarts": restarted.height,
        "restarts_per_hour": restarted.height / hours if hours > 0 else None,
        "restarts_peak_per_minute": _peak_per_minute(restart_times),
        "lost_cpu_core_s": float(kills["lost_cpu_core_s"].sum()),
        "recovery_s": distribution_summary(recovered["recovery_s"].to_numpy()),
        "recovery_max_s": float(recovered["recovery_s"].max())
        if recovered.height
        else None,
        "unrecovered_at_end": restarted.height - recovered.height,
        "delay_s": {
            band: {key: values["predicted"][key] for key in ("n", "p50", "p90", "p99")}
            for band, values in bands.items()
        },
        "running_at_end": result.totals["running_at_end"],
        "pending_at_end": result.totals["pending_at_end"],
        "kernel_seconds": result.kernel_seconds,
    }


def _kill_numbers(kills: pl.DataFrame) -> list[int]:
    """Return, per kill row, how many times its process had been killed then."""
    numbers = kills.with_columns(
        pl.int_range(1, pl.len() + 1).over("process", order_by="killed_us").alias("n")
    )["n"]
    return numbers.to_list()


def replay_supervision(
    prepared: PreparedReplay,
    supervision: str | SupervisionPolicy,
    *,
    policy: str | SchedulerPolicy = DEFAULT_POLICY,
    seed: int = 0,
) -> dict[str, Any]:
    """Replay prepared inputs under one supervision policy and return its metrics.

    Parameters
    ----------
    prepared
        From :func:`prepare_fault_replay`.
    supervision
        A :class:`SupervisionPolicy` or its text form (``immediate``,
        ``backoff:1:600``, ``give-up:3``, with ``+group`` for the group scope).
    policy
        Scheduling policy: a name (``QUEUE+PLACEMENT``) of
        :data:`muosm_perf.predict.replay.POLICIES`, or a complete
        :class:`~muosm_perf.kernels.policy.SchedulerPolicy` whose supervision is
        replaced.
    seed
        Seed of the replay's random choices.
    """
    if isinstance(supervision, str):
        supervision = SupervisionPolicy.parse(supervision)
    scheduling = resolve_policy(policy, seed).with_fields(supervision=supervision)
    result = run_prepared(prepared, policy=scheduling, seed=seed)
    metrics = run_metrics(result, prepared, supervision)
    metrics["policy"] = scheduling.describe()
    return metrics


def observed_removal_endings(
    store: TraceStore, *, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> dict[str, int]:
    """Count the observed endings attributed to machine removals, by end state.

    Returns the attempts ended by EVICT, LOST and KILL within ``tolerance_s``
    after a REMOVE of their machine (:func:`failure_causes.attribute_causes`),
    and their ``total``.
    """
    history = load_fault_history(store)
    causes = attribute_causes(
        store.read("processes"), history.removals, tolerance_s=tolerance_s
    ).filter(pl.col("cause") == REMOVAL_CAUSE)
    counts = {state: 0 for state in ATTRIBUTABLE_END_STATES}
    for state, count in causes.group_by("end_state").len().iter_rows():
        counts[state] = int(count)
    counts["total"] = causes.height
    return counts


def compare_supervision(
    store: TraceStore,
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES,
    *,
    cell_events: pl.DataFrame | None = None,
    policy: str | SchedulerPolicy = DEFAULT_POLICY,
    seed: int = 0,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    unscheduled: str = "replay",
) -> dict[str, Any]:
    """Replay the failure-free workload under each supervision strategy.

    Parameters
    ----------
    store
        The trace store.
    strategies
        Supervision policies in their text form.
    cell_events
        Machine history to replay (a scenario); None replays the observed one.
    policy, seed
        Scheduling policy and seed of every replay.
    tolerance_s
        Tolerance of the attribution of observed endings to removals.
    unscheduled
        Passed to :func:`muosm_perf.predict.replay.prepare_replay`.

    Returns
    -------
    dict
        ``workload`` (counts of the removed failure effects), ``runs`` (one
        :func:`replay_supervision` result per strategy) and, when the observed
        history is replayed, ``observed_removal_endings`` to set against the
        replay's kills.
    """
    prepared, workload = prepare_fault_replay(
        store, cell_events, tolerance_s=tolerance_s, unscheduled=unscheduled
    )
    runs = [
        replay_supervision(prepared, strategy, policy=policy, seed=seed)
        for strategy in strategies
    ]
    result: dict[str, Any] = {"workload": workload, "runs": runs}
    if cell_events is None:
        result["observed_removal_endings"] = observed_removal_endings(
            store, tolerance_s=tolerance_s
        )
    return result


_COMPARED = ("kills", "restarts", "given_up", "lost_cpu_core_s", "unrecovered_at_end")


def _difference(baseline: dict[str, Any], scenario: dict[str, Any]) -> dict[str, Any]:
    """Return scenario minus baseline for the counts, recovery and band delays."""
    change: dict[str, Any] = {key: scenario[key] - baseline[key] for key in _COMPARED}
    for statistic in ("p50", "p90"):
        before = baseline["recovery_s"][statistic]
        after = scenario["recovery_s"][statistic]
        change[f"recovery_{statistic}_s"] = (
            None if before is None or after is None else after - before
        )
    change["delay_s"] = {}
    for band, values in scenario["delay_s"].items():
        before = baseline["delay_s"].get(band, {})
        change["delay_s"][band] = {
            statistic: None
            if values.get(statistic) is None or before.get(statistic) is None
            else values[statistic] - before[statistic]
            for statistic in ("p50", "p90")
        }
    return change


def compare_scenario(
    store: TraceStore,
    scenario_events: pl.DataFrame,
    strategies: tuple[str, ...] = ("immediate",),
    *,
    policy: str | SchedulerPolicy = DEFAULT_POLICY,
    seed: int = 0,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    unscheduled: str = "replay",
) -> dict[str, Any]:
    """Replay a failure scenario and the observed history under each strategy.

    Returns
    -------
    dict
        ``baseline`` and ``scenario`` (each a :func:`compare_supervision`
        result) and ``change``: per strategy, scenario minus baseline of kills,
        restarts, give-ups, lost work, unrecovered kills, recovery time
        percentiles and delay percentiles per band.
    """
    options = {
        "policy": policy,
        "seed": seed,
        "tolerance_s": tolerance_s,
        "unscheduled": unscheduled,
    }
    baseline = compare_supervision(store, strategies, **options)
    scenario = compare_supervision(
        store, strategies, cell_events=scenario_events, **options
    )
    change = {
        before["supervision"]: _difference(before, after)
        for before, after in zip(baseline["runs"], scenario["runs"], strict=True)
    }
    return {"baseline": baseline, "scenario": scenario, "change": change}
