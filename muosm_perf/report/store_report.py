"""The report of one trace store: characterization, and replay against observation."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from muosm_perf import __version__
from muosm_perf.analysis.characterize import (
    characterize,
    occupancy,
    scheduling_delays,
)
from muosm_perf.analysis.faults import analyze_faults, load_fault_history
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.views import COUNTER_MEANINGS, PredictionView
from muosm_perf.report import figures
from muosm_perf.report.document import (
    Figure,
    ReportFolder,
    Section,
    Table,
    format_number,
    render_html,
    render_markdown,
)
from muosm_perf.report.faults import fault_cells_section

logger = logging.getLogger(__name__)


def _overview(result: Mapping[str, Any], store: TraceStore, folder: Path) -> Section:
    manifest = store.manifest
    window = result.get("window_s")
    span = (
        "—" if window is None else f"{(window['end'] - window['start']) / 3600:.2f} h"
    )
    rows = [
        ["source format", result["source_format"]],
        ["trace window", span],
        ["distributed processes", format_number(result["processes"])],
        ["attempts", format_number(result["attempts"])],
        ["process groups", format_number(result["groups"])],
        ["fault cells (machines)", format_number(result["cells"])],
        ["machines removed at least once", _count_and_share(result["churn"])],
        ["rows quarantined", format_number(result["rows_quarantined"])],
    ]
    files = manifest.get("files", [])
    source = Path(manifest["source"].get("path", "?"))
    if source.is_relative_to(folder.resolve()):
        source = source.relative_to(folder.resolve())
    else:
        source = Path(source.name)
    text = (
        f"Store `{store.path.name}` read by muosm-perf "
        f"{manifest['tool']['version']} from "
        f"{len(files)} files ({sum(f['bytes'] for f in files):,} bytes) of "
        f"`{source}`."
    )
    return Section("Overview", [text, Table(["figure", "value"], rows)])


def _count_and_share(churn: Mapping[str, Any]) -> str:
    share = churn["machines_removed_share"]
    count = format_number(churn["machines_removed"])
    return count if share is None else f"{count} ({100 * share:.1f}% of machines)"


def _delay_table(
    observed: Mapping[str, Mapping[str, Any]],
    prediction: PredictionView | None,
) -> Table:
    columns = ["band", "side", "n", "mean (s)", "p50 (s)", "p90 (s)", "p99 (s)", "KS"]
    rows = []
    bands = list(observed)
    if prediction is not None:
        bands += [band for band in prediction.bands if band not in observed]
    for band in bands:
        stats = observed.get(band)
        if stats is not None:
            rows.append(
                [band, "observed", format_number(stats["n"])]
                + [format_number(stats[k]) for k in ("mean", "p50", "p90", "p99")]
                + [""]
            )
        if prediction is not None and band in prediction.bands:
            predicted = prediction.bands[band]["predicted"]
            rows.append(
                [band, "predicted", format_number(predicted["n"])]
                + [format_number(predicted[k]) for k in ("mean", "p50", "p90", "p99")]
                + [format_number(prediction.bands[band].get("ks"))]
            )
    return Table(columns, rows)


def build_sections(
    store: TraceStore,
    result: Mapping[str, Any],
    folder: Path,
    prediction: PredictionView | None,
    replay_skipped: str | None = None,
) -> list[Section]:
    """Draw the figures into ``folder`` and return the report's sections."""
    sides = (
        "observed (solid) and predicted by the replay (dashed)"
        if prediction is not None
        else "as observed"
    )
    sections = [
        _overview(result, store, folder),
        _delay_section(store, result, folder, prediction, sides),
    ]
    if store.manifest.get("window_us"):
        sections.append(_occupancy_section(store, folder, prediction, sides))
    sections.append(_replay_section(prediction, replay_skipped))
    sections.append(_bus_section(result, folder))
    sections.append(_fault_section(store, result, folder))
    if store.read("cell_events").height:
        sections.append(
            fault_cells_section(
                load_fault_history(store), analyze_faults(store), folder
            )
        )
    sections.append(_quality_section(result))
    return sections


def _delay_section(
    store: TraceStore,
    result: Mapping[str, Any],
    folder: Path,
    prediction: PredictionView | None,
    sides: str,
) -> Section:
    figures.delay_cdf(
        scheduling_delays(store.scan("processes")),
        prediction.delays if prediction else None,
        folder / "delay_cdf.png",
    )
    return Section(
        "Scheduling delay per priority band",
        [
            "The scheduling delay of an attempt is the time from its SUBMIT to its "
            "SCHEDULE. Attempts submitted before the trace window are left out, "
            "because their submit time is unknown. `unbanded` holds attempts "
            "without a priority and `all` every attempt with a delay. Percentiles "
            "interpolate linearly between order statistics. KS is the two-sample "
            "Kolmogorov-Smirnov distance between the observed and predicted "
            "distributions (0: identical, 1: disjoint).",
            _delay_table(result["scheduling_delay_s"], prediction),
            Figure(
                "delay_cdf.png",
                f"Cumulative distribution of scheduling delay per band, {sides}.",
            ),
        ],
    )


def _occupancy_section(
    store: TraceStore, folder: Path, prediction: PredictionView | None, sides: str
) -> Section:
    figures.occupancy_over_time(
        occupancy(store),
        prediction.occupancy if prediction else None,
        folder / "occupancy.png",
    )
    blocks: list[str | Table | Figure] = [
        "Running attempts, and the CPU and memory requested by them divided by the "
        "capacity of the machines alive at that time (both in the trace's units). "
        "Google's cells overcommit, so requested utilization can exceed 100%.",
    ]
    if prediction is not None:
        blocks.append(
            Table(
                ["resource", "mean absolute error (percentage points)"],
                [
                    [name, format_number(value)]
                    for name, value in prediction.utilization_mae.items()
                ],
            )
        )
    blocks.append(
        Figure(
            "occupancy.png",
            "Running attempts (top) and requested utilization (bottom) over trace "
            f"time, {sides}.",
        )
    )
    return Section("Occupancy over time", blocks)


