"""Side-by-side comparison of trace stores in μ-OSM terms.

Every system (a store) is summarized by the same four views, computed from its
canonical tables:

- distributed processes: counts, sizes, durations and attempts;
- schedulers: delay by band, queue length and utilization;
- the message bus: event rate and burstiness;
- fault cells: churn, MTBF and MTTR.
 A first table says what each
system's native concepts are in μ-OSM terms. SWF logs without wait times are also
replayed (FCFS or EASY) so that their scheduler has predicted figures, marked as
such; nothing unknown is shown as 0.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from muosm_perf import __version__
from muosm_perf.analysis.bus import message_bus
from muosm_perf.analysis.characterize import (
    distribution_summary,
    occupancy,
    scheduling_delays,
)
from muosm_perf.analysis.faults import fault_cells
from muosm_perf.analysis.schedulers import (
    average_load,
    open_intervals,
    scheduler_summary,
)
from muosm_perf.analysis.workload import OUTCOMES, process_summary
from muosm_perf.errors import ParameterError
from muosm_perf.model.lifecycle import BAND_LABELS
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.swf_replay import replay_swf, swf_capacity
from muosm_perf.report import compare_figures
from muosm_perf.report.document import (
    Figure,
    ReportFolder,
    Section,
    Table,
    format_number,
    render_html,
    render_markdown,
)

logger = logging.getLogger(__name__)

SERIES_BINS = 200
"""Bins of the predicted utilization series in the figure."""

PRIMITIVES = (
    "distributed process",
    "process group",
    "scheduler",
    "message bus",
    "fault cell",
)
"""The μ-OSM primitives, in the order of the mapping table."""

NATIVE_CONCEPTS: dict[str, tuple[str, str, str, str, str]] = {
    "google-2011": (
        "task (job ID, task index)",
        "job",
        "Borg scheduler, by priority band (0-1 free, 2-8 middle, 9-11 production)",
        "task and job event stream",
        "machine (platform given; no domain above)",
    ),
    "google-2019": (
        "instance: task or alloc instance (collection ID, instance index)",
        "collection: job or alloc set",
        "Borg scheduler or batch scheduler (scheduler field), by tier",
        "instance and collection event stream",
        "machine, under a top-of-rack switch",
    ),
    "alibaba-2018": (
        "batch instance; online container",
        "batch task (its job's DAG as edges); online application (app_du)",
        "Fuxi (batch) and Sigma (online); no priorities",
        "start and end records of instances and containers",
        "machine, under two failure domains",
    ),
    "swf": (
        "job",
        "none: each job is its own group",
        "queue or partition; no submit-to-start times in the archived logs here",
        "submit, start and end of job lines",
        "the machine (MaxProcs processors)",
    ),
}
"""Native concept of each format for each μ-OSM primitive."""


@dataclass
class SystemSummary:
    """Everything the comparison shows of one store."""

    label: str
    store: TraceStore
    processes: dict[str, Any]
    scheduler: dict[str, Any]
    bus: dict[str, Any]
    faults: dict[str, Any]
    prediction: dict[str, Any] | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    utilization_series: tuple[np.ndarray, np.ndarray, str] | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the figures as JSON-serializable data."""
        return {
            "label": self.label,
            "store": str(self.store.path),
            "source_format": self.store.source_format,
            "units": self.store.manifest.get("units", {}),
            "processes": self.processes,
            "scheduler": self.scheduler,
            "message_bus": self.bus,
            "fault_cells": self.faults,
            "prediction": self.prediction,
        }


