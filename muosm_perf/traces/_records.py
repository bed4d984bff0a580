"""Typed fields of nested trace records, parsed from text with row-by-row validation.

Readers first bring every file into one *raw* layout, whatever its format (JSON,
CSV or Parquet exports of Google 2019, headerless CSV of Alibaba 2018, SWF lines).
The layout has a column per field whose leaves are strings: the exact text of each
number, structs of strings for resource pairs, lists of strings for repeated fields.
Beside them are ``line`` (the 1-based line or row number), ``raw`` (the record's
text) and ``_reason`` (set where the record could not even be decoded).
:func:`validate_records` then parses every leaf with the type its field
specification gives. Integers are parsed from their decimal text, never
through a float, so every 64-bit value is exact. A record that fails a check is not
dropped: it goes to the quarantine table with the column, the value and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

import polars as pl

from muosm_perf.model import schema
from muosm_perf.traces._csv import ShardResult

logger = logging.getLogger(__name__)

RecordKind = Literal[
    "int",
    "float",
    "seconds",
    "numbered_id",
    "bool",
    "string",
    "resources",
    "int_list",
    "float_list",
    "constraints",
]

RESOURCE_MEMBERS = ("cpus", "memory")
"""Members of a resources struct (CPU in NCUs, memory normalized)."""

CONSTRAINT_MEMBERS = ("name", "value", "relation")
"""Members of a machine constraint."""

CONSTRAINT_DTYPE = pl.List(
    pl.Struct({"name": pl.String, "value": pl.String, "relation": pl.Int8})
)
"""Parsed type of a list of machine constraints."""

CONSTRAINT_RELATIONS = frozenset(range(8))
"""Relation codes of a machine constraint: EQUAL (0) to NOT_PRESENT (7)."""

_SCALAR_KINDS = ("int", "float", "seconds", "numbered_id", "bool", "string")
_NUMBERED_ID = r"^[A-Za-z]+_(\d{1,18})$"

MAX_SECONDS = (2**63 - 1) // 1_000_000
"""Largest whole number of seconds whose microseconds fit a signed 64-bit integer."""


@dataclass(frozen=True)
class RecordField:
    """One field of a nested record.

    Parameters
    ----------
    name
        Field name in the record (and column name in the parsed frame; a
        ``resources`` field gives two columns, ``<name>_cpus`` and
        ``<name>_memory``).
    kind
        One of:

        - ``int``: exact Int64;
        - ``float``: finite Float64;
        - ``seconds``: a time in seconds, whole or fractional, parsed into Int64
          microseconds (whole seconds exactly, fractions rounded to the nearest
          microsecond);
        - ``numbered_id``: a name such as ``m_1932`` (letters, an underscore and up
          to 18 digits), parsed into its Int64 number;
        - ``bool``: ``true``, ``false``, ``1`` or ``0``;
        - ``string``;
        - ``resources``: a struct of ``cpus`` and ``memory``;
        - ``int_list``: a repeated integer, where an absent field is an empty list;
        - ``float_list``: a repeated float of exactly ``length`` values, where an
          absent or empty field is null;
        - ``constraints``: a repeated struct of ``name``, ``value`` and
          ``relation``.
    mandatory
        Whether an absent field rejects the record.
    allowed
        For ``int`` fields, the only values accepted.
    minimum, maximum
        For ``int``, ``float`` and ``seconds`` fields (and the members of
        ``resources``), the range accepted, in the field's unit (seconds for
        ``seconds`` fields).
    length
        For ``float_list`` fields, the number of values of a present list.
    missing
        For ``int``, ``float`` and ``seconds`` fields, values that a trace uses to
        mark a missing or invalid measurement (such as -1 and 101 on a 0-100
        scale): they become null and are counted, and the record is kept.
    choices
        For ``string`` fields, the only values accepted.
    """

    name: str
    kind: RecordKind
    mandatory: bool = False
    allowed: frozenset[int] | None = None
    minimum: float | None = None
    maximum: float | None = None
    length: int | None = None
    missing: frozenset[float] | None = None
    choices: frozenset[str] | None = None

    @property
    def raw_dtype(self) -> pl.DataType:
        """Type of the field in the raw layout: strings at every leaf."""
        if self.kind in _SCALAR_KINDS:
            return pl.String()
        if self.kind == "resources":
            return pl.Struct({member: pl.String for member in RESOURCE_MEMBERS})
        if self.kind in ("int_list", "float_list"):
            return pl.List(pl.String)
        return pl.List(pl.Struct({member: pl.String for member in CONSTRAINT_MEMBERS}))


@dataclass(frozen=True)
class RowCheck:
    """A check across the parsed fields of a record.

    ``condition`` is an expression over parsed column names that is true for an
    invalid record; ``column`` names the field quoted in the quarantine row.
    """

    condition: pl.Expr
    reason: str
    column: str


@dataclass(frozen=True)
class RecordSpec:
    """The fields of one table of records, and checks across them."""

    name: str
    fields: tuple[RecordField, ...]
    row_checks: tuple[RowCheck, ...] = ()

    @property
    def raw_schema(self) -> dict[str, pl.DataType]:
        """Column types of the raw layout, by field name."""
        return {f.name: f.raw_dtype for f in self.fields}

    @property
    def raw_struct(self) -> pl.Struct:
        """The raw layout of one record as a struct, for JSON decoding."""
        return pl.Struct(self.raw_schema)


@dataclass
class RecordResult(ShardResult):
    """Records of one file; ``sentinels`` counts missing markers per column."""

    sentinels: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Check:
    condition: pl.Expr
    reason: pl.Expr
    column: str
    value: pl.Expr


def _text(raw: pl.Expr) -> pl.Expr:
    """Treat an empty string as an absent value."""
    return pl.when(raw == "").then(None).otherwise(raw)


def _range_checks(
    spec_field: RecordField,
    parsed: pl.Expr,
    column: str,
    value: pl.Expr,
    scale: float = 1.0,
) -> list[_Check]:
    """List the code and range checks; ``parsed`` is in units of ``1 / scale``."""
    checks = []
    if spec_field.allowed is not None:
        allowed = sorted(spec_field.allowed)
        shown = ", ".join(str(v) for v in allowed)
        checks.append(
            _Check(
                parsed.is_not_null() & ~parsed.is_in(allowed),
                pl.lit(f"unknown code (expected one of {shown})"),
                column,
                value,
            )
        )
    if spec_field.minimum is not None:
        checks.append(
            _Check(
                parsed.is_not_null() & (parsed < spec_field.minimum * scale),
                pl.lit(f"below the minimum {spec_field.minimum:g}"),
                column,
                value,
            )
        )
    if spec_field.maximum is not None:
        checks.append(
            _Check(
                parsed.is_not_null() & (parsed > spec_field.maximum * scale),
                pl.lit(f"above the maximum {spec_field.maximum:g}"),
                column,
                value,
            )
        )
    return checks


@dataclass
class _Parsed:
    """A parsed leaf: its value, its checks, and where it held a missing marker."""

    value: pl.Expr
    checks: list[_Check]
    missing: pl.Expr | None = None


def _with_missing(spec_field: RecordField, parsed: _Parsed) -> _Parsed:
    """Turn the field's missing markers into nulls and remember where they were."""
    if spec_field.missing is None:
        return parsed
    if spec_field.kind == "float":
        markers = [float(m) for m in sorted(spec_field.missing)]
    else:
        markers = [round(m) for m in sorted(spec_field.missing)]
    marked = parsed.value.is_in(markers).fill_null(value=False)
    return _Parsed(
        pl.when(marked).then(None).otherwise(parsed.value), parsed.checks, marked
    )


