"""Headerless CSV shards read with an explicit schema, row by row validation.

Each line is scanned lazily as one string (no type inference, no quoting: the trace
formats read here have no quoted fields), split on commas, and every field is parsed
with the type its table specification gives. A line that fails any check is not
dropped: it goes to the quarantine table with the file, the 1-based line number, the
column, the value and the reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from muosm_perf.errors import TraceFormatError
from muosm_perf.model import schema

logger = logging.getLogger(__name__)

FieldKind = Literal["int", "float", "string", "bool01"]

_DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "string": pl.String(),
    "bool01": pl.Boolean(),
}


@dataclass(frozen=True)
class Field:
    """One column of a headerless CSV table.

    Parameters
    ----------
    name
        Column name in the parsed frame.
    kind
        ``int`` (Int64), ``float`` (finite Float64), ``string`` or ``bool01`` (the
        text 0 or 1).
    mandatory
        Whether an empty field rejects the row.
    allowed
        For ``int`` columns, the only values accepted.
    minimum
        For numeric columns, the smallest value accepted.
    """

    name: str
    kind: FieldKind
    mandatory: bool = False
    allowed: frozenset[int] | None = None
    minimum: float | None = None


@dataclass(frozen=True)
class TableSpec:
    """The columns of one headerless CSV table, in file order."""

    name: str
    fields: tuple[Field, ...]
    patterns: tuple[str, ...] = field(default=("*.csv.gz", "*.csv"))

    @property
    def width(self) -> int:
        """Number of comma-separated fields in a valid line."""
        return len(self.fields)


@dataclass
class ShardResult:
    """Rows of one file: parsed rows that passed every check, and rejected ones."""

    accepted: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def list_shards(folder: Path, spec: TableSpec) -> list[Path]:
    """List the files of a table folder that match the table's name patterns."""
    found: set[Path] = set()
    for pattern in spec.patterns:
        found.update(p for p in folder.glob(pattern) if p.is_file())
    return sorted(found)