def predict_swf(
    store: TraceStore, policy: str
) -> tuple[dict[str, Any], np.ndarray, Any]:
    """Replay an SWF store; return its predicted figures, waits (s) and CPU series.

    The series is (fraction of the replayed span, utilization) on a regular grid.
    """
    capacity = swf_capacity(store)
    replayed = replay_swf(store, policy=policy, capacity=capacity).drop_nulls(
        "predicted_start_time_us"
    )
    jobs = store.read(
        "swf_jobs", ["line", "run_time", "allocated_processors", "requested_processors"]
    )
    replayed = replayed.join(jobs, on="line", how="left").with_columns(
        pl.coalesce("allocated_processors", "requested_processors").alias("_procs"),
        (pl.col("predicted_start_time_us") + pl.col("run_time")).alias("_end"),
    )
    waits = (replayed["predicted_wait_time_us"] / 1e6).to_numpy()
    prediction: dict[str, Any] = {
        "policy": policy,
        "capacity_processors": capacity,
        "jobs_replayed": replayed.height,
        "wait_s": distribution_summary(waits),
        "queue": {"mean": None, "max": None},
        "cpu_utilization": None,
    }
    if replayed.height == 0:
        return prediction, waits, None
    start = int(replayed["submit_time_us"].min())
    end = int(replayed["_end"].max())
    mean, peak = open_intervals(
        replayed["submit_time_us"].to_numpy(),
        replayed["predicted_start_time_us"].cast(pl.Float64).to_numpy(),
        start,
        end,
    )
    prediction["queue"] = {"mean": mean, "max": None if peak is None else int(peak)}
    starts = replayed["predicted_start_time_us"].to_numpy()
    ends = replayed["_end"].to_numpy()
    processors = replayed["_procs"].cast(pl.Float64).to_numpy()
    busy, _ = open_intervals(starts, ends.astype(np.float64), start, end, processors)
    prediction["cpu_utilization"] = None if busy is None else busy / capacity

    # Utilization over the replayed span, averaged over each of SERIES_BINS bins.
    edges = np.linspace(start, end, SERIES_BINS + 1)
    load = average_load(starts, ends, processors, edges) / capacity
    fraction = (edges[:-1] + edges[1:]) / 2
    fraction = (fraction - start) / max(end - start, 1)
    return prediction, waits, (fraction, load, "predicted")


def summarize_store(
    store: TraceStore, label: str, *, replay_policy: str | None = "easy"
) -> SystemSummary:
    """Compute every figure of the comparison for one store.

    Parameters
    ----------
    store
        The trace store.
    label
        Name of the system in tables and figures.
    replay_policy
        ``fcfs`` or ``easy`` to replay SWF stores whose wait times are unknown;
        None to leave the replay out.
    """
    summary = SystemSummary(
        label=label,
        store=store,
        processes=process_summary(store),
        scheduler=scheduler_summary(store),
        bus=message_bus(store),
        faults=fault_cells(store),
    )
    processes = store.read("processes", ["run_time_us", "scheduling_delay_us", "band"])
    summary.samples["run_time_s"] = (
        processes["run_time_us"].drop_nulls() / 1e6
    ).to_numpy()
    summary.samples["delay_s"] = scheduling_delays(processes)["delay_s"].to_numpy()

    if summary.scheduler["utilization"]["cpu"] is not None:
        series = occupancy(store)
        times = series["time_us"].to_numpy()
        span = max(int(times[-1] - times[0]), 1)
        summary.utilization_series = (
            (times - times[0]) / span,
            series["cpu_utilization"].fill_null(np.nan).to_numpy(),
            "observed",
        )
    wait_unknown = store.manifest.get("wait_time_known", {}).get("jobs", 1) == 0
    if store.source_format == "swf" and replay_policy is not None and wait_unknown:
        try:
            prediction, waits, series = predict_swf(store, replay_policy)
        except ParameterError as error:
            logger.warning("%s: no replay: %s", label, error)
        else:
            summary.prediction = prediction
            summary.samples["predicted_delay_s"] = waits
            if series is not None:
                summary.utilization_series = series
    return summary