def _number(spec_field: RecordField, text: pl.Expr, column: str) -> _Parsed:
    """Parse an ``int`` or ``float`` leaf and list its checks."""
    if spec_field.kind == "int":
        value = text.cast(pl.Int64, strict=False)
        checks = [
            _Check(
                text.is_not_null() & value.is_null(),
                pl.lit("invalid integer (expected a signed 64-bit integer)"),
                column,
                text,
            )
        ]
    else:
        value = text.cast(pl.Float64, strict=False)
        checks = [
            _Check(
                text.is_not_null() & value.is_null(),
                pl.lit("invalid number"),
                column,
                text,
            ),
            _Check(
                value.is_not_null() & ~value.is_finite(),
                pl.lit("not a finite number"),
                column,
                text,
            ),
        ]
    parsed = _with_missing(spec_field, _Parsed(value, checks))
    parsed.checks.extend(_range_checks(spec_field, parsed.value, column, text))
    return parsed


def _seconds(spec_field: RecordField, text: pl.Expr, column: str) -> _Parsed:
    """Parse a time in seconds into microseconds; whole seconds never via float."""
    whole = text.cast(pl.Int64, strict=False)
    fraction = text.cast(pl.Float64, strict=False)
    scaled = fraction * 1e6
    fits = scaled.is_finite() & (scaled.abs() < 2.0**63)

    value = (
        pl.when(whole.is_not_null())
        .then(pl.when(whole.abs() <= MAX_SECONDS).then(whole * 1_000_000))
        .when(fits)
        .then(scaled.round().cast(pl.Int64, strict=False))
    )
    checks = [
        _Check(
            text.is_not_null() & whole.is_null() & fraction.is_null(),
            pl.lit("invalid number of seconds"),
            column,
            text,
        ),
        _Check(
            text.is_not_null() & value.is_null(),
            pl.lit("time out of range (more than 2^63-1 microseconds)"),
            column,
            text,
        ),
    ]
    missing = spec_field.missing
    if missing is not None:
        # Markers are given in seconds; compare in microseconds.
        in_us = frozenset(round(m * 1e6) for m in missing)
        spec_field = replace(spec_field, missing=in_us)
    parsed = _with_missing(spec_field, _Parsed(value, checks))
    parsed.checks.extend(
        _range_checks(spec_field, parsed.value, column, text, scale=1e6)
    )
    return parsed


