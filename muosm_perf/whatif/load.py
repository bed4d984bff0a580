"""Load transform: more or less work, by replicating jobs or compressing time.

``replicate`` scales the number of jobs (process groups) of the chosen bands by
``factor``. Think of copy slots 0, 1, 2, ... of each job, slot 0 being the job
itself: slot ``j`` is present when a uniform draw ``u[job, j]`` is below
``factor - j``. So each job has ``floor(factor)`` copies for sure (the original
among them) and one more with probability ``factor - floor(factor)``, and a factor
below 1 thins the jobs out. The draws of slot ``j`` come from their own stream of
the scenario's seed, so with one seed the jobs of a smaller factor are a subset of
those of a larger one. A copy keeps every attempt of its job with the same
requests, priority, duration and cancellation delay. It is submitted an offset
later, drawn per job and slot uniformly in ``[0, jitter_s)``. The default jitter
of 0 keeps the observed arrival pattern with every burst multiplied. Copies have
no observed counterpart. A copy submitted after the horizon never arrives.

``compress`` scales the arrival rate of every process by ``factor`` with the
arrival pattern kept: submission times after the window start are divided by
``factor`` around the start, the horizon and the sampling grid likewise, and each
process keeps its duration and its time to cancellation. Machine events stay at
their observed times, so the shortened replay sees the machine history of its own
time span. Compressing one band alone is not offered: it would move that band's
arrivals against the others, so use ``replicate`` for a band.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import polars as pl

from muosm_perf.errors import ScenarioError
from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels.replay import INT64_MAX
from muosm_perf.whatif.state import ScenarioInputs, replace_inputs, select_processes
from muosm_perf.whatif.transforms import (
    Transform,
    check_choice,
    check_names,
    check_number,
    register_transform,
)

LOAD_METHODS = ("replicate", "compress")
"""Methods of :class:`ScaleLoad`: jobs replicated, or time compressed."""

OBSERVED_COLUMNS = ("observed_schedule_time_us", "observed_delay_s")
"""Attempt columns that copies of jobs leave null: the trace never saw them."""

RngFactory = Callable[..., np.random.Generator]


@register_transform
@dataclasses.dataclass(frozen=True, kw_only=True)
class ScaleLoad(Transform):
    """Scale the offered load by ``factor``.

    Attributes
    ----------
    factor
        Load multiplier, >= 0 for ``replicate`` and > 0 for ``compress``.
    method
        ``replicate`` (jobs copied or thinned) or ``compress`` (time compressed).
    bands
        Bands whose jobs are replicated (priority bands of the store, for example
        ``middle``); None for every band. Only ``replicate`` accepts bands.
    jitter_s
        Largest submission offset of a copy, seconds (``replicate`` only).
    """

    kind = "scale_load"
    factor: float = 1.0
    method: str = "replicate"
    bands: tuple[str, ...] | None = None
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("method", self.method, LOAD_METHODS)
        check_number(
            "factor", self.factor, minimum=0, strict_minimum=self.method == "compress"
        )
        check_number("jitter_s", self.jitter_s, minimum=0)
        if self.bands is not None:
            check_names("bands", self.bands)
            if self.method == "compress":
                raise ScenarioError(
                    "compress scales every band at once; use method = 'replicate' "
                    "to scale some bands",
                    key="bands",
                    value=self.bands,
                )
        if self.method == "compress" and self.jitter_s != 0:
            raise ScenarioError(
                "jitter_s applies to replicated copies only",
                key="jitter_s",
                value=self.jitter_s,
            )

    def check_base(self, base: object) -> None:
        """Check that every band named exists in the base's attempts."""
        if self.bands is None:
            return
        known = set(base.prepared.attempts["band"].drop_nulls().unique().to_list())
        missing = [band for band in self.bands if band not in known]
        if missing:
            raise ScenarioError(
                f"no attempt has band {', '.join(missing)}; bands: "
                f"{', '.join(sorted(known))}",
                key="bands",
                value=self.bands,
            )

    def apply(self, state: ScenarioInputs, rng: RngFactory) -> ScenarioInputs:
        """Replicate or compress the processes of ``state``."""
        if self.method == "compress":
            return ScenarioInputs(compress_time(state, self.factor), state.machines)
        prepared = replicate_jobs(state, self.factor, self.bands, self.jitter_s, rng)
        return ScenarioInputs(prepared, state.machines)