def _labels(stores: Sequence[TraceStore], labels: Sequence[str] | None) -> list[str]:
    if labels is not None:
        if len(labels) != len(stores):
            raise ParameterError(
                f"{len(labels)} labels were given for {len(stores)} stores; give "
                "one label per store or none"
            )
        names = list(labels)
    else:
        names = [store.path.name or str(store.path) for store in stores]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _row(name: str, values: Sequence[Any], digits: int = 3) -> list[str]:
    cells = []
    for value in values:
        if isinstance(value, str):
            cells.append(value)
        else:
            cells.append(format_number(value, digits))
    return [name, *cells]


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _mapping_section(systems: Sequence[SystemSummary]) -> Section:
    columns = ["μ-OSM primitive", *(s.label for s in systems)]
    rows = []
    for position, primitive in enumerate(PRIMITIVES):
        rows.append(
            [primitive]
            + [
                NATIVE_CONCEPTS.get(s.store.source_format, ("?",) * 5)[position]
                for s in systems
            ]
        )
    rows.append(["source format", *(s.store.source_format for s in systems)])
    rows.append(
        [
            "CPU unit",
            *(s.store.manifest.get("units", {}).get("cpu", "?") for s in systems),
        ]
    )
    rows.append(
        [
            "trace window",
            *(
                "—"
                if s.bus["window_s"] is None
                else f"{s.bus['window_s'] / 86400:.2f} days"
                for s in systems
            ),
        ]
    )
    text = (
        "Each column is one system; each row says what its native concept is in "
        "μ-OSM terms. Requests and capacities stay in each trace's own unit (the "
        "CPU unit row), so compare utilizations and shapes across systems, not "
        "raw request sizes."
    )
    return Section("Mapping onto μ-OSM", [text, Table(columns, rows)])


def _process_section(systems: Sequence[SystemSummary]) -> Section:
    columns = ["figure", *(s.label for s in systems)]
    p = [s.processes for s in systems]
    rows = [
        _row("distributed processes", [x["processes"] for x in p]),
        _row("attempts", [x["attempts"] for x in p]),
        _row(
            "attempts per process, mean", [x["attempts_per_process"]["mean"] for x in p]
        ),
        _row(
            "attempts per process, max", [x["attempts_per_process"]["max"] for x in p]
        ),
        _row("process groups", [x["groups"] for x in p]),
        _row("group size, mean", [x["group_size"]["mean"] for x in p]),
        _row("group size, p50", [x["group_size"]["p50"] for x in p]),
        _row("group size, p90", [x["group_size"]["p90"] for x in p]),
        _row("group size, max", [x["group_size"]["max"] for x in p]),
        _row("run times known", [x["run_time_s"]["n"] for x in p]),
        _row("run time mean (s)", [x["run_time_s"]["mean"] for x in p]),
        _row("run time p50 (s)", [x["run_time_s"]["p50"] for x in p]),
        _row("run time p90 (s)", [x["run_time_s"]["p90"] for x in p]),
        _row("run time p99 (s)", [x["run_time_s"]["p99"] for x in p]),
        _row("CPU request per attempt, mean", [x["cpu_request"]["mean"] for x in p]),
    ]
    rows += [
        [f"attempts ending {name}", *(_share(x["outcomes"][name]) for x in p)]
        for name in OUTCOMES
    ]
    return Section(
        "Distributed processes",
        [
            "Group size is processes per group that has any. A run time is SCHEDULE "
            "to end, or the duration the trace records where it records no instants.",
            Table(columns, rows),
            Figure("run_time_cdf.png", "Attempt run times, one line per system"),
        ],
    )


