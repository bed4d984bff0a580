"""The main job: ingest a trace, characterize it, replay it and write the report.

Output folder of :func:`run_main_job`::

    OUT/
      index.html, report.md, *.png   the report
      analysis.json                  the characterization (``muosm analyze --json``)
      replay.json                    the replay against the observed values
      store/                         the canonical trace store

The folder is built aside and renamed into place when complete.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from muosm_perf.analysis.characterize import characterize
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import DEFAULT_POLICY, replay
from muosm_perf.report.document import ReportFolder
from muosm_perf.report.store_report import (
    PredictionView,
    write_report,
    write_report_files,
)
from muosm_perf.traces import registry
from muosm_perf.traces.synthetic import generate_google_2011

logger = logging.getLogger(__name__)


def predict_for_report(
    store: TraceStore, *, policy: str = DEFAULT_POLICY
) -> tuple[PredictionView, dict[str, Any]]:
    """Replay ``store`` and return what the report shows and the JSON summary."""
    result = replay(store, policy=policy)
    summary = result.summary()
    delays = result.attempts.filter(pl.col("predicted_delay_s").is_not_null()).select(
        pl.col("band"), pl.col("predicted_delay_s").alias("delay_s")
    )
    totals = summary["totals"]
    notes = [
        "Every attempt of the trace is submitted at its observed SUBMIT time "
        "with its observed CPU and memory request and priority, and runs for its "
        "observed run time once placed. Machines join, leave and change capacity "
        "as the machine events say; processes on a removed machine are killed and "
        "submitted again at once. The pending queue is ordered by priority, then "
        "by arrival; each process goes to the lowest-numbered machine whose free "
        "CPU and memory (capacity minus the requests placed there) cover its "
        "request.",
        f"The kernel replayed {summary['inputs']['processes']:,} attempts in "
        f"{summary['kernel_seconds']:.3f} s, after "
        f"{summary['compile_seconds']:.3f} s of compilation or cache loading.",
    ]
    if totals.get("unschedulable"):
        notes.append(
            f"{totals['unschedulable']:,} attempts never found a machine with room "
            "for their request before the window closed; they have no predicted "
            "delay. A gap between observed and predicted delay this large means the "
            "trace's scheduler placed more than the requests allow, for example by "
            "overcommitting machines."
        )
    view = PredictionView(
        policy=policy,
        delays=delays,
        occupancy=result.occupancy,
        bands=summary["bands"],
        utilization_mae=summary["utilization_mae"],
        notes=notes,
        totals=totals,
    )
    return view, summary


def run_main_job(
    trace_dir: str | Path,
    output: str | Path,
    *,
    source_format: str = "google-2011",
    policy: str = DEFAULT_POLICY,
    replay_enabled: bool = True,
    progress: bool = False,
) -> Path:
    """Ingest, characterize, replay and report one trace.

    Parameters
    ----------
    trace_dir
        Trace folder in ``source_format``.
    output
        Output folder; replaced only when the new one is complete, and only if it
        was written by muosm-perf or is empty.
    source_format
        Trace format name (see ``muosm ingest --help``).
    policy
        Replay policy name.
    replay_enabled
        Replay the scheduler; when False the report shows observed values only.
    progress
        Show progress bars on standard error.

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    with ReportFolder(output, inputs=[trace_dir]) as folder:
        _run_into(
            folder, Path(trace_dir), source_format, policy, replay_enabled, progress
        )
    return Path(output)


def run_demo(
    output: str | Path,
    *,
    seed: int = 0,
    machines: int = 200,
    duration_s: int = 6 * 3600,
    policy: str = DEFAULT_POLICY,
    progress: bool = False,
) -> Path:
    """Run the main job on a synthetic trace generated in the Google 2011 layout.

    The generated trace is kept in ``OUT/trace`` (with ``synthetic.json``, its
    parameters and seed), next to the store and the report.
    """
    with ReportFolder(output) as folder:
        trace_dir = generate_google_2011(
            folder / "trace", machines=machines, duration_s=duration_s, seed=seed
        )
        _run_into(folder, trace_dir, "google-2011", policy, True, progress)
    return Path(output)


def _run_into(
    folder: Path,
    trace_dir: Path,
    source_format: str,
    policy: str,
    replay_enabled: bool,
    progress: bool,
) -> None:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    store = registry.ingest(
        source_format, trace_dir, folder / "store", progress=progress
    )
    timings["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    characterization = characterize(store)
    timings["analyze"] = time.perf_counter() - started

    prediction, summary = (None, None)
    if replay_enabled:
        started = time.perf_counter()
        prediction, summary = predict_for_report(store, policy=policy)
        timings["replay"] = time.perf_counter() - started

    started = time.perf_counter()
    write_report_files(store, folder, characterization, prediction, summary)
    timings["report"] = time.perf_counter() - started
    for step, seconds in timings.items():
        logger.info("%s took %.1f s", step, seconds)


def write_store_report(
    store: TraceStore, output: str | Path, *, replay_enabled: bool = True
) -> Path:
    """Write the report of an existing store, with a replay unless disabled."""
    prediction, summary = (None, None)
    if replay_enabled:
        prediction, summary = predict_for_report(store)
    return write_report(store, output, prediction=prediction, replay_summary=summary)