def _replay_section(
    prediction: PredictionView | None, replay_skipped: str | None
) -> Section:
    if prediction is None:
        return Section(
            "Replay model",
            [f"No replay in this report: {replay_skipped or 'none was requested'}."],
        )
    blocks: list[str | Table | Figure] = [
        f"Replay policy: `{prediction.policy}`.",
        *prediction.notes,
    ]
    if prediction.totals:
        blocks.append(
            Table(
                ["counter", "value", "meaning"],
                [
                    [name, format_number(value), COUNTER_MEANINGS.get(name, "")]
                    for name, value in prediction.totals.items()
                ],
            )
        )
    return Section("Replay model", blocks)


def _bus_section(result: Mapping[str, Any], folder: Path) -> Section:
    figures.event_mix(result["events_by_type"], folder / "event_mix.png")
    return Section(
        "Message bus: event mix",
        [
            "Lifecycle events of processes carried between the scheduler and the "
            "machines, by canonical type.",
            Table(
                ["event", "count"],
                [[k, format_number(v)] for k, v in result["events_by_type"].items()],
            ),
            Figure("event_mix.png", "Lifecycle events by type (log scale)."),
        ],
    )


def _fault_section(
    store: TraceStore, result: Mapping[str, Any], folder: Path
) -> Section:
    cell_events = store.read("cell_events")
    before = int(cell_events["before_window"].sum())
    window = store.manifest.get("window_us")
    figures.machine_churn(cell_events, window, folder / "churn.png")
    outcome_rows = [
        [band, *(format_number(counts.get(k, 0)) for k in _OUTCOMES)]
        for band, counts in result["outcomes_by_band"].items()
    ]
    caption = (
        "Machine events over time (count per bin), leaving out the "
        f"{before:,} events before the trace window (the machines present at the "
        "start)" + ("; the window of the process events is shaded." if window else ".")
    )
    return Section(
        "Machine churn and outcomes",
        [
            "Machines join (ADD), leave or fail (REMOVE) and change capacity "
            "(UPDATE). Outcomes count attempts by how they ended; `running_at_end` "
            "attempts had not ended when the trace window closed, and "
            "`end_unknown` ones ended without a record.",
            Table(["band", *_OUTCOMES], outcome_rows),
            Figure("churn.png", caption),
        ],
    )


def _quality_section(result: Mapping[str, Any]) -> Section:
    anomalies = {k: v for k, v in result["anomalies"].items() if v}
    return Section(
        "Data quality",
        [
            f"{format_number(result['rows_quarantined'])} input rows were rejected "
            "and kept in the store's `quarantine` table with file, line, column, "
            "value and reason.",
            "Lifecycle anomalies (events that do not follow the state machine): "
            + (
                ", ".join(f"{k} {v:,}" for k, v in anomalies.items())
                if anomalies
                else "none."
            ),
        ],
    )


_OUTCOMES = ("FINISH", "FAIL", "KILL", "EVICT", "LOST", "running_at_end", "end_unknown")


def write_report_files(
    store: TraceStore,
    folder: Path,
    characterization: Mapping[str, Any],
    prediction: PredictionView | None = None,
    replay_summary: Mapping[str, Any] | None = None,
    *,
    replay_skipped: str | None = None,
) -> None:
    """Write the report files into an existing ``folder``.

    Writes ``index.html``, ``report.md``, the PNG figures, ``analysis.json`` and,
    with a replay, ``replay.json``.
    """
    title = f"muosm-perf report: {store.source_format} trace"
    sections = build_sections(
        store, characterization, folder, prediction, replay_skipped
    )
    sections.append(
        Section(
            "Provenance",
            [
                f"Generated by muosm-perf {__version__}. Figures: matplotlib. "
                "`analysis.json` holds every observed figure above, as "
                "`muosm analyze --json` prints it"
                + (
                    "; `replay.json` holds the replay's figures."
                    if replay_summary is not None
                    else "."
                ),
            ],
        )
    )
    (folder / "report.md").write_text(render_markdown(title, sections), "utf-8")
    (folder / "index.html").write_text(render_html(title, sections), "utf-8")
    (folder / "analysis.json").write_text(
        json.dumps(characterization, indent=2) + "\n", "utf-8"
    )
    if replay_summary is not None:
        (folder / "replay.json").write_text(
            json.dumps(replay_summary, indent=2) + "\n", "utf-8"
        )


def write_report(
    store: TraceStore,
    destination: str | Path,
    *,
    prediction: PredictionView | None = None,
    replay_summary: Mapping[str, Any] | None = None,
    replay_skipped: str | None = None,
    characterization: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report of ``store`` into the folder ``destination``.

    The folder is built aside and renamed into place when complete, so a failure
    leaves an earlier report at ``destination`` as it was.

    Parameters
    ----------
    store
        The trace store.
    destination
        Report folder.
    prediction, replay_summary
        A replay to show next to the observed values, and its JSON summary.
    replay_skipped
        Why there is no replay, shown in the report when ``prediction`` is None.
    characterization
        The result of :func:`~muosm_perf.analysis.characterize.characterize`, if
        already computed.

    Returns
    -------
    pathlib.Path
        The report folder.
    """
    result = characterization or characterize(store)
    with ReportFolder(destination, inputs=[store.path]) as folder:
        write_report_files(
            store,
            folder,
            result,
            prediction,
            replay_summary,
            replay_skipped=replay_skipped,
        )
    logger.info("wrote report %s", destination)
    return Path(destination)