def _scheduler_section(systems: Sequence[SystemSummary]) -> Section:
    columns = ["figure", *(s.label for s in systems)]
    sched = [s.scheduler for s in systems]
    rows = []
    for band in (*BAND_LABELS, "all"):
        stats = [x["delay_s"].get(band) for x in sched]
        if all(st is None or st["n"] == 0 for st in stats):
            continue
        rows.append(_row(f"delay {band}, n", [st and st["n"] for st in stats]))
        for key in ("mean", "p50", "p90", "p99"):
            rows.append(
                _row(f"delay {band}, {key} (s)", [st and st[key] for st in stats])
            )
    if not rows:
        rows.append(["delay, all bands", *("no delay observed" for _ in systems)])
    rows += [
        _row("queue length, mean", [x["queue"]["mean"] for x in sched]),
        _row("queue length, max", [x["queue"]["max"] for x in sched]),
        _row(
            "attempts with unknown pending time",
            [x["queue"]["attempts_unknown"] for x in sched],
        ),
        [
            "schedule instants known",
            *(_share(x["instants_known_share"]) for x in sched),
        ],
        ["CPU utilization, mean", *(_share(x["utilization"]["cpu"]) for x in sched)],
        [
            "memory utilization, mean",
            *(_share(x["utilization"]["memory"]) for x in sched),
        ],
    ]
    blocks: list[Any] = [
        "Delay is SUBMIT to SCHEDULE per priority band, in seconds; the queue is the "
        "number of attempts submitted and not yet placed, averaged over the window; "
        "utilization is requested CPU (memory) of running attempts over the "
        "capacity of the machines alive. A dash is a figure the trace does not "
        "record.",
        Table(columns, rows),
    ]
    predicted = [s for s in systems if s.prediction is not None]
    if predicted:
        prediction_rows = [
            ["policy", *(s.prediction["policy"].upper() for s in predicted)],
            _row(
                "machine (processors)",
                [s.prediction["capacity_processors"] for s in predicted],
            ),
            _row("jobs replayed", [s.prediction["jobs_replayed"] for s in predicted]),
            _row(
                "predicted wait, mean (s)",
                [s.prediction["wait_s"]["mean"] for s in predicted],
            ),
            _row(
                "predicted wait, p50 (s)",
                [s.prediction["wait_s"]["p50"] for s in predicted],
            ),
            _row(
                "predicted wait, p90 (s)",
                [s.prediction["wait_s"]["p90"] for s in predicted],
            ),
            _row(
                "predicted wait, p99 (s)",
                [s.prediction["wait_s"]["p99"] for s in predicted],
            ),
            _row(
                "predicted queue length, mean",
                [s.prediction["queue"]["mean"] for s in predicted],
            ),
            _row(
                "predicted queue length, max",
                [s.prediction["queue"]["max"] for s in predicted],
            ),
            [
                "predicted CPU utilization, mean",
                *(_share(s.prediction["cpu_utilization"]) for s in predicted),
            ],
        ]
        blocks += [
            "These logs record no wait times, so their scheduler was replayed on "
            "the machine's processors, each job holding its processors for its "
            "logged run time. The figures below are predictions, not observations.",
            Table(["prediction", *(s.label for s in predicted)], prediction_rows),
        ]
    blocks += [
        Figure(
            "delay_cdf.png", "Scheduling delay, observed (solid) and predicted (dashed)"
        ),
        Figure("utilization.png", "CPU utilization over each system's window"),
    ]
    return Section("Schedulers", blocks)


def _bus_section(systems: Sequence[SystemSummary]) -> Section:
    columns = ["figure", *(s.label for s in systems)]
    bus = [s.bus for s in systems]
    rows = [
        _row("events with a known time", [x["events"] for x in bus]),
        _row("of which process events", [x["process_events"] for x in bus]),
        _row("of which group events", [x["group_events"] for x in bus]),
        _row("events without a time", [x["events_unknown_time"] for x in bus]),
        _row("events per second, mean", [x["rate_per_s"] for x in bus], 4),
        _row("events in the busiest second", [x["peak_per_s"] for x in bus]),
    ]
    widths = list(bus[0]["idc"]) if bus else []
    rows += [
        _row(f"index of dispersion, T = {width} s", [x["idc"][width] for x in bus])
        for width in widths
    ]
    return Section(
        "Message bus",
        [
            "The bus carries every lifecycle event of processes and groups (task "
            "and job events in Google 2011) with a time inside the trace window, "
            "the events that muosm bus counts. The index of dispersion of counts "
            "is the variance of the number of events per bin of T seconds over its "
            "mean: 1 for a Poisson stream, larger for bursty ones.",
            Table(columns, rows),
            Figure(
                "dispersion.png",
                "Index of dispersion of event counts against bin width",
            ),
        ],
    )


