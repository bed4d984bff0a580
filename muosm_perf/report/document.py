"""A small document model rendered to both Markdown and HTML.

A report is a title and a list of sections; a section holds paragraphs, tables and
figures. Rendering both formats from one model keeps them saying the same thing.
"""

from __future__ import annotations

import html
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from muosm_perf.model.store import check_replaceable, replace_directory, write_marker

MARKER = ".muosm-output"
"""File that marks a folder as written by muosm-perf, so it may be replaced."""


@dataclass
class Table:
    """A table of preformatted cells; the first column is a row label."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass
class Figure:
    """A PNG file in the report folder and its caption."""

    file: str
    caption: str


@dataclass
class Section:
    """A titled part of a report."""

    title: str
    blocks: list[str | Table | Figure] = field(default_factory=list)


def format_number(value: float | int | None, digits: int = 3) -> str:
    """Format a figure for a table: thousands separators, ``—`` for a null."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """Render the report as GitHub-flavoured Markdown."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append(
                    "| " + " | ".join(map(_markdown_cell, block.columns)) + " |"
                )
                lines.append("|" + "|".join(" --- " for _ in block.columns) + "|")
                for row in block.rows:
                    lines.append("| " + " | ".join(map(_markdown_cell, row)) + " |")
            elif isinstance(block, Figure):
                lines.append(f"![{block.caption}]({block.file})")
                lines.append("")
                lines.append(f"*{block.caption}*")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9rem; color: #555; }
code { background: #f5f5f5; padding: 0 0.2rem; }
"""


def render_html(title: str, sections: Sequence[Section]) -> str:
    """Render the report as one self-contained HTML page (figures are linked)."""
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<section><h2>{escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                header = "".join(f"<th>{escape(c)}</th>" for c in block.columns)
                body = "".join(
                    "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                    for row in block.rows
                )
                parts.append(
                    f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
                )
            elif isinstance(block, Figure):
                parts.append(
                    f'<figure><img src="{escape(block.file)}" '
                    f'alt="{escape(block.caption)}"><figcaption>'
                    f"{escape(block.caption)}</figcaption></figure>"
                )
            else:
                parts.append(f"<p>{_inline_code(escape(block))}</p>")
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _inline_code(text: str) -> str:
    """Turn `backticked` spans of escaped text into <code> elements."""
    pieces = text.split("`")
    for i in range(1, len(pieces), 2):
        pieces[i] = f"<code>{pieces[i]}</code>"
    return "".join(pieces)


class ReportFolder:
    """A report folder written atomically: built aside, then renamed into place.

    Use as a context manager; ``path`` is the folder to write figures into while
    the report is built. On an exception the partial folder is removed and the
    destination keeps its earlier content.

    Raises
    ------
    OutputError
        If the destination is a file, a folder with files that muosm-perf did not
        write (no marker file), or a folder that contains one of ``inputs``, the
        paths the report is made from.
    """

    def __init__(
        self,
        destination: str | Path,
        *,
        inputs: Sequence[str | Path] = (),
        kind: str = "report",
    ) -> None:
        self.destination = Path(destination)
        self.path: Path | None = None
        self.kind = kind
        check_replaceable(self.destination, MARKER, inputs, kind=kind)

    def __enter__(self) -> Path:
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(
            tempfile.mkdtemp(
                prefix=f".{self.destination.name}.tmp-", dir=self.destination.parent
            )
        )
        return self.path

    def __exit__(self, exc_type, exc, traceback) -> None:
        assert self.path is not None
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        write_marker(self.path, MARKER, self.kind)
        self.path.chmod(0o755)
        replace_directory(self.path, self.destination)