def replicate_jobs(
    state: ScenarioInputs,
    factor: float,
    bands: tuple[str, ...] | None,
    jitter_s: float,
    rng: RngFactory,
):
    """Return the prepared inputs with jobs of ``bands`` copied or thinned.

    See the module documentation for the draws. Attempts gain a ``replica``
    column (0 for the trace's own attempts, ``j`` for slot ``j``).
    """
    prepared = state.prepared
    attempts = prepared.attempts
    if "replica" not in attempts.columns:
        attempts = attempts.with_columns(pl.lit(0, dtype=pl.Int32).alias("replica"))
    band = attempts["band"].cast(pl.String)
    if bands is None:
        selected = np.ones(attempts.height, dtype=bool)
    else:
        selected = band.is_in(list(bands)).fill_null(value=False).to_numpy()
    group_ids = attempts["group_id"].to_numpy()
    groups = np.unique(group_ids[selected])
    group_of = np.searchsorted(groups, group_ids[selected])
    selected_rows = np.flatnonzero(selected)
    jitter_us = float(jitter_s) * 1e6

    submit = prepared.inputs.submit_time_us
    end = prepared.inputs.end_time_us
    slots = int(np.ceil(factor))
    keep_original = np.ones(attempts.height, dtype=bool)
    parts_rows = []
    parts_offset = []
    for slot in range(max(slots, 1)):
        generator = rng(slot)
        draws = generator.random(groups.shape[0])
        offsets = np.floor(generator.random(groups.shape[0]) * jitter_us)
        present = draws < factor - slot
        if slot == 0:
            keep_original[selected_rows[~present[group_of]]] = False
            continue
        rows = selected_rows[present[group_of]]
        parts_rows.append(rows)
        parts_offset.append(offsets[group_of[present[group_of]]].astype(np.int64))

    originals = np.flatnonzero(keep_original)
    rows = np.concatenate([originals, *parts_rows])
    offset = np.concatenate([np.zeros(originals.shape[0], np.int64), *parts_offset])
    replica = np.concatenate(
        [np.zeros(originals.shape[0], np.int32)]
        + [
            np.full(part.shape[0], slot + 1, np.int32)
            for slot, part in enumerate(parts_rows)
        ]
    )
    new_submit = submit[rows] + offset
    old_end = end[rows]
    new_end = np.where(old_end == NULL_INT, NULL_INT, old_end + offset)
    copies = replica > 0
    replacements = {"submit_time_us": new_submit, "end_time_us": new_end}
    replacements.update(_copy_identity(prepared.inputs, rows, replica))
    table = attempts[rows].with_columns(
        pl.Series("submit_time_us", new_submit),
        pl.Series("replica", replica),
        *_without_observation(attempts, copies),
    )
    return select_processes(prepared, rows, replacements=replacements, attempts=table)


def _copy_identity(inputs, rows: np.ndarray, replica: np.ndarray) -> dict:
    """Return the group and scheduler-bypass arrays of the selected rows.

    A copy is a job of its own: slot ``j`` of job ``g`` gets group
    ``g + j * span``, with ``span`` above every group ID, so that the scheduler
    never batches a copy with its original. A copy arrives as new work, so it
    never bypasses the scheduler's decision, even when its original was already
    running when the window opened.
    """
    identity = {}
    if inputs.group is not None:
        group = inputs.group[rows]
        span = int(np.max(np.abs(inputs.group), initial=0)) + 1
        identity["group"] = group + replica.astype(np.int64) * span
    if inputs.bypass_scheduler is not None:
        identity["bypass_scheduler"] = inputs.bypass_scheduler[rows] & (replica == 0)
    return identity


def _without_observation(attempts: pl.DataFrame, copies: np.ndarray) -> list[pl.Expr]:
    """Return expressions that null the observed columns on the rows of copies."""
    mask = pl.lit(pl.Series("copy", copies, dtype=pl.Boolean))
    return [
        pl.when(mask).then(None).otherwise(pl.col(name)).alias(name)
        for name in OBSERVED_COLUMNS
        if name in attempts.columns
    ]


def compress_time(state: ScenarioInputs, factor: float):
    """Return the prepared inputs with arrivals ``factor`` times as frequent."""
    prepared = state.prepared
    inputs = prepared.inputs
    start = state.window_start_us

    def scale(times: np.ndarray) -> np.ndarray:
        shifted = (times - start).astype(np.float64) / float(factor)
        return start + np.rint(shifted).astype(np.int64)

    submit = inputs.submit_time_us
    new_submit = np.where(submit > start, scale(submit), submit)
    end = inputs.end_time_us
    new_end = np.where(end == NULL_INT, NULL_INT, end - submit + new_submit)
    # INT64_MAX means "no horizon": it stays, and is kept out of the arithmetic.
    horizon = int(inputs.horizon_us)
    if horizon != INT64_MAX:
        horizon = int(scale(np.array([horizon], dtype=np.int64))[0])
    grid = scale(np.asarray(inputs.grid_us, dtype=np.int64))
    attempts = prepared.attempts.with_columns(pl.Series("submit_time_us", new_submit))
    window = {**prepared.window_us, "end": horizon}
    return replace_inputs(
        prepared,
        {
            "submit_time_us": new_submit,
            "end_time_us": new_end,
            "horizon_us": horizon,
            "grid_us": grid,
        },
        attempts=attempts,
        window_us=window,
    )
