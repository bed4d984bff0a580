"""Figures and the Markdown summary of a what-if study.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, without pyplot's global state, and saved as PNG.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from muosm_perf.report.document import Figure, Section, Table, format_number

logger = logging.getLogger(__name__)

DPI = 110
MAX_PANELS = 6
"""Outputs drawn per sweep figure; the others stay in the table."""


def _save(figure: MplFigure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    logger.debug("wrote figure %s", path)
    return path


def figure_file_name(parameter: str) -> str:
    """Return a PNG file name for a swept parameter path."""
    return "sweep-" + re.sub(r"[^A-Za-z0-9_-]+", "-", parameter).strip("-") + ".png"


def _is_numeric(series: pl.Series) -> bool:
    return series.dtype.is_numeric()


def plot_sweep(
    table: pl.DataFrame,
    parameter: str,
    outputs: Sequence[str],
    path: Path,
    *,
    others: Sequence[str] = (),
) -> Path:
    """Plot outputs against one swept parameter, one panel per output.

    Rows that share the values of the ``others`` swept parameters form one line;
    replicates (rows with equal parameters) are drawn as points around their mean.
    A categorical parameter (text, such as scenario names) gets bars of the means
    instead of lines.

    Parameters
    ----------
    table
        The results table of the sweep.
    parameter
        The swept parameter path on the x axis.
    outputs
        Output columns to draw (at most :data:`MAX_PANELS`).
    path
        PNG file to write.
    others
        Other swept parameter paths.
    """
    panels = [name for name in outputs if table[name].dtype.is_numeric()][:MAX_PANELS]
    columns = 2 if len(panels) > 1 else 1
    rows = max(1, math.ceil(len(panels) / columns))
    figure = MplFigure(figsize=(5.2 * columns, 3.2 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    numeric = _is_numeric(table[parameter])
    categories = table[parameter].cast(pl.String).unique(maintain_order=True).to_list()
    position = {value: i for i, value in enumerate(categories)}
    groups = (
        table.partition_by(list(others), maintain_order=True, as_dict=True)
        if others
        else {(): table}
    )
    width = 0.8 / max(1, len(groups))
    for axis, output in zip(axes, panels, strict=False):
        for number, (key, group) in enumerate(groups.items()):
            label = ", ".join(f"{o}={v}" for o, v in zip(others, key, strict=True))
            means = (
                group.group_by(parameter, maintain_order=True)
                .agg(pl.col(output).cast(pl.Float64).mean())
                .sort(parameter)
            )
            y_means = means[output].to_numpy()
            if not numeric:
                # Categories (scenario names, policies) get bars, not lines.
                # Labels as Polars writes them (true, not Python's True).
                labels = means[parameter].cast(pl.String).to_list()
                x = np.array([position[label] for label in labels])
                offset = (number - (len(groups) - 1) / 2) * width
                axis.bar(x + offset, y_means, width=width, label=label)
                continue
            x_points = group[parameter].cast(pl.Float64).to_numpy()
            x_means = means[parameter].cast(pl.Float64).to_numpy()
            y_points = group[output].cast(pl.Float64).to_numpy()
            line = axis.plot(x_means, y_means, marker="o", label=label)
            if group.height > means.height:
                axis.scatter(
                    x_points, y_points, s=10, alpha=0.5, color=line[0].get_color()
                )
        axis.set_title(output, fontsize=9)
        axis.set_xlabel(parameter)
        axis.grid(visible=True, alpha=0.3)
        if not numeric:
            axis.set_xticks(range(len(categories)), categories, rotation=20, fontsize=7)
        if others and len(groups) > 1:
            axis.legend(fontsize=7)
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(f"Outputs against {parameter}", fontsize=10)
    return _save(figure, path)


def plot_search(result: Any, path: Path) -> Path:
    """Plot a capacity search: the objective at every evaluated value.

    Points that meet the SLO are green, those that fail red; the threshold is a
    dashed line and the answer a vertical line. Pairs that contradict the
    monotonicity assumption are joined by a grey line.
    """
    points = result.points
    figure = MplFigure(figsize=(7.0, 4.2))
    axis = figure.subplots()
    x = points["value"].to_numpy()
    y = points["objective"].to_numpy()
    axis.plot(x, y, color="#999999", linewidth=1, zorder=1)
    meets = points["meets"].to_numpy()
    axis.scatter(x[meets], y[meets], color="#55a868", label="meets the SLO", zorder=2)
    axis.scatter(x[~meets], y[~meets], color="#c44e52", label="fails the SLO", zorder=2)
    axis.axhline(result.threshold, linestyle="--", color="#333333", label="threshold")
    if result.answer is not None:
        axis.axvline(
            result.answer,
            color="#4c72b0",
            label=f"answer: {format_number(result.answer)}",
        )
    for meeting, failing in result.violations:
        axis.plot(
            [meeting, failing],
            [_objective_at(points, meeting), _objective_at(points, failing)],
            color="#8172b3",
            linestyle=":",
        )
    positive = y[np.isfinite(y) & (y > 0)]
    if positive.size and positive.max() / max(positive.min(), 1e-9) > 100:
        axis.set_yscale("symlog", linthresh=max(result.threshold / 10, 1e-3))
    if y.size and np.nanmin(y) >= 0:
        axis.set_ylim(bottom=0)
    axis.set_xlabel(result.parameter.replace("_", " "))
    axis.set_ylabel(result.objective)
    axis.grid(visible=True, alpha=0.3)
    axis.legend(fontsize=8)
    title = "fewest machines" if result.goal == "min" else "largest load"
    axis.set_title(
        f"Capacity search, {title} with {result.objective} <= {result.threshold:g}"
        + ("" if result.monotone else " (not monotone)"),
        fontsize=10,
    )
    return _save(figure, path)


def _objective_at(points: pl.DataFrame, value: float) -> float:
    return float(points.filter(pl.col("value") == value)["objective"][0])


def _cell(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format_number(value)
    return "—" if value is None else str(value)


def results_section(table: pl.DataFrame, columns: Sequence[str]) -> Section:
    """Return a section with the results table, the given columns only."""
    rows = [[_cell(row[c]) for c in columns] for row in table.iter_rows(named=True)]
    return Section("Results", [Table(list(columns), rows)])


def search_section(result: Any, figure_file: str | None) -> Section:
    """Return a section describing a capacity search and its outcome."""
    goal = "fewest machines" if result.goal == "min" else "largest load factor"
    blocks: list[Any] = [
        f"Search for the {goal} with `{result.objective}` at or below "
        f"{result.threshold:g}, between {format_number(result.low)} and "
        f"{format_number(result.high)}, by bisection over "
        f"{result.points.height} replays.",
    ]
    if result.status == "none_meet":
        blocks.append("No value in the range meets the objective.")
    elif result.status == "all_meet":
        blocks.append(
            f"Every value tested meets the objective, even the bound "
            f"{format_number(result.answer)}; widen the range to find the limit."
        )
    else:
        blocks.append(f"Answer: **{format_number(result.answer)}**.")
    if result.monotone:
        blocks.append("Every evaluated point agrees with the monotonicity assumption.")
    else:
        pairs = ", ".join(
            f"{format_number(a)} meets but {format_number(b)} fails"
            for a, b in result.violations[:5]
        )
        blocks.append(
            "The evaluated points contradict the monotonicity assumption ("
            + pairs
            + f"); the answer given is the conservative one, the bisection's "
            f"crossing was {format_number(result.bisection_answer)}."
        )
    blocks += list(result.notes)
    rows = [
        [
            format_number(row["value"]),
            format_number(row["objective"]),
            "yes" if row["meets"] else "no",
            str(row["round"]),
        ]
        for row in result.points.iter_rows(named=True)
    ]
    blocks.append(Table([result.parameter, result.objective, "meets", "round"], rows))
    if figure_file is not None:
        blocks.append(Figure(figure_file, "Objective at every evaluated value"))
    return Section("Capacity search", blocks)


def overview_section(facts: Mapping[str, Any]) -> Section:
    """Return a section listing the study's facts (base, runner, seeds, timing)."""
    rows = [[key, _cell(value)] for key, value in facts.items()]
    return Section("Study", [Table(["fact", "value"], rows)])