def _check_expr(spec_field: Field, raw: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """Build the rejection reason of one field: null when the value is valid."""
    empty = raw.is_null() | (raw == "")
    checks: list[tuple[pl.Expr, str]] = []
    if spec_field.mandatory:
        checks.append((empty, "missing mandatory value"))
    if spec_field.kind == "int":
        checks.append(
            (
                ~empty & parsed.is_null(),
                "invalid integer (expected a signed 64-bit integer)",
            )
        )
    elif spec_field.kind == "float":
        checks.append((~empty & parsed.is_null(), "invalid number"))
        checks.append((~empty & parsed.is_infinite(), "not a finite number"))
        checks.append((~empty & parsed.is_nan(), "not a finite number"))
    elif spec_field.kind == "bool01":
        checks.append((~empty & parsed.is_null(), "invalid boolean (expected 0 or 1)"))
    if spec_field.allowed is not None:
        allowed = sorted(spec_field.allowed)
        shown = ", ".join(str(v) for v in allowed)
        checks.append(
            (
                parsed.is_not_null() & ~parsed.is_in(allowed),
                f"unknown code (expected one of {shown})",
            )
        )
    if spec_field.minimum is not None:
        checks.append(
            (
                parsed.is_not_null() & (parsed < spec_field.minimum),
                f"below the minimum {spec_field.minimum:g}",
            )
        )
    reason = pl.lit(None, dtype=pl.String)
    for condition, text in reversed(checks):
        reason = pl.when(condition).then(pl.lit(text)).otherwise(reason)
    return reason


def _parse_expr(spec_field: Field, raw: pl.Expr) -> pl.Expr:
    text = pl.when(raw == "").then(None).otherwise(raw)
    if spec_field.kind == "bool01":
        return (
            pl.when(text == "1")
            .then(pl.lit(True))
            .when(text == "0")
            .then(pl.lit(False))
            .otherwise(None)
        )
    if spec_field.kind == "string":
        return text
    return text.cast(_DTYPES[spec_field.kind], strict=False)


def read_shard(path: Path, spec: TableSpec, *, label: str | None = None) -> ShardResult:
    """Read and validate one headerless CSV file (plain or gzip-compressed).

    Parameters
    ----------
    path
        The file.
    spec
        Its columns.
    label
        Name of the file in quarantine rows and messages; defaults to ``path``.

    Returns
    -------
    ShardResult
        ``accepted`` has the spec's columns typed, plus ``line`` (UInt32, 1-based);
        ``rejected`` has the quarantine schema.

    Raises
    ------
    TraceFormatError
        If the file is empty (0 bytes) or cannot be decompressed or decoded.
    """
    label = label or str(path)
    if path.stat().st_size == 0:
        raise TraceFormatError(
            label, "the file is empty (0 bytes); download it again or remove it"
        )

    lines = pl.scan_csv(
        path,
        has_header=False,
        schema={"raw": pl.String},
        separator="\x1f",
        quote_char=None,
        encoding="utf8-lossy",
    ).with_row_index("line", offset=1)

    raw_names = [f"_raw{i}" for i in range(spec.width)]
    raw = pl.col("raw")
    split = (
        raw.str.split_exact(",", spec.width - 1)
        .struct.rename_fields(raw_names)
        .alias("_fields")
    )
    parsed = [
        _parse_expr(f, pl.col(r)).alias(f.name)
        for f, r in zip(spec.fields, raw_names, strict=True)
    ]
    field_count = raw.str.count_matches(",", literal=True) + 1

    # The first failing check of a line names its reason, column and value.
    reason = pl.lit(None, dtype=pl.String)
    column = pl.lit(None, dtype=pl.String)
    value = pl.lit(None, dtype=pl.String)
    for number in range(spec.width, 0, -1):
        spec_field = spec.fields[number - 1]
        field_reason = _check_expr(
            spec_field, pl.col(raw_names[number - 1]), pl.col(spec_field.name)
        )
        failed = field_reason.is_not_null()
        reason = pl.when(failed).then(field_reason).otherwise(reason)
        column = (
            pl.when(failed)
            .then(pl.lit(f"{spec_field.name} (field {number})"))
            .otherwise(column)
        )
        value = pl.when(failed).then(pl.col(raw_names[number - 1])).otherwise(value)
    line_checks = [
        (raw.is_null(), "empty line"),
        (raw.str.contains("\ufffd", literal=True), "invalid UTF-8"),
        (
            field_count != spec.width,
            pl.format(
                "expected {} comma-separated fields, found {}",
                pl.lit(spec.width),
                field_count,
            ),
        ),
    ]
    for condition, text in reversed(line_checks):
        text_expr = pl.lit(text) if isinstance(text, str) else text
        reason = pl.when(condition).then(text_expr).otherwise(reason)
        column = (
            pl.when(condition).then(pl.lit(None, dtype=pl.String)).otherwise(column)
        )
        value = pl.when(condition).then(pl.lit(None, dtype=pl.String)).otherwise(value)

    try:
        frame = (
            lines.with_columns(split)
            .unnest("_fields")
            .with_columns(parsed)
            .with_columns(
                reason.alias("_reason"), column.alias("_column"), value.alias("_value")
            )
            .collect()
        )
    except (OSError, pl.exceptions.ComputeError) as error:
        raise TraceFormatError(
            label,
            f"cannot read the file ({error}); it may be truncated or not "
            f"{'gzip-compressed ' if path.suffix == '.gz' else ''}CSV: download "
            "it again",
        ) from error

    bad = frame.filter(pl.col("_reason").is_not_null())
    rejected = bad.select(
        pl.lit(spec.name).alias("table"),
        pl.lit(label).alias("file"),
        pl.col("line").cast(pl.Int64),
        pl.col("_column").alias("column"),
        pl.col("_value").alias("value"),
        pl.col("_reason").alias("reason"),
        pl.col("raw"),
    )
    accepted = frame.filter(pl.col("_reason").is_null()).select(
        ["line", *(f.name for f in spec.fields)]
    )
    if frame.height == 0:
        logger.warning("%s: the file contains no rows", label)
    if rejected.height:
        first = rejected.row(0, named=True)
        logger.warning(
            "%s: %d of %d rows rejected; first at line %d%s: %s",
            label,
            rejected.height,
            frame.height,
            first["line"],
            f", column {first['column']}, value {first['value']!r}"
            if first["column"]
            else "",
            first["reason"],
        )
    return ShardResult(
        accepted=accepted,
        rejected=rejected.cast(dict(schema.QUARANTINE)),
        rows_read=frame.height,
    )


def check_rejected_share(
    label: str, result: ShardResult, max_rejected_fraction: float
) -> None:
    """Raise when a file has more rejected rows than ``max_rejected_fraction``.

    A file that is mostly rejected is almost always the wrong table or format, and
    quarantining all of it would hide that.
    """
    if result.rows_read == 0 or result.rejected.height == 0:
        return
    share = result.rejected.height / result.rows_read
    if share <= max_rejected_fraction:
        return
    first = result.rejected.row(0, named=True)
    raise TraceFormatError(
        label,
        f"{result.rejected.height} of {result.rows_read} rows ({share:.1%}) are "
        f"invalid, more than the limit of {max_rejected_fraction:.1%}; the first: "
        f"{first['reason']}. Check that the file belongs to this table and format, "
        "or raise the limit (--max-rejected-fraction) to quarantine them",
        line=first["line"],
        column=first["column"],
        value=first["value"],
    )


def describe_fields(fields: Iterable[Field]) -> str:
    """Return the comma-separated column names, for messages."""
    return ", ".join(f.name for f in fields)