def _list_value(raw: pl.Expr) -> pl.Expr:
    return pl.format(
        "[{}]", raw.list.eval(pl.element().fill_null("null")).list.join(",")
    )


def _scalar(spec_field: RecordField, raw: pl.Expr) -> _Parsed:
    """Parse a leaf of any scalar kind."""
    name = spec_field.name
    text = _text(raw)
    if spec_field.kind in ("int", "float"):
        return _number(spec_field, text, name)
    if spec_field.kind == "seconds":
        return _seconds(spec_field, text, name)
    if spec_field.kind == "numbered_id":
        value = text.str.extract(_NUMBERED_ID, 1).cast(pl.Int64, strict=False)
        check = _Check(
            text.is_not_null() & value.is_null(),
            pl.lit("invalid identifier (expected letters, _ and digits, as in m_12)"),
            name,
            text,
        )
        return _Parsed(value, [check])
    if spec_field.kind == "bool":
        lower = text.str.to_lowercase()
        value = (
            pl.when(lower.is_in(["true", "1"]))
            .then(pl.lit(value=True))
            .when(lower.is_in(["false", "0"]))
            .then(pl.lit(value=False))
        )
        check = _Check(
            lower.is_not_null() & value.is_null(),
            pl.lit("invalid boolean (expected true or false)"),
            name,
            raw,
        )
        return _Parsed(value, [check])
    checks = []
    if spec_field.choices is not None:
        shown = ", ".join(sorted(spec_field.choices))
        checks.append(
            _Check(
                text.is_not_null() & ~text.is_in(sorted(spec_field.choices)),
                pl.lit(f"unknown value (expected one of {shown})"),
                name,
                text,
            )
        )
    return _Parsed(text, checks)


