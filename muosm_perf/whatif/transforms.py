"""Scenario transforms: the base class, their registry, and checks of parameters.

A transform changes one aspect of the base a scenario starts from: the machines,
the load, the failure history. It acts either on the replay's prepared kernel inputs
(``acts_on = "inputs"``) or on the canonical tables before the inputs are prepared
(``acts_on = "tables"``). Neither kind touches the trace store on disk. A transform
that draws at random gets its own generator from the scenario's seed, its kind and
its position among transforms of that kind, so adding an unrelated transform to a
scenario leaves its draws unchanged.

Transforms are frozen, keyword-only dataclasses. Each checks its parameters when
built and raises :class:`~muosm_perf.errors.ScenarioError` naming the parameter and
its value; the scenario file reader adds the file and the key path.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from muosm_perf.errors import ScenarioError

TRANSFORMS: dict[str, type[Transform]] = {}
"""Transform classes by their ``kind``, as scenario files name them."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Transform:
    """A change applied to a scenario's base.

    Attributes
    ----------
    label
        Name that sweep parameters address this transform by (``label.param``);
        by default the transform's ``kind``.
    """

    kind: ClassVar[str] = ""
    acts_on: ClassVar[str] = "inputs"
    label: str | None = None

    def __post_init__(self) -> None:
        if self.label is not None and (
            not isinstance(self.label, str) or not self.label.isidentifier()
        ):
            raise ScenarioError(
                "a label must be a name of letters, digits and underscores that "
                "does not start with a digit",
                key="label",
                value=self.label,
            )

    @property
    def name(self) -> str:
        """The label, or the kind when no label is set."""
        return self.label or self.kind

    def parameters(self) -> dict[str, Any]:
        """Return the transform's parameters (the label left out)."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "label"
        }

    def describe(self) -> str:
        """Return a one-line text such as ``scale_load(factor=2.0, bands=middle)``."""
        parts = []
        for key, value in self.parameters().items():
            if value is None:
                continue
            if isinstance(value, tuple):
                parts.append(f"{key}={'+'.join(str(item) for item in value)}")
            else:
                parts.append(f"{key}={value}")
        return f"{self.kind}({', '.join(parts)})"

    def check_base(self, base: Any) -> None:
        """Raise ScenarioError if the transform cannot apply to ``base``.

        The default accepts every base; transforms that name machines, platforms
        or bands override it, so that a sweep fails before any replay runs.
        """


def register_transform(cls: type[Transform]) -> type[Transform]:
    """Add a transform class to :data:`TRANSFORMS` under its ``kind``."""
    if not cls.kind or cls.kind in TRANSFORMS:
        raise ValueError(f"transform kind {cls.kind!r} is empty or registered twice")
    TRANSFORMS[cls.kind] = cls
    return cls


def transform_from_mapping(mapping: Mapping[str, Any]) -> Transform:
    """Build a transform from a scenario file's table.

    An example table is ``{"kind": "scale_load", "factor": 2.0}``.

    Raises
    ------
    ScenarioError
        On a missing or unknown kind, an unknown key, or an invalid value; the key
        is relative to the table (``kind``, ``factor``, ...).
    """
    if "kind" not in mapping:
        raise ScenarioError(
            f"a transform needs a kind; known kinds: {', '.join(sorted(TRANSFORMS))}",
            key="kind",
        )
    kind = mapping["kind"]
    cls = TRANSFORMS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ScenarioError(
            f"unknown transform kind{_suggestion(kind, TRANSFORMS)}; known kinds: "
            f"{', '.join(sorted(TRANSFORMS))}",
            key="kind",
            value=kind,
        )
    known = {field.name for field in dataclasses.fields(cls)}
    arguments = {}
    for key, value in mapping.items():
        if key == "kind":
            continue
        if key not in known:
            raise ScenarioError(
                f"unknown key for a {kind} transform{_suggestion(key, known)}; its "
                f"keys are: kind, {', '.join(sorted(known))}",
                key=key,
                value=value,
            )
        arguments[key] = tuple(value) if isinstance(value, list) else value
    return cls(**arguments)


def _suggestion(word: object, choices: Mapping[str, Any] | set[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def transform_rng(
    seed: int, kind: str, occurrence: int, *stream: int
) -> np.random.Generator:
    """Return the generator of one transform of a scenario.

    Parameters
    ----------
    seed
        The scenario's seed (a non-negative integer).
    kind
        The transform's kind; its CRC-32 separates the streams of different kinds.
    occurrence
        Position of the transform among the scenario's transforms of that kind.
    stream
        More integers that select an independent sub-stream, for example a copy
        number, so that draws for one copy do not depend on how many copies exist.
    """
    entropy = [int(seed), zlib.crc32(kind.encode("utf-8")), int(occurrence)]
    return np.random.default_rng([*entropy, *(int(s) for s in stream)])


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
    integer: bool = False,
) -> None:
    """Raise ScenarioError unless ``value`` is a finite number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if integer else "a number"
        raise ScenarioError(f"must be {kind}", key=name, value=value)
    if integer and not isinstance(value, int):
        raise ScenarioError("must be a whole number", key=name, value=value)
    if not math.isfinite(value):
        raise ScenarioError("must be finite", key=name, value=value)
    if minimum is not None:
        if strict_minimum and not value > minimum:
            raise ScenarioError(f"must be > {minimum:g}", key=name, value=value)
        if not strict_minimum and not value >= minimum:
            raise ScenarioError(f"must be >= {minimum:g}", key=name, value=value)
    if maximum is not None and not value <= maximum:
        raise ScenarioError(f"must be <= {maximum:g}", key=name, value=value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    """Raise ScenarioError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ScenarioError(
            f"must be one of: {', '.join(choices)}", key=name, value=value
        )


def check_names(name: str, value: object) -> None:
    """Raise ScenarioError unless ``value`` is a non-empty tuple of strings."""
    if (
        not isinstance(value, tuple)
        or not value
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise ScenarioError("must be a non-empty list of names", key=name, value=value)
