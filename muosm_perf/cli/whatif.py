"""``muosm whatif SCENARIO.toml -o DIR``: run a what-if study from a scenario file.

Output folder, written aside and renamed into place when complete::

    DIR/
      results.parquet, results.csv   one row per scenario: parameters, seed, outputs
      sweep-PARAMETER.png            outputs against each swept parameter
      scenarios.png                  outputs per scenario, for a list without a sweep
      search.png, search.json        the capacity search, when the file has one
      summary.md                     what was run, the results, the search
      run.json                       inputs, runner, versions and timing
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from muosm_perf.report.document import Figure, ReportFolder, Section, render_markdown
from muosm_perf.report.whatif import (
    figure_file_name,
    overview_section,
    plot_search,
    plot_sweep,
    results_section,
    search_section,
)
from muosm_perf.traces import registry
from muosm_perf.whatif.scenario_file import ScenarioFile, load_scenario_file
from muosm_perf.whatif.study import StudyResult, resolve_base, run_study

SCENARIOS_FIGURE = "scenarios.png"
"""Figure of a study with a list of scenarios and no sweep: outputs per scenario."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``whatif`` subcommand."""
    parser = subparsers.add_parser(
        "whatif",
        help="run a what-if study (scenarios, sweeps, capacity search) from a file",
        description=(
            "Replay the scenarios of a TOML scenario file on its base store and "
            "write the results table, figures and a summary into DIR (replaced "
            "only when complete). See docs/whatif.md for the file format."
        ),
    )
    parser.add_argument("scenario", metavar="SCENARIO.toml", help="scenario file")
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="output folder"
    )

    # The base, replacing the file's.
    parser.add_argument(
        "--store", metavar="STORE", help="base trace store; replaces the file's base"
    )
    parser.add_argument(
        "--trace",
        metavar="TRACE_DIR",
        help="base trace folder, ingested into a temporary store; replaces the "
        "file's base",
    )
    parser.add_argument(
        "--format",
        choices=sorted(registry.READERS),
        help="trace format of --trace (default: the file's base.format)",
    )

    # Where the scenarios run.
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes, or workers of a local Dask cluster (default: every "
        "CPU; 0 runs in this process, or one worker with --dask local)",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster: 'local' starts one on 127.0.0.1, or give a "
        "scheduler address such as tcp://HOST:8786",
    )

    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show progress bars"
    )
    parser.set_defaults(handler=handle)


def write_outputs(study: ScenarioFile, result: StudyResult, folder: Path) -> None:
    """Write the results table, figures, summary and records into ``folder``."""
    sections = [overview_section(result.facts)]
    if study.description:
        sections[0].blocks.insert(0, study.description)
    table = result.table
    if table is None and result.search is not None:
        table = result.search.table
    outputs = list(study.evaluation.outputs)

    if table is not None:
        table.write_parquet(folder / "results.parquet")
        table.write_csv(folder / "results.csv")
        columns = ["scenario", *(p for p in study.swept), *outputs]
        sections.append(results_section(table, columns))

    if result.table is not None and study.swept:
        figures = []
        for parameter in study.swept:
            others = [p for p in study.swept if p != parameter]
            name = figure_file_name(parameter)
            plot_sweep(result.table, parameter, outputs, folder / name, others=others)
            figures.append(name)
        sections.append(_figures_section(figures, study.swept))
    elif result.table is not None and result.table.height > 1:
        plot_sweep(result.table, "scenario", outputs, folder / SCENARIOS_FIGURE)
        sections.append(_figures_section([SCENARIOS_FIGURE], ("scenario",)))

    if result.search is not None:
        plot_search(result.search, folder / "search.png")
        _write_json(folder / "search.json", result.search.as_dict())
        sections.append(search_section(result.search, "search.png"))
    _write_json(folder / "run.json", result.facts)
    title = f"What-if study: {study.name}"
    (folder / "summary.md").write_text(render_markdown(title, sections), "utf-8")


def _figures_section(files: list[str], parameters: tuple[str, ...]) -> Section:
    blocks = [
        Figure(file, f"Outputs against {parameter}")
        for file, parameter in zip(files, parameters, strict=True)
    ]
    return Section("Figures", blocks)


def quiet_dask_logging(verbosity: int) -> None:
    """Show Dask's log records only with ``-vv``.

    Importing ``distributed`` sets its loggers to INFO from Dask's configuration,
    and their records reach the command's handler; so import it, then lower them.
    """
    import distributed  # noqa: F401, PLC0415 - an optional dependency

    level = logging.DEBUG if verbosity >= 2 else logging.WARNING
    logging.getLogger("distributed").setLevel(level)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", "utf-8")


def _inputs(args: argparse.Namespace, study: ScenarioFile) -> list[Path]:
    """Return the paths the study reads, which the output folder must not hold."""
    paths = [args.scenario, args.store, args.trace, study.base.store, study.base.trace]
    return [Path(path) for path in paths if path is not None]


def _trace_base(args: argparse.Namespace, study: ScenarioFile) -> Path | None:
    """Return the trace folder the base store is ingested from, if any."""
    if args.store is not None:
        return None
    if args.trace is not None:
        return Path(args.trace)
    if study.base.store is None and study.base.trace is not None:
        return Path(study.base.trace)
    return None


def handle(args: argparse.Namespace) -> int:
    """Run the study and write its outputs; errors propagate to ``main``."""
    study = load_scenario_file(args.scenario)
    progress = not args.no_progress
    if args.dask:
        quiet_dask_logging(args.verbose)
    with (
        tempfile.TemporaryDirectory(prefix="muosm-whatif-") as scratch,
        ReportFolder(
            args.output, inputs=_inputs(args, study), kind="what-if study"
        ) as folder,
    ):
        store = resolve_base(
            study.base,
            store=args.store,
            trace=args.trace,
            source_format=args.format,
            ingest_into=Path(scratch) / "store",
            progress=progress,
        )
        result = run_study(
            study, store, workers=args.workers, dask=args.dask, progress=progress
        )
        trace = _trace_base(args, study)
        if trace is not None:
            result.facts["trace"] = str(trace)
            result.facts["store"] = "ingested from the trace for this run, not kept"
        write_outputs(study, result, folder)
    output = Path(args.output)
    if args.json:
        report = {
            "output": str(output),
            "facts": result.facts,
            "results": [] if result.table is None else result.table.to_dicts(),
            "search": None if result.search is None else result.search.as_dict(),
        }
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_text(study, result, output)
    return 0


def _print_text(study: ScenarioFile, result: StudyResult, output: Path) -> None:
    if result.table is not None:
        columns = ["scenario", *study.evaluation.outputs]
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60):
            print(result.table.select(columns))
    if result.search is not None:
        found = result.search
        print(
            f"{found.parameter} search ({found.objective} <= {found.threshold:g}): "
            f"{found.status}, answer {found.answer}"
            + ("" if found.monotone else " (not monotone: conservative answer)")
        )
    print(f"wrote {output / 'summary.md'} and {output / 'results.parquet'}")