def _field(
    spec_field: RecordField,
) -> tuple[dict[str, pl.Expr], list[_Check], dict[str, pl.Expr]]:
    """Parse one field: output columns, checks in order, and missing-marker flags."""
    name = spec_field.name
    raw = pl.col(name)
    checks: list[_Check] = []
    if spec_field.mandatory:
        absent = (
            _text(raw).is_null() if spec_field.kind in _SCALAR_KINDS else raw.is_null()
        )
        checks.append(
            _Check(absent, pl.lit("missing mandatory value"), name, pl.lit(None))
        )

    if spec_field.kind in _SCALAR_KINDS:
        parsed = _scalar(spec_field, raw)
        flags = {} if parsed.missing is None else {name: parsed.missing}
        return {name: parsed.value}, checks + parsed.checks, flags

    if spec_field.kind == "resources":
        columns = {}
        for member in RESOURCE_MEMBERS:
            member_field = RecordField(
                f"{name}.{member}",
                "float",
                minimum=spec_field.minimum,
                maximum=spec_field.maximum,
            )
            parsed = _number(
                member_field, _text(raw.struct.field(member)), member_field.name
            )
            columns[f"{name}_{member}"] = parsed.value
            checks.extend(parsed.checks)
        return columns, checks, {}
    if spec_field.kind == "int_list":
        values = raw.list.eval(pl.element().cast(pl.Int64, strict=False))
        bad = raw.list.eval(pl.element().cast(pl.Int64, strict=False).is_null())
        checks.append(
            _Check(
                bad.list.any(),
                pl.lit("invalid integer in list (expected signed 64-bit integers)"),
                name,
                _list_value(raw),
            )
        )
        empty = pl.lit([], dtype=pl.List(pl.Int64))
        return {name: pl.when(raw.is_null()).then(empty).otherwise(values)}, checks, {}

    if spec_field.kind == "float_list":
        values = raw.list.eval(pl.element().cast(pl.Float64, strict=False))
        bad = values.list.eval(pl.element().is_null() | ~pl.element().is_finite())
        count = raw.list.len()
        checks.append(
            _Check(
                bad.list.any(),
                pl.lit("invalid or non-finite number in list"),
                name,
                _list_value(raw),
            )
        )
        if spec_field.length is not None:
            checks.append(
                _Check(
                    (count > 0) & (count != spec_field.length),
                    pl.format(
                        "expected {} values, found {}",
                        pl.lit(spec_field.length),
                        count,
                    ),
                    name,
                    _list_value(raw),
                )
            )
            values = pl.when(count == spec_field.length).then(values)
        else:
            values = pl.when(count > 0).then(values)
        return {name: values}, checks, {}

    # constraints
    relation = pl.element().struct.field("relation").cast(pl.Int64, strict=False)
    parsed = raw.list.eval(
        pl.struct(
            pl.element().struct.field("name"),
            pl.element().struct.field("value"),
            relation.cast(pl.Int8, strict=False).alias("relation"),
        )
    )
    bad = raw.list.eval(
        relation.is_null() | ~relation.is_in(sorted(CONSTRAINT_RELATIONS))
    )
    checks.append(
        _Check(
            bad.list.any(),
            pl.lit("invalid constraint relation (expected 0 to 7)"),
            name,
            raw.list.eval(pl.element().struct.json_encode()).list.join(","),
        )
    )
    empty = pl.lit([], dtype=CONSTRAINT_DTYPE)
    return {name: pl.when(raw.is_null()).then(empty).otherwise(parsed)}, checks, {}


def parsed_schema(spec: RecordSpec) -> dict[str, pl.DataType]:
    """Return the column types :func:`validate_records` gives an accepted record."""
    types: dict[str, pl.DataType] = {"line": pl.Int64()}
    for spec_field in spec.fields:
        if spec_field.kind == "resources":
            for member in RESOURCE_MEMBERS:
                types[f"{spec_field.name}_{member}"] = pl.Float64()
        elif spec_field.kind in ("int", "seconds", "numbered_id"):
            types[spec_field.name] = pl.Int64()
        elif spec_field.kind == "float":
            types[spec_field.name] = pl.Float64()
        elif spec_field.kind == "bool":
            types[spec_field.name] = pl.Boolean()
        elif spec_field.kind == "string":
            types[spec_field.name] = pl.String()
        elif spec_field.kind == "int_list":
            types[spec_field.name] = pl.List(pl.Int64)
        elif spec_field.kind == "float_list":
            types[spec_field.name] = pl.List(pl.Float64)
        else:
            types[spec_field.name] = CONSTRAINT_DTYPE
    return types