def _fault_section(systems: Sequence[SystemSummary]) -> Section:
    columns = ["figure", *(s.label for s in systems)]
    f = [s.faults for s in systems]
    rows = [
        _row("fault cells (machines)", [x["cells"] for x in f]),
        _row(
            "machines with unknown capacity", [x["cells_unknown_capacity"] for x in f]
        ),
        _row("failure domains above machines", [x["domains"] for x in f]),
        _row("ADD events", [x["adds"] for x in f]),
        _row("REMOVE events", [x["removes"] for x in f]),
        _row("UPDATE events", [x["updates"] for x in f]),
        _row("machines removed at least once", [x["machines_removed"] for x in f]),
        ["share removed", *(_share(x["machines_removed_share"]) for x in f)],
        _row("machine-days up", [x["machine_days"] for x in f]),
        _row(
            "removals per 1,000 machine-days",
            [x["removals_per_1000_machine_days"] for x in f],
        ),
        _row("MTBF (h)", [x["mtbf_h"] for x in f]),
        _row("MTTR (h)", [x["mttr_h"] for x in f]),
    ]
    return Section(
        "Fault cells",
        [
            "MTBF is total machine up time over the number of removals of machines "
            "that were up, and MTTR the mean time from a removal to the machine's "
            "next ADD. The traces do not tell failures from maintenance, so both "
            "count every removal.",
            Table(columns, rows),
        ],
    )


def compare(
    stores: Sequence[TraceStore],
    *,
    labels: Sequence[str] | None = None,
    replay_policy: str | None = "easy",
) -> list[SystemSummary]:
    """Summarize several stores for a side-by-side comparison.

    Raises
    ------
    ParameterError
        If no store is given, or the labels do not match the stores.
    """
    if not stores:
        raise ParameterError("no store to compare; pass at least one trace store")
    names = _labels(stores, labels)
    return [
        summarize_store(store, name, replay_policy=replay_policy)
        for store, name in zip(stores, names, strict=True)
    ]


def write_comparison(
    stores: Sequence[TraceStore],
    destination: str | Path,
    *,
    labels: Sequence[str] | None = None,
    replay_policy: str | None = "easy",
) -> Path:
    """Write the comparison report of several stores into ``destination``.

    The report is ``index.html``, ``report.md``, PNG figures and
    ``comparison.json``. The folder is built aside and renamed into place only
    when complete, so a failure leaves an earlier report as it was.

    Returns
    -------
    pathlib.Path
        The report folder.
    """
    systems = compare(stores, labels=labels, replay_policy=replay_policy)
    title = "muosm-perf comparison: " + ", ".join(s.label for s in systems)
    colours = compare_figures.system_colours([s.label for s in systems])
    with ReportFolder(
        destination, inputs=[s.path for s in stores], kind="comparison"
    ) as folder:
        compare_figures.run_time_cdf(
            {s.label: s.samples["run_time_s"] for s in systems},
            colours,
            folder / "run_time_cdf.png",
        )
        compare_figures.delay_cdf(
            {
                s.label: s.samples["delay_s"]
                for s in systems
                if s.samples["delay_s"].size
            },
            {
                s.label: s.samples["predicted_delay_s"]
                for s in systems
                if "predicted_delay_s" in s.samples
            },
            colours,
            folder / "delay_cdf.png",
        )
        compare_figures.utilization(
            {
                s.label: s.utilization_series
                for s in systems
                if s.utilization_series is not None
            },
            colours,
            folder / "utilization.png",
        )
        compare_figures.dispersion(
            {s.label: s.bus["idc"] for s in systems}, colours, folder / "dispersion.png"
        )
        sections = [
            _mapping_section(systems),
            _process_section(systems),
            _scheduler_section(systems),
            _bus_section(systems),
            _fault_section(systems),
        ]
        (folder / "report.md").write_text(render_markdown(title, sections), "utf-8")
        (folder / "index.html").write_text(render_html(title, sections), "utf-8")
        data = {
            "tool": {"name": "muosm-perf", "version": __version__},
            "replay_policy": replay_policy,
            "systems": [s.as_json() for s in systems],
        }
        (folder / "comparison.json").write_text(json.dumps(data, indent=2), "utf-8")
    logger.info("wrote comparison of %d stores to %s", len(systems), destination)
    return Path(destination)
