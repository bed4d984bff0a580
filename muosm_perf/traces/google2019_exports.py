"""Export files of the Google 2019 trace tables, brought into one raw layout.

The trace is published as BigQuery tables; a local copy is an export of them, in one
of three formats:

- newline-delimited JSON (``.json``, ``.json.gz``): BigQuery writes every 64-bit
  integer as a JSON string (``"time":"9223372036854775807"``), floats as numbers,
  omits absent fields, and nests ``resource_request``-like structs and repeated
  fields as objects and arrays;
- CSV with a header row (``.csv``, ``.csv.gz``): a struct is either flattened into
  ``name.member`` or ``name_member`` columns or given as one column of JSON text,
  and a repeated field is a column of JSON array text (``["1","2"]`` or ``[1,2]``);
- Parquet (``.parquet``): native integers, floats, structs and lists.

Every reader here returns the raw layout of :mod:`muosm_perf.traces._records`, with
strings at every leaf (the exact decimal text of each number). ``line`` is the line
of a JSON or CSV file or the 1-based row of a Parquet file, ``raw`` the record's
text, and ``_reason`` why a record could not be decoded (null when it could).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import polars as pl

from muosm_perf.errors import TraceFormatError
from muosm_perf.traces._records import (
    CONSTRAINT_MEMBERS,
    RESOURCE_MEMBERS,
    RecordField,
    RecordSpec,
)

logger = logging.getLogger(__name__)

ExportFormat = Literal["json", "csv", "parquet"]

EXPORT_SUFFIXES: dict[str, ExportFormat] = {
    ".json": "json",
    ".json.gz": "json",
    ".ndjson": "json",
    ".ndjson.gz": "json",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
}
"""File name endings of each export format."""


def export_format(path: Path) -> ExportFormat | None:
    """Return the export format of a file from its name, or None if it has none."""
    name = path.name.lower()
    for suffix in sorted(EXPORT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return EXPORT_SUFFIXES[suffix]
    return None


def read_export(path: Path, spec: RecordSpec, *, label: str) -> pl.DataFrame:
    """Read one export file of a table into the raw layout.

    Raises
    ------
    TraceFormatError
        If the file is empty, cannot be decompressed or decoded, or is a CSV file
        without any column of the table.
    """
    if path.stat().st_size == 0:
        raise TraceFormatError(
            label, "the file is empty (0 bytes); export the table again or remove it"
        )
    kind = export_format(path)
    try:
        if kind == "json":
            return _read_json(path, spec)
        if kind == "csv":
            return _read_csv(path, spec, label)
        if kind == "parquet":
            return _read_parquet(path, spec)
    except (OSError, pl.exceptions.ComputeError) as error:
        raise TraceFormatError(
            label,
            f"cannot read the file as {kind} ({_first_line(error)}); it may be "
            "truncated or of another format: export it again",
        ) from error
    raise TraceFormatError(
        label,
        "unknown export format; expected a name ending in "
        + ", ".join(sorted(EXPORT_SUFFIXES)),
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def decode_json(texts: pl.Series, dtype: pl.DataType) -> tuple[pl.Series, pl.Series]:
    """Decode JSON texts with an explicit type, isolating the texts that fail.

    Polars decodes a whole column at once and fails on the first bad text; on a
    failure the column is split in halves until each bad text is alone, so a
    column with ``k`` bad texts of ``n`` takes about ``k log2 n`` extra decodes.

    Returns
    -------
    tuple of (polars.Series, polars.Series)
        The decoded values (null where decoding failed) and the error message of
        each text (null where it succeeded).
    """
    if texts.len() == 0:
        return (
            pl.Series(texts.name, [], dtype=dtype),
            pl.Series("error", [], dtype=pl.String),
        )
    try:
        decoded = texts.str.json_decode(dtype)
    except pl.exceptions.ComputeError as error:
        if texts.len() == 1:
            message = _first_line(error).removeprefix("error deserializing JSON: ")
            return (
                pl.Series(texts.name, [None], dtype=dtype),
                pl.Series("error", [message], dtype=pl.String),
            )
        half = texts.len() // 2
        first_values, first_errors = decode_json(texts.slice(0, half), dtype)
        rest_values, rest_errors = decode_json(texts.slice(half), dtype)
        return first_values.append(rest_values), first_errors.append(rest_errors)
    return decoded, pl.Series("error", [None] * texts.len(), dtype=pl.String)


def _read_json(path: Path, spec: RecordSpec) -> pl.DataFrame:
    lines = (
        pl.scan_csv(
            path,
            has_header=False,
            schema={"raw": pl.String},
            separator="\x1f",
            quote_char=None,
            encoding="utf8-lossy",
        )
        .with_row_index("line", offset=1)
        .collect()
    )
    text = lines["raw"]
    blank = text.is_null() | (text.str.strip_chars() == "")
    broken = text.str.contains("\ufffd", literal=True).fill_null(value=False)
    to_decode = text.set(blank | broken, None).fill_null("{}")
    records, errors = decode_json(to_decode, spec.raw_struct)
    reason = (
        pl.when(blank)
        .then(pl.lit("empty line"))
        .when(broken)
        .then(pl.lit("invalid UTF-8"))
        .when(errors.is_not_null())
        .then(pl.format("invalid JSON record: {}", errors))
        .when(records.is_null())
        .then(pl.lit("not a JSON object"))
    )
    frame = pl.DataFrame(
        {
            "line": lines["line"].cast(pl.Int64),
            "raw": text,
            "_reason": pl.select(reason).to_series(),
            "_record": records,
        }
    )
    return frame.unnest("_record").select(
        "line", "raw", pl.col("_reason").cast(pl.String), *spec.raw_schema
    )


def _csv_struct(
    frame: pl.DataFrame, spec_field: RecordField, members: tuple[str, ...]
) -> pl.Expr:
    """Rebuild a struct from ``name.member`` or ``name_member`` columns."""
    parts = []
    for member in members:
        for candidate in (f"{spec_field.name}.{member}", f"{spec_field.name}_{member}"):
            if candidate in frame.columns:
                parts.append(pl.col(candidate).alias(member))
                break
        else:
            parts.append(pl.lit(None, dtype=pl.String).alias(member))
    present = pl.any_horizontal(
        *((p.is_not_null() & (p != "")).fill_null(value=False) for p in parts)
    )
    return pl.when(present).then(pl.struct(parts))


def _read_csv(path: Path, spec: RecordSpec, label: str) -> pl.DataFrame:
    table = pl.read_csv(path, has_header=True, infer_schema=False)
    known = set()
    columns: dict[str, pl.Series] = {}
    errors: list[pl.Series] = []
    for spec_field in spec.fields:
        name = spec_field.name
        dtype = spec_field.raw_dtype
        if spec_field.kind in ("int", "float", "bool", "string"):
            if name in table.columns:
                known.add(name)
                columns[name] = table[name]
            else:
                columns[name] = pl.Series(name, [None] * table.height, dtype=dtype)
            continue
        if name in table.columns:
            known.add(name)
            text = table[name].set(table[name] == "", None)
            values, failures = decode_json(text.fill_null("null"), dtype)
            columns[name] = values.alias(name)
            errors.append(
                pl.select(
                    pl.when(failures.is_not_null()).then(
                        pl.format(
                            "invalid JSON in column {}: {}", pl.lit(name), failures
                        )
                    )
                ).to_series()
            )
            continue
        members = RESOURCE_MEMBERS if spec_field.kind == "resources" else ()
        flattened = [
            c for m in members for c in (f"{name}.{m}", f"{name}_{m}") if c in table
        ]
        known.update(flattened)
        if flattened:
            columns[name] = table.select(
                _csv_struct(table, spec_field, members).alias(name)
            ).to_series()
        else:
            columns[name] = pl.Series(name, [None] * table.height, dtype=dtype)
    if table.width and not known:
        raise TraceFormatError(
            label,
            f"no column of table {spec.name} in the header ({', '.join(table.columns)})"
            f"; expected names such as {', '.join(f.name for f in spec.fields[:4])}",
        )
    ignored = sorted(set(table.columns) - known)
    if ignored:
        logger.debug("%s: columns not read: %s", label, ", ".join(ignored))
    reason = (
        pl.select(pl.coalesce(errors)).to_series()
        if errors
        else pl.Series([None] * table.height, dtype=pl.String)
    )
    raw = table.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    return pl.DataFrame(
        {
            "line": pl.int_range(2, table.height + 2, dtype=pl.Int64, eager=True),
            "raw": raw,
            "_reason": reason.cast(pl.String),
            **{
                name: series.cast(spec.raw_schema[name])
                for name, series in columns.items()
            },
        }
    )


def _to_raw(column: pl.Expr, spec_field: RecordField, source: pl.DataType) -> pl.Expr:
    """Convert a native Parquet column into the raw layout of its field."""
    if spec_field.kind in ("int", "float", "bool", "string"):
        return column.cast(pl.String)
    if spec_field.kind == "resources":
        names = [f.name for f in source.fields] if isinstance(source, pl.Struct) else []
        members = [
            column.struct.field(m).cast(pl.String).alias(m)
            if m in names
            else pl.lit(None, dtype=pl.String).alias(m)
            for m in RESOURCE_MEMBERS
        ]
        return pl.when(column.is_not_null()).then(pl.struct(members))
    if spec_field.kind in ("int_list", "float_list"):
        return column.list.eval(pl.element().cast(pl.String))
    inner = source.inner if isinstance(source, pl.List) else None
    names = [f.name for f in inner.fields] if isinstance(inner, pl.Struct) else []
    members = [
        pl.element().struct.field(m).cast(pl.String).alias(m)
        if m in names
        else pl.lit(None, dtype=pl.String).alias(m)
        for m in CONSTRAINT_MEMBERS
    ]
    return column.list.eval(pl.struct(members))


def _read_parquet(path: Path, spec: RecordSpec) -> pl.DataFrame:
    table = pl.read_parquet(path)
    expressions = []
    for spec_field in spec.fields:
        if spec_field.name in table.columns:
            expressions.append(
                _to_raw(
                    pl.col(spec_field.name), spec_field, table.schema[spec_field.name]
                )
                .cast(spec_field.raw_dtype)
                .alias(spec_field.name)
            )
        else:
            expressions.append(
                pl.lit(None, dtype=spec_field.raw_dtype).alias(spec_field.name)
            )
    raw = pl.struct(pl.all()).struct.json_encode().alias("raw")
    return table.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line"),
        raw,
        pl.lit(None, dtype=pl.String).alias("_reason"),
        *expressions,
    )
