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

from muosm_perf.analysis.characterize import characterize
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.views import prediction_for
from muosm_perf.report.document import ReportFolder
from muosm_perf.report.store_report import write_report, write_report_files
from muosm_perf.traces import registry
from muosm_perf.traces.synthetic import generate_google_2011

logger = logging.getLogger(__name__)


def run_main_job(
    trace_dir: str | Path,
    output: str | Path,
    *,
    source_format: str = "google-2011",
    policy: str | None = None,
    replay_enabled: bool = True,
    calibrated: bool = True,
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
        Replay policy name; by default the one of the store's format.
    replay_enabled
        Replay the scheduler; when False the report shows observed values only.
    calibrated
        Replay cluster traces with the calibrated settings
        (:data:`muosm_perf.predict.views.CALIBRATION`); when False, with the
        trace's capacity and no scheduler decision time.
    progress
        Show progress bars on standard error.

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    with ReportFolder(output, inputs=[trace_dir], kind="main-job output") as folder:
        _run_into(
            folder,
            Path(trace_dir),
            source_format,
            policy,
            replay_enabled,
            calibrated,
            progress,
        )
    return Path(output)


def run_demo(
    output: str | Path,
    *,
    seed: int = 0,
    machines: int = 200,
    duration_s: int = 6 * 3600,
    policy: str | None = None,
    calibrated: bool = True,
    progress: bool = False,
) -> Path:
    """Run the main job on a synthetic trace generated in the Google 2011 layout.

    The generated trace is kept in ``OUT/trace`` (with ``synthetic.json``, its
    parameters and seed), next to the store and the report.
    """
    with ReportFolder(output, kind="main-job output") as folder:
        trace_dir = generate_google_2011(
            folder / "trace", machines=machines, duration_s=duration_s, seed=seed
        )
        _run_into(folder, trace_dir, "google-2011", policy, True, calibrated, progress)
    return Path(output)


def _run_into(
    folder: Path,
    trace_dir: Path,
    source_format: str,
    policy: str | None,
    replay_enabled: bool,
    calibrated: bool,
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

    prediction, summary, skipped = (None, None, "the replay was not requested")
    if replay_enabled:
        started = time.perf_counter()
        prediction, summary, skipped = prediction_for(
            store, policy, calibrated=calibrated
        )
        timings["replay"] = time.perf_counter() - started

    started = time.perf_counter()
    write_report_files(
        store, folder, characterization, prediction, summary, replay_skipped=skipped
    )
    timings["report"] = time.perf_counter() - started
    for step, seconds in timings.items():
        logger.info("%s took %.1f s", step, seconds)


def write_store_report(
    store: TraceStore,
    output: str | Path,
    *,
    replay_enabled: bool = True,
    policy: str | None = None,
    calibrated: bool = True,
) -> Path:
    """Write the report of an existing store, with a replay unless disabled."""
    prediction, summary, skipped = (None, None, "the replay was not requested")
    if replay_enabled:
        prediction, summary, skipped = prediction_for(
            store, policy, calibrated=calibrated
        )
    return write_report(
        store,
        output,
        prediction=prediction,
        replay_summary=summary,
        replay_skipped=skipped,
    )