def _first_failure(checks: list[_Check]) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Return the reason, column and value of the first failing check (or nulls)."""
    reason = pl.lit(None, dtype=pl.String)
    column = pl.lit(None, dtype=pl.String)
    value = pl.lit(None, dtype=pl.String)
    for check in reversed(checks):
        failed = check.condition.fill_null(value=False)
        reason = pl.when(failed).then(check.reason).otherwise(reason)
        column = (
            pl.when(failed)
            .then(pl.lit(check.column or None, dtype=pl.String))
            .otherwise(column)
        )
        value = pl.when(failed).then(check.value.cast(pl.String)).otherwise(value)
    return reason, column, value


def validate_records(raw: pl.DataFrame, spec: RecordSpec, label: str) -> RecordResult:
    """Parse and check the records of one file in the raw layout.

    Parameters
    ----------
    raw
        ``line``, ``raw``, ``_reason`` and one column per field of ``spec`` with the
        field's :attr:`RecordField.raw_dtype`.
    spec
        The table's fields and row checks.
    label
        Name of the file in quarantine rows and log messages.

    Returns
    -------
    RecordResult
        ``accepted`` has the columns of :func:`parsed_schema`. ``rejected`` has the
        quarantine schema and the first failing check of each record: field checks
        in field order, then row checks. ``sentinels`` counts the missing markers
        turned into nulls in accepted records, by column.
    """
    columns: dict[str, pl.Expr] = {}
    flags: dict[str, pl.Expr] = {}
    checks: list[_Check] = [
        _Check(
            pl.col("_reason").is_not_null(),
            pl.col("_reason"),
            "",
            pl.lit(None, dtype=pl.String),
        )
    ]
    for spec_field in spec.fields:
        field_columns, field_checks, field_flags = _field(spec_field)
        columns.update(field_columns)
        checks.extend(field_checks)
        flags.update(field_flags)
    reason, column, value = _first_failure(checks)

    # Parse every field beside the raw text, then run the row checks on the parsed
    # values of records that passed the field checks.
    parsed = raw.select(
        pl.col("line").cast(pl.Int64),
        pl.col("raw"),
        reason.alias("_failure"),
        column.alias("_column"),
        value.alias("_value"),
        *(flag.alias(f"_missing_{name}") for name, flag in flags.items()),
        *(
            pl.col(c.column).cast(pl.String).alias(f"_text_{c.column}")
            for c in spec.row_checks
        ),
        *(expr.alias(name) for name, expr in columns.items()),
    ).cast(
        {name: dtype for name, dtype in parsed_schema(spec).items() if name != "line"}
    )
    if spec.row_checks:
        row_reason, row_column, row_value = _first_failure(
            [
                _Check(
                    c.condition, pl.lit(c.reason), c.column, pl.col(f"_text_{c.column}")
                )
                for c in spec.row_checks
            ]
        )
        passed = pl.col("_failure").is_null()
        parsed = parsed.with_columns(
            pl.when(passed).then(row_reason).otherwise("_failure").alias("_failure"),
            pl.when(passed).then(row_column).otherwise("_column").alias("_column"),
            pl.when(passed).then(row_value).otherwise("_value").alias("_value"),
        )

    bad = parsed.filter(pl.col("_failure").is_not_null())
    rejected = bad.select(
        pl.lit(spec.name).alias("table"),
        pl.lit(label).alias("file"),
        pl.col("line"),
        pl.col("_column").alias("column"),
        pl.col("_value").alias("value"),
        pl.col("_failure").alias("reason"),
        pl.col("raw"),
    ).cast(dict(schema.QUARANTINE))
    good = parsed.filter(pl.col("_failure").is_null())
    sentinels = {
        name: int(good[f"_missing_{name}"].sum())
        for name in flags
        if good.height and good[f"_missing_{name}"].any()
    }
    accepted = good.select(parsed_schema(spec).keys())
    if rejected.height:
        first = rejected.row(0, named=True)
        logger.warning(
            "%s: %d of %d records rejected; first at line %d%s: %s",
            label,
            rejected.height,
            parsed.height,
            first["line"],
            f", column {first['column']}, value {first['value']!r}"
            if first["column"]
            else "",
            first["reason"],
        )
    return RecordResult(
        accepted=accepted,
        rejected=rejected,
        rows_read=parsed.height,
        sentinels=sentinels,
    )
