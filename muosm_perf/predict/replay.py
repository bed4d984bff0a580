"""Replay a trace store's attempts through the scheduling model and validate it.

The kernel inputs come from the ``processes`` and ``cell_events`` tables:

- every attempt is a process submitted at its observed SUBMIT, at the window start
  if the SUBMIT was before the window, or at its SCHEDULE if the SUBMIT is missing;
- its duration is END minus SCHEDULE (END minus the window start if it was scheduled
  before the window), and -1 ("runs past the horizon") if it ended after the window
  or was never scheduled;
- an attempt the trace never scheduled but ended (killed while pending) carries its
  END as a cancellation time. If it is still pending then, it leaves the queue. If
  the replay placed it earlier, it runs until then;
- null CPU or memory requests count as 0 and are counted;
- attempts already running when the window opens bypass the scheduler's decision
  time, because the trace placed them before the window;
- machines are numbered in ``cell_id`` order; machine events before the window
  apply at the window start and events after the window end are dropped.

The replay stops at the window end. Its predictions sit next to the observations:
the scheduling delay per band (SCHEDULE minus SUBMIT, for attempts whose SUBMIT is
inside the window) and the occupancy series on one grid.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from muosm_perf.analysis.occupancy import default_grid, occupancy_series
from muosm_perf.errors import ParameterError, StoreError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.policy import OPTIONS, SchedulerPolicy, all_policy_names
from muosm_perf.kernels.replay import (
    ReplayInput,
    ReplayOutput,
    compile_replay,
    replay_arrays,
)
from muosm_perf.model.lifecycle import Band
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.validation import (
    REPORTED_BANDS,
    delay_validation,
    json_number,
    utilization_mae,
)

logger = logging.getLogger(__name__)

DEFAULT_POLICY = "priority+first-fit"
"""Pending processes by priority, then enqueue order; lowest-index machine that fits."""

POLICIES = tuple(all_policy_names())
"""Policy names :func:`replay` accepts (``QUEUE+PLACEMENT``), each also with
``+preempt`` or ``+offers`` appended (:data:`~muosm_perf.kernels.policy.OPTIONS`)."""

BAND_NAMES = tuple(band.label for band in Band)
"""Band labels by their code, the rank preemption and the offer model use."""

_PROCESS_COLUMNS = [
    "group_id",
    "process_index",
    "attempt",
    "submit_time_us",
    "submit_before_window",
    "schedule_time_us",
    "schedule_before_window",
    "end_time_us",
    "end_after_window",
    "end_state",
    "missing_submit",
    "priority",
    "band",
    "cpu_request",
    "memory_request",
    "scheduling_delay_us",
    "cell_id",
]


@dataclass(frozen=True)
class PreparedReplay:
    """Kernel inputs built from a store, with what is needed to validate a replay.

    Attributes
    ----------
    inputs
        The kernel arrays; processes are in submission order.
    attempts
        One row per process of ``inputs``, in the same order: the attempt's keys,
        band, replay submit time and observed schedule time and delay.
    cell_ids
        ``cell_id`` of each machine index.
    window_us
        ``{"start": ..., "end": ...}`` in microseconds.
    observed_occupancy
        The observed series (:func:`~muosm_perf.analysis.occupancy.occupancy_series`)
        on ``inputs.grid_us``.
    input_counts
        What the conversion replaced or dropped, by name.
    observed_counts
        Observed figures to compare with the replay's counters.
    """

    inputs: ReplayInput
    attempts: pl.DataFrame
    cell_ids: np.ndarray
    window_us: dict[str, int]
    observed_occupancy: pl.DataFrame
    input_counts: dict[str, int] = field(default_factory=dict)
    observed_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayResult:
    """A replay's predictions next to the observations.

    Attributes
    ----------
    policy
        The scheduling policy, with its seed.
    attempts
        Per attempt: keys, ``band``, ``submit_time_us`` (as replayed),
        ``observed_schedule_time_us``, ``predicted_schedule_time_us``,
        ``predicted_cell_id``, ``kills``, ``preemptions``, ``observed_delay_s`` and
        ``predicted_delay_s`` (null where the SUBMIT was before the window or the
        attempt was never scheduled on that side), ``predicted_censored`` (the
        SUBMIT is in the window and the replay never placed the attempt) and
        ``predicted_censored_at_s`` (window end minus SUBMIT for those, seconds).
    occupancy
        Predicted series on the observed grid: ``time_us``, ``running``,
        ``cpu_requested``, ``memory_requested``, ``cpu_capacity``,
        ``memory_capacity``, ``cpu_utilization``, ``memory_utilization``.
    observed_occupancy
        The observed series on the same grid.
    validation
        Per band, observed and predicted delay statistics (seconds) of the
        attempts with an observed delay, the predicted ones censored at the window
        end, and their Kolmogorov-Smirnov distance
        (:func:`~muosm_perf.predict.validation.delay_validation`).
    utilization_mae
        Mean absolute error of CPU and memory utilization, percentage points.
    totals
        Replay counters (:data:`~muosm_perf.kernels.replay.TOTALS`).
    offers_by_band
        With the offer model, per band (framework): offers ``made``,
        ``accepted`` and ``declined``; empty otherwise.
    input_counts
        What the conversion from the store replaced or dropped.
    observed_counts
        Observed evictions and evictions per removed machine in the window.
    window_us
        The trace window replayed.
    kernel_seconds
        Wall time of the kernel call, compilation left out.
    compile_seconds
        Wall time spent compiling the kernel (or loading it from the cache) first.
    kill_log
        The kernel's log of kills, give-ups and placements after a kill
        (:attr:`~muosm_perf.kernels.replay.ReplayOutput.kill_log`); its process
        numbers are the rows of ``attempts``.
    """

    policy: SchedulerPolicy
    attempts: pl.DataFrame
    occupancy: pl.DataFrame
    observed_occupancy: pl.DataFrame
    validation: pl.DataFrame
    utilization_mae: dict[str, float | None]
    totals: dict[str, int]
    offers_by_band: dict[str, dict[str, int]]
    input_counts: dict[str, int]
    observed_counts: dict[str, int]
    window_us: dict[str, int]
    kernel_seconds: float
    compile_seconds: float
    kill_log: np.ndarray | None = None

    @property
    def events_per_second(self) -> float | None:
        """Processes plus machine events replayed per second of kernel time."""
        events = self.input_counts["processes"] + self.input_counts["machine_events"]
        if self.kernel_seconds <= 0:
            return None
        return events / self.kernel_seconds

    @property
    def scheduler_busyness(self) -> float:
        """Share of the window the schedulers spent deciding, per scheduler.

        It may exceed 1 when decisions pile up past the window end.
        """
        span = self.window_us["end"] - self.window_us["start"]
        if span <= 0:
            return 0.0
        return self.totals["scheduler_busy_us"] / (span * self.policy.schedulers)

    def evictions_by_band(self) -> dict[str, dict[str, int]]:
        """Return observed and predicted evictions per band.

        ``predicted`` counts every kill (machine REMOVE and preemption) of the
        band's attempts and ``preempted`` the preemptions among them;
        ``observed`` counts the band's EVICT events in the window.
        """
        per_band = (
            self.attempts.group_by("band")
            .agg(pl.col("kills").sum(), pl.col("preemptions").sum())
            .with_columns(pl.col("band").cast(pl.String).fill_null("unbanded"))
        )
        predicted = {row[0]: (int(row[1]), int(row[2])) for row in per_band.rows()}
        bands = [*REPORTED_BANDS]
        bands += sorted(band for band in predicted if band not in bands)
        result = {}
        for band in bands:
            kills, preempted = predicted.get(band, (0, 0))
            result[band] = {
                "observed": self.observed_counts.get(f"evictions_{band}", 0),
                "predicted": kills,
                "preempted": preempted,
            }
        return result

    def summary(self) -> dict[str, Any]:
        """Return the headline figures as a JSON-serializable dict.

        ``bands`` maps each band to its ``observed`` and ``predicted`` delay
        statistics (seconds), ``censored`` (attempts the replay never placed
        before the window closed, counted in the predicted ``n``) and ``ks``,
        their Kolmogorov-Smirnov distance. ``counts`` sets each predicted count
        next to the observed one where the trace has it, evictions also per band.
        ``offers`` gives the offer model's counts per band (empty without it).
        """
        bands = {}
        for row in self.validation.iter_rows(named=True):
            sides = {}
            for side in ("observed", "predicted"):
                sides[side] = {
                    "n": row[f"{side}_n"],
                    **{
                        statistic: json_number(row[f"{side}_{statistic}_s"])
                        for statistic in ("mean", "p50", "p90", "p99")
                    },
                }
            bands[row["band"]] = {
                **sides,
                "censored": row["predicted_censored"],
                "ks": json_number(row["ks_distance"]),
            }
        observed_evictions = self.observed_counts["evictions"]
        predicted_evictions = self.totals["evictions"]
        return {
            "policy": self.policy.name,
            "policy_fields": self.policy.describe(),
            "seed": self.policy.seed,
            "window_s": {
                "start": self.window_us["start"] / 1e6,
                "end": self.window_us["end"] / 1e6,
            },
            "bands": bands,
            "utilization_mae": {
                k: json_number(v) for k, v in self.utilization_mae.items()
            },
            "counts": {
                "evictions": {
                    "observed": observed_evictions,
                    "predicted": predicted_evictions,
                    "error": predicted_evictions - observed_evictions,
                },
                "machine_failure_evictions": {
                    "observed": self.observed_counts["machine_failure_evictions"],
                    "predicted": predicted_evictions,
                },
                # The trace records no scheduler conflicts.
                "conflicts": {
                    "observed": None,
                    "predicted": self.totals["conflicts"],
                },
                "scheduler_busyness": self.scheduler_busyness,
                "evictions_by_band": self.evictions_by_band(),
            },
            "offers": self.offers_by_band,
            "totals": dict(self.totals),
            "inputs": dict(self.input_counts),
            "kernel_seconds": self.kernel_seconds,
            "compile_seconds": self.compile_seconds,
            "events_per_second": self.events_per_second,
        }


def _window(store: TraceStore) -> dict[str, int]:
    window = store.manifest.get("window_us")
    if "window_us" in store.manifest and window is None:
        raise StoreError(
            f"{store.path}: the store contains no process events, so there is nothing "
            "to replay; check that the trace's task-event files are not empty"
        )
    if not window or window.get("end") is None:
        raise StoreError(
            f"{store.path}: the manifest has no window_us; ingest the trace again "
            "with this version of muosm-perf"
        )
    return {"start": int(window["start"]), "end": int(window["end"])}


def _attempt_table(processes: pl.DataFrame, start: int) -> pl.DataFrame:
    scheduled = pl.col("schedule_time_us").is_not_null() | pl.col(
        "schedule_before_window"
    )
    run_from = pl.col("schedule_time_us").fill_null(start)
    submit = pl.coalesce(
        pl.col("submit_time_us"),
        pl.when(pl.col("submit_before_window")).then(pl.lit(start)),
        pl.col("schedule_time_us"),
        pl.when(pl.col("schedule_before_window")).then(pl.lit(start)),
    )
    duration = (
        pl.when(scheduled & pl.col("end_time_us").is_not_null())
        .then(pl.col("end_time_us") - run_from)
        .otherwise(pl.lit(-1))
    )
    cancel = (
        pl.when(~scheduled & pl.col("end_time_us").is_not_null())
        .then(pl.col("end_time_us"))
        .otherwise(pl.lit(NULL_INT))
    )
    return (
        processes.with_columns(
            submit.alias("replay_submit_us"),
            duration.alias("duration_us"),
            cancel.alias("cancel_us"),
            scheduled.alias("observed_scheduled"),
        )
        .with_row_index("row")
        .sort(["replay_submit_us", "row"], nulls_last=True)
    )


def _machine_events(
    cell_events: pl.DataFrame, start: int, end: int
) -> tuple[pl.DataFrame, np.ndarray, int]:
    cell_ids = cell_events["cell_id"].unique().sort().to_numpy()
    events = (
        cell_events.with_columns(
            pl.when(pl.col("before_window"))
            .then(pl.lit(start))
            .otherwise(pl.col("time_us"))
            .alias("replay_time_us")
        )
        .filter(
            pl.col("replay_time_us").is_not_null()
            & ~pl.col("after_window")
            & (pl.col("replay_time_us") <= end)
        )
        .sort(["replay_time_us", "source_file", "source_line"], maintain_order=True)
    )
    dropped = cell_events.height - events.height
    machine = np.searchsorted(cell_ids, events["cell_id"].to_numpy())
    return events.with_columns(pl.Series("machine", machine)), cell_ids, dropped


UNSCHEDULED = ("replay", "hold")
"""Choices of :func:`prepare_replay` for attempts the trace never scheduled and that
were still pending at the window end."""


def prepare_replay(
    store: TraceStore,
    *,
    grid_step_s: float | None = None,
    unscheduled: str = "replay",
) -> PreparedReplay:
    """Build the kernel inputs and the observed series from a store.

    Parameters
    ----------
    store
        A trace store with ``processes``, ``cell_events`` and a trace window.
    grid_step_s
        Step of the sample grid in seconds; by default the smallest whole minute
        that keeps the grid under 2,000 points.
    unscheduled
        ``replay`` replays the attempts the trace never scheduled and that were
        still pending at the window end, like any other; ``hold`` leaves them out
        (counted as ``held_unscheduled``), as if constraints the trace does not
        show kept them pending. The observed series is the same either way.

    Raises
    ------
    StoreError
        If the manifest has no trace window.
    """
    window = _window(store)
    start, end = window["start"], window["end"]
    processes = store.read("processes", columns=_PROCESS_COLUMNS)
    cell_events = store.read("cell_events")

    if unscheduled not in UNSCHEDULED:
        raise ParameterError(
            f"unscheduled is {unscheduled!r}; choose one of: {', '.join(UNSCHEDULED)}"
        )
    table = _attempt_table(processes, start)
    unplaceable = table.filter(pl.col("replay_submit_us").is_null())
    table = table.filter(pl.col("replay_submit_us").is_not_null())
    never_scheduled = ~pl.col("observed_scheduled") & pl.col("end_after_window")
    held = table.filter(never_scheduled).height if unscheduled == "hold" else 0
    if held:
        table = table.filter(~never_scheduled)
    events, cell_ids, dropped_events = _machine_events(cell_events, start, end)
    grid = default_grid(start, end, step_s=grid_step_s)

    counts = {
        "processes": table.height,
        "attempts_without_times": unplaceable.height,
        "held_unscheduled": held,
        "null_cpu_requests": int(table["cpu_request"].null_count()),
        "null_memory_requests": int(table["memory_request"].null_count()),
        "null_priorities": int(table["priority"].null_count()),
        "machines": int(cell_ids.shape[0]),
        "machines_unknown_capacity": int(
            events.filter(
                pl.col("event").is_in(["ADD", "UPDATE"])
                & (
                    pl.col("cpu_capacity").is_null()
                    | pl.col("memory_capacity").is_null()
                )
            )["cell_id"].n_unique()
        ),
        "machine_events": events.height,
        "machine_events_dropped": dropped_events,
        "grid_points": int(grid.shape[0]),
    }
    for name in ("null_cpu_requests", "null_memory_requests", "null_priorities"):
        if counts[name]:
            logger.info("%s: %d replaced by 0", name, counts[name])

    inputs = ReplayInput(
        machines=int(cell_ids.shape[0]),
        machine_event_time_us=events["replay_time_us"].to_numpy(),
        machine_event_machine=events["machine"].to_numpy(),
        machine_event_kind=events["event"].to_physical().to_numpy(),
        machine_event_cpu_capacity=events["cpu_capacity"].fill_null(np.nan).to_numpy(),
        machine_event_memory_capacity=events["memory_capacity"]
        .fill_null(np.nan)
        .to_numpy(),
        submit_time_us=table["replay_submit_us"].to_numpy(),
        cpu_request=table["cpu_request"].fill_null(0.0).to_numpy(),
        memory_request=table["memory_request"].fill_null(0.0).to_numpy(),
        priority=table["priority"].fill_null(0).cast(pl.Int64).to_numpy(),
        duration_us=table["duration_us"].to_numpy(),
        end_time_us=table["cancel_us"].to_numpy(),
        grid_us=grid,
        horizon_us=end,
        group=table["group_id"].to_numpy(),
        bypass_scheduler=table["schedule_before_window"].to_numpy(),
        # A process without a band (null priority) counts as the lowest band.
        band=table["band"].to_physical().fill_null(0).cast(pl.Int64).to_numpy(),
    )
    observed_counts = _observed_counts(processes, cell_events, start, end)
    attempts = table.select(
        "group_id",
        "process_index",
        "attempt",
        "band",
        pl.col("replay_submit_us").alias("submit_time_us"),
        pl.col("submit_time_us").is_not_null().alias("submit_in_window"),
        pl.col("schedule_time_us").alias("observed_schedule_time_us"),
        (pl.col("scheduling_delay_us") / 1e6).alias("observed_delay_s"),
    )
    observed = occupancy_series(processes, cell_events, grid, start)
    return PreparedReplay(
        inputs=inputs,
        attempts=attempts,
        cell_ids=cell_ids,
        window_us=window,
        observed_occupancy=observed,
        input_counts=counts,
        observed_counts=observed_counts,
    )


def resolve_policy(policy: str | SchedulerPolicy, seed: int = 0) -> SchedulerPolicy:
    """Return ``policy`` as a :class:`SchedulerPolicy`; a name gets ``seed``.

    Raises
    ------
    ParameterError
        If a name is not one of :data:`POLICIES`.
    """
    if isinstance(policy, SchedulerPolicy):
        return policy
    base, _, option = policy.partition("+")[2].partition("+")
    known = f"{policy.partition('+')[0]}+{base}" in POLICIES
    if not known or (option and option not in OPTIONS):
        raise ParameterError(
            f"policy {policy!r} is not known; choose one of: {', '.join(POLICIES)}, "
            f"optionally followed by +{' or +'.join(OPTIONS)}"
        )
    return SchedulerPolicy.parse(policy, seed=seed)


def _observed_counts(
    processes: pl.DataFrame, cell_events: pl.DataFrame, start: int, end: int
) -> dict[str, int]:
    """Count observed evictions, and those on machines removed at that instant."""
    evicted = processes.filter(
        (pl.col("end_state") == "EVICT") & pl.col("end_time_us").is_between(start, end)
    )
    removals = cell_events.filter(
        (pl.col("event") == "REMOVE") & pl.col("time_us").is_between(start, end)
    ).select(pl.col("cell_id"), pl.col("time_us").alias("end_time_us"))
    on_removed = evicted.join(removals.unique(), on=["cell_id", "end_time_us"])
    counts = {
        "evictions": evicted.height,
        "machine_failure_evictions": on_removed.height,
    }
    by_band = evicted.group_by("band").len()
    for band, number in by_band.iter_rows():
        counts[f"evictions_{band or 'unbanded'}"] = int(number)
    return counts


def predicted_occupancy(output: ReplayOutput, grid_us: np.ndarray) -> pl.DataFrame:
    """Return the replay's sampled series as an occupancy frame.

    Utilization is the requested CPU (or memory) of running processes over the
    capacity of alive machines whose capacity is known, null where that is 0.
    """
    frame = pl.DataFrame(
        {
            "time_us": grid_us,
            "running": output.running,
            "cpu_requested": output.cpu_in_use,
            "memory_requested": output.memory_in_use,
            "cpu_capacity": output.cpu_capacity,
            "memory_capacity": output.memory_capacity,
        }
    )
    return frame.with_columns(
        pl.when(pl.col("cpu_capacity") > 0)
        .then(pl.col("cpu_requested") / pl.col("cpu_capacity"))
        .alias("cpu_utilization"),
        pl.when(pl.col("memory_capacity") > 0)
        .then(pl.col("memory_requested") / pl.col("memory_capacity"))
        .alias("memory_utilization"),
    )


def run_prepared(
    prepared: PreparedReplay,
    *,
    policy: str | SchedulerPolicy = DEFAULT_POLICY,
    seed: int = 0,
) -> ReplayResult:
    """Replay prepared inputs and compare the predictions with the observations.

    Parameters
    ----------
    prepared
        From :func:`prepare_replay`; it can be replayed many times.
    policy
        A name from :data:`POLICIES` or a complete :class:`SchedulerPolicy`.
    seed
        Seed of the replay's random choices when ``policy`` is a name; the result
        is the same for the same inputs, policy and seed.
    """
    policy = resolve_policy(policy, seed)
    inputs = prepared.inputs
    compile_seconds = compile_replay()
    began = time.perf_counter()
    output = replay_arrays(inputs, policy)
    kernel_seconds = time.perf_counter() - began
    logger.info(
        "replayed %d processes and %d machine events in %.3f s",
        inputs.processes,
        inputs.machine_event_time_us.shape[0],
        kernel_seconds,
    )

    schedule = pl.Series("predicted_schedule_time_us", output.schedule_time_us).replace(
        NULL_INT, None
    )
    machine = output.machine
    cell = np.where(machine >= 0, prepared.cell_ids[np.maximum(machine, 0)], 0)
    attempts = (
        prepared.attempts.with_columns(
            schedule,
            pl.Series("predicted_cell_id", cell).set(pl.Series(machine < 0), None),
            pl.Series("kills", output.kills),
            pl.Series("preemptions", output.preemptions),
        )
        .with_columns(
            pl.when(pl.col("submit_in_window"))
            .then(
                (pl.col("predicted_schedule_time_us") - pl.col("submit_time_us")) / 1e6
            )
            .alias("predicted_delay_s"),
            # Never placed before the window closed: the delay is at least this.
            pl.when(
                pl.col("submit_in_window")
                & pl.col("predicted_schedule_time_us").is_null()
            )
            .then((prepared.window_us["end"] - pl.col("submit_time_us")) / 1e6)
            .alias("predicted_censored_at_s"),
        )
        .with_columns(
            pl.col("predicted_censored_at_s").is_not_null().alias("predicted_censored")
        )
    )
    occupancy = predicted_occupancy(output, inputs.grid_us)
    return ReplayResult(
        policy=policy,
        attempts=attempts,
        occupancy=occupancy,
        observed_occupancy=prepared.observed_occupancy,
        validation=delay_validation(attempts),
        utilization_mae=utilization_mae(prepared.observed_occupancy, occupancy),
        totals=output.totals,
        offers_by_band={
            _band_name(int(band)): dict(
                zip(("made", "accepted", "declined"), map(int, row), strict=True)
            )
            for band, row in zip(
                output.framework_bands, output.offer_counts, strict=False
            )
        },
        input_counts=prepared.input_counts,
        observed_counts=prepared.observed_counts,
        window_us=prepared.window_us,
        kernel_seconds=kernel_seconds,
        kill_log=output.kill_log,
        compile_seconds=compile_seconds,
    )


def _band_name(code: int) -> str:
    return BAND_NAMES[code] if 0 <= code < len(BAND_NAMES) else str(code)


def replay(
    store: TraceStore,
    *,
    grid_step_s: float | None = None,
    policy: str | SchedulerPolicy = DEFAULT_POLICY,
    seed: int = 0,
    unscheduled: str = "replay",
) -> ReplayResult:
    """Replay a store's attempts through the scheduling model and validate it.

    Parameters
    ----------
    store
        A trace store with ``processes``, ``cell_events`` and a trace window.
    grid_step_s
        Step of the occupancy grid in seconds (see :func:`prepare_replay`).
    policy
        A name from :data:`POLICIES` or a complete :class:`SchedulerPolicy`.
    seed
        Seed of the replay's random choices when ``policy`` is a name.
    unscheduled
        What to do with attempts the trace never scheduled (see
        :func:`prepare_replay`).

    Returns
    -------
    ReplayResult
        Predictions, observations and their comparison.
    """
    policy = resolve_policy(policy, seed)
    prepared = prepare_replay(store, grid_step_s=grid_step_s, unscheduled=unscheduled)
    return run_prepared(prepared, policy=policy, seed=seed)
