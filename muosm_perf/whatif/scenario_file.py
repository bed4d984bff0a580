"""Scenario files: a what-if study in TOML.

The format, with every key, unit and default, is documented in ``docs/whatif.md``.
In short::

    name = "double-batch"          # default: the file name without .toml
    seed = 2011                    # default 0

    [base]
    trace = "${MUOSM_SAMPLES:-../traces}/google-2011"   # or: store = "..."
    format = "google-2011"

    [replay]
    policy = "priority+first-fit"  # any QUEUE+PLACEMENT[+OPTION]
    calibrated = true              # default: the calibrated policy
    schedulers = 10                # overrides of policy fields

    [outputs]
    names = ["production_delay_p95_s", "middle_delay_p95_s"]

    [[transforms]]                 # applied to every scenario, in order
    kind = "scale_load"
    factor = 2.0
    bands = ["middle"]

    [sweep.parameters]             # a grid over parameter paths
    "scale_load.factor" = [1.0, 1.5, 2.0]

Paths may name environment variables as ``${NAME}`` or ``${NAME:-default}``;
relative paths are relative to the file's folder. Every error names the file, the
key and the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muosm_perf.errors import ScenarioError
from muosm_perf.predict.replay import UNSCHEDULED
from muosm_perf.whatif.evaluate import ReplayEvaluation
from muosm_perf.whatif.load import LOAD_METHODS
from muosm_perf.whatif.machines import MACHINE_ORDERS
from muosm_perf.whatif.outputs import DEFAULT_OUTPUTS
from muosm_perf.whatif.replay_settings import REPLAY_SETTINGS
from muosm_perf.whatif.scenario import SWEEP_MODES, Scenario, bus_config, expand_sweep
from muosm_perf.whatif.transforms import transform_from_mapping

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "seed",
    "base",
    "replay",
    "outputs",
    "bus",
    "transforms",
    "sweep",
    "scenarios",
    "search",
)
BASE_KEYS = ("store", "trace", "format", "grid_step_s", "unscheduled")
REPLAY_KEYS = ("policy", "calibrated", *REPLAY_SETTINGS)
OUTPUT_KEYS = ("names",)
SWEEP_KEYS = ("mode", "replicates", "parameters")
SCENARIO_KEYS = (
    "name",
    "seed",
    "policy",
    "parameters",
    "transforms",
    "bus",
    "replay",
)
SEARCH_KINDS = ("min_machines", "max_load")
SEARCH_KEYS = (
    "kind",
    "objective",
    "threshold",
    "low",
    "high",
    "tolerance",
    "order",
    "method",
    "bands",
    "check_points",
    "widen",
)

_VARIABLE = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
)


@dataclass(frozen=True)
class BaseSpec:
    """The source of a study's base: a store, or a trace folder to ingest.

    Attributes
    ----------
    store, trace
        Paths; at most one is set (none when the command line gives the base).
    format
        Trace format of ``trace``.
    grid_step_s
        Step of the occupancy grid, seconds; None for the replay's default.
    unscheduled
        ``replay`` or ``hold``: whether attempts the trace never scheduled, and
        that were pending at the window end, are replayed or left out. The file's
        default is ``hold`` for a calibrated study and ``replay`` otherwise.
    """

    store: Path | None = None
    trace: Path | None = None
    format: str = "google-2011"
    grid_step_s: float | None = None
    unscheduled: str = "hold"


@dataclass(frozen=True)
class SearchSpec:
    """A capacity search (see :mod:`muosm_perf.whatif.search`).

    Attributes
    ----------
    kind
        ``min_machines`` or ``max_load``.
    objective, threshold
        The SLO ``objective <= threshold``.
    options
        The remaining keys, as keyword arguments of the search function.
    """

    kind: str
    objective: str
    threshold: float
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioFile:
    """A parsed scenario file.

    Attributes
    ----------
    path
        The file (None when parsed from a mapping).
    name, description
        The study's name and text.
    base
        Where the base comes from.
    evaluation
        The replay evaluation with the requested outputs.
    template
        The scenario every scenario starts from: the file's seed, policy, bus
        settings and transforms.
    scenarios
        Every scenario to evaluate, sweeps expanded; empty when the file has only
        a search.
    swept
        Parameter paths of the sweep, in file order.
    search
        The capacity search, if any.
    """

    path: Path | None
    name: str
    description: str
    base: BaseSpec
    evaluation: ReplayEvaluation
    template: Scenario
    scenarios: list[Scenario]
    swept: tuple[str, ...]
    search: SearchSpec | None


def load_scenario_file(path: str | Path) -> ScenarioFile:
    """Read and check a scenario file.

    Raises
    ------
    ScenarioError
        If the file is missing, is not valid TOML, or has an invalid key or value.
        The message names the file, the key and the value.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ScenarioError("scenario file not found", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"not valid TOML: {error}", path=path) from None
    return parse_scenario_document(document, path=path)


def parse_scenario_document(
    document: Mapping[str, Any], *, path: str | Path | None = None
) -> ScenarioFile:
    """Check a scenario document (the TOML as a mapping) and build the study.

    Parameters
    ----------
    document
        The parsed TOML.
    path
        The file it came from: named in errors, and the folder relative paths
        start from (the working folder when None).
    """
    path = None if path is None else Path(path)
    try:
        return _parse(document, path)
    except ScenarioError as error:
        if error.path is None:
            raise error.located(path=path) from None
        raise


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(
                f"unknown key{hint}; keys here: {', '.join(allowed)}",
                key=f"{where}.{key}" if where else key,
                value=value,
            )


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, Mapping):
        raise ScenarioError("must be a table", key=key, value=value)
    return value


def _expand_path(text: object, key: str, folder: Path) -> Path:
    if not isinstance(text, str) or not text:
        raise ScenarioError("must be a path", key=key, value=text)

    def substitute(match: re.Match[str]) -> str:
        name = match["name"]
        if os.environ.get(name):
            return os.environ[name]
        if match["default"] is not None:
            return match["default"]
        raise ScenarioError(
            f"environment variable {name} is not set; set it or write "
            f"${{{name}:-DEFAULT}}",
            key=key,
            value=text,
        )

    expanded = Path(_VARIABLE.sub(substitute, text)).expanduser()
    return expanded if expanded.is_absolute() else folder / expanded


def _parse(document: Mapping[str, Any], path: Path | None) -> ScenarioFile:
    _check_keys(document, TOP_LEVEL_KEYS, "")
    folder = path.parent if path is not None else Path.cwd()
    name = document.get("name", path.stem if path is not None else "study")
    if not isinstance(name, str) or not name:
        raise ScenarioError("must be a non-empty string", key="name", value=name)
    description = document.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError("must be a string", key="description", value=description)

    replay = _table(document, "replay")
    _check_keys(replay, REPLAY_KEYS, "replay")
    calibrated = replay.get("calibrated", True)
    base = _parse_base(_table(document, "base"), folder, calibrated=calibrated)
    evaluation = _parse_outputs(_table(document, "outputs"))
    bus = dict(_table(document, "bus"))
    if bus:
        try:
            bus_config(bus)
        except ScenarioError as error:
            raise error.located(path=path) from None

    transforms = _parse_transforms(document.get("transforms", []), "transforms")
    try:
        template = Scenario(
            name=name,
            transforms=transforms,
            policy=replay.get("policy"),
            seed=document.get("seed", 0),
            bus=bus or None,
            calibrated=calibrated,
            replay=_replay_settings(replay) or None,
        )
    except ScenarioError as error:
        key = "replay.policy" if error.key == "policy" else error.key
        raise ScenarioError(error.reason, key=key, value=error.value) from None
    scenarios, swept = _parse_scenarios(document, template)
    search = _parse_search(document.get("search"), evaluation)
    if search is None and not scenarios:
        scenarios = [template]
    return ScenarioFile(
        path=path,
        name=name,
        description=description,
        base=base,
        evaluation=evaluation,
        template=template,
        scenarios=scenarios,
        swept=swept,
        search=search,
    )


def _replay_settings(table: Mapping[str, Any]) -> dict[str, Any]:
    """Return the policy-field overrides of a ``replay`` table."""
    return {key: value for key, value in table.items() if key in REPLAY_SETTINGS}


def _parse_base(
    table: Mapping[str, Any], folder: Path, *, calibrated: object
) -> BaseSpec:
    _check_keys(table, BASE_KEYS, "base")
    if "store" in table and "trace" in table:
        raise ScenarioError(
            "give either base.store or base.trace, not both",
            key="base",
            value=dict(table),
        )
    store = (
        _expand_path(table["store"], "base.store", folder) if "store" in table else None
    )
    trace = (
        _expand_path(table["trace"], "base.trace", folder) if "trace" in table else None
    )
    source_format = table.get("format", "google-2011")
    if not isinstance(source_format, str):
        raise ScenarioError(
            "must be a format name", key="base.format", value=source_format
        )
    step = table.get("grid_step_s")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int | float) or not step > 0
    ):
        raise ScenarioError(
            "must be a number of seconds > 0", key="base.grid_step_s", value=step
        )
    unscheduled = table.get("unscheduled", "replay" if calibrated is False else "hold")
    if unscheduled not in UNSCHEDULED:
        raise ScenarioError(
            f"must be one of: {', '.join(UNSCHEDULED)}",
            key="base.unscheduled",
            value=unscheduled,
        )
    return BaseSpec(
        store=store,
        trace=trace,
        format=source_format,
        grid_step_s=None if step is None else float(step),
        unscheduled=unscheduled,
    )


def _parse_outputs(table: Mapping[str, Any]) -> ReplayEvaluation:
    _check_keys(table, OUTPUT_KEYS, "outputs")
    names = table.get("names", list(DEFAULT_OUTPUTS))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ScenarioError(
            "must be a list of output names", key="outputs.names", value=names
        )
    try:
        return ReplayEvaluation(outputs=tuple(names))
    except ScenarioError as error:
        raise ScenarioError(
            error.reason, key="outputs.names", value=error.value
        ) from None


def _parse_transforms(items: object, where: str) -> tuple:
    if not isinstance(items, list):
        raise ScenarioError(
            "must be an array of tables ([[...]])", key=where, value=items
        )
    transforms = []
    for position, item in enumerate(items):
        key = f"{where}[{position}]"
        if not isinstance(item, Mapping):
            raise ScenarioError("must be a table", key=key, value=item)
        try:
            transforms.append(transform_from_mapping(item))
        except ScenarioError as error:
            raise error.located(prefix=key) from None
    return tuple(transforms)


def _quoted(path: str) -> str:
    return f'"{path}"' if "." in path else path


def _parse_sweep(table: Mapping[str, Any], template: Scenario) -> tuple[list, tuple]:
    _check_keys(table, SWEEP_KEYS, "sweep")
    parameters = table.get("parameters", {})
    if not isinstance(parameters, Mapping) or not parameters:
        raise ScenarioError(
            "must be a table of parameter paths and value lists",
            key="sweep.parameters",
            value=parameters,
        )
    mode = table.get("mode", "grid")
    if mode not in SWEEP_MODES:
        raise ScenarioError(
            f"must be one of: {', '.join(SWEEP_MODES)}", key="sweep.mode", value=mode
        )
    replicates = table.get("replicates", 1)
    try:
        scenarios = expand_sweep(template, parameters, mode=mode, replicates=replicates)
    except ScenarioError as error:
        if error.key == "replicates":
            raise ScenarioError(
                error.reason, key="sweep.replicates", value=replicates
            ) from None
        key = "sweep.parameters"
        if error.key is not None:
            key = f"sweep.parameters.{_quoted(error.key)}"
        raise ScenarioError(
            error.reason, key=key, value=error.value if error.has_value else parameters
        ) from None
    return scenarios, tuple(parameters)


def _parse_scenarios(
    document: Mapping[str, Any], template: Scenario
) -> tuple[list[Scenario], tuple[str, ...]]:
    items = document.get("scenarios", [])
    if not isinstance(items, list):
        raise ScenarioError(
            "must be an array of tables ([[scenarios]])", key="scenarios", value=items
        )
    variants = []
    for position, item in enumerate(items):
        where = f"scenarios[{position}]"
        if not isinstance(item, Mapping):
            raise ScenarioError("must be a table", key=where, value=item)
        _check_keys(item, SCENARIO_KEYS, where)
        if "name" not in item:
            raise ScenarioError("each scenario needs a name", key=f"{where}.name")
        extra = _parse_transforms(item.get("transforms", []), f"{where}.transforms")
        changes: dict[str, Any] = {
            "name": item["name"],
            "transforms": (*template.transforms, *extra),
        }
        for key in ("seed", "policy"):
            if key in item:
                changes[key] = item[key]
        if "bus" in item:
            if not isinstance(item["bus"], Mapping):
                raise ScenarioError(
                    "must be a table", key=f"{where}.bus", value=item["bus"]
                )
            changes["bus"] = {**(template.bus or {}), **item["bus"]}
        if "replay" in item:
            changes.update(_scenario_replay(item["replay"], template, where))
        try:
            variant = dataclasses.replace(template, **changes)
        except ScenarioError as error:
            raise error.located(prefix=where) from None
        overrides = item.get("parameters", {})
        if not isinstance(overrides, Mapping):
            raise ScenarioError(
                "must be a table", key=f"{where}.parameters", value=overrides
            )
        for parameter, value in overrides.items():
            try:
                variant = variant.with_parameter(parameter, value)
            except ScenarioError as error:
                raise ScenarioError(
                    error.reason,
                    key=f"{where}.parameters.{_quoted(parameter)}",
                    value=value,
                ) from None
        variants.append(variant)

    sweep = document.get("sweep")
    if sweep is None:
        return variants, ()
    if not isinstance(sweep, Mapping):
        raise ScenarioError("must be a table", key="sweep", value=sweep)
    scenarios: list[Scenario] = []
    swept: tuple[str, ...] = ()
    for variant in variants or [template]:
        expanded, swept = _parse_sweep(sweep, variant)
        scenarios.extend(expanded)
    return scenarios, swept


def _scenario_replay(table: object, template: Scenario, where: str) -> dict[str, Any]:
    """Return the Scenario fields a scenario's ``replay`` table changes."""
    if not isinstance(table, Mapping):
        raise ScenarioError("must be a table", key=f"{where}.replay", value=table)
    _check_keys(table, REPLAY_KEYS, f"{where}.replay")
    changes: dict[str, Any] = {}
    if "policy" in table:
        changes["policy"] = table["policy"]
    if "calibrated" in table:
        changes["calibrated"] = table["calibrated"]
    settings = _replay_settings(table)
    if settings:
        changes["replay"] = {**(template.replay or {}), **settings}
    return changes


def _parse_search(table: object, evaluation: ReplayEvaluation) -> SearchSpec | None:
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ScenarioError("must be a table", key="search", value=table)
    _check_keys(table, SEARCH_KEYS, "search")

    kind = table.get("kind")
    if kind not in SEARCH_KINDS:
        raise ScenarioError(
            f"must be one of: {', '.join(SEARCH_KINDS)}", key="search.kind", value=kind
        )
    objective = table.get("objective")
    if objective not in evaluation.outputs:
        raise ScenarioError(
            "must be one of the outputs (outputs.names): "
            + ", ".join(evaluation.outputs),
            key="search.objective",
            value=objective,
        )
    threshold = table.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ScenarioError("must be a number", key="search.threshold", value=threshold)

    options = {
        k: v for k, v in table.items() if k not in ("kind", "objective", "threshold")
    }
    if kind == "min_machines":
        _check_machine_search(options)
    else:
        _check_load_search(options)
    for key in ("check_points", "widen"):
        value = options.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ScenarioError(
                "must be a whole number >= 0", key=f"search.{key}", value=value
            )
    return SearchSpec(
        kind=kind, objective=objective, threshold=float(threshold), options=options
    )


def _reject_keys(options: Mapping[str, Any], keys: tuple[str, ...], kind: str) -> None:
    for key in keys:
        if key in options:
            raise ScenarioError(
                f"applies to {kind} searches only",
                key=f"search.{key}",
                value=options[key],
            )


def _check_machine_search(options: Mapping[str, Any]) -> None:
    _reject_keys(options, ("method", "bands"), "max_load")
    if "order" in options and options["order"] not in MACHINE_ORDERS:
        raise ScenarioError(
            f"must be one of: {', '.join(MACHINE_ORDERS)}",
            key="search.order",
            value=options["order"],
        )
    for key in ("low", "high", "tolerance"):
        value = options.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ScenarioError(
                "must be a whole number of machines >= 0",
                key=f"search.{key}",
                value=value,
            )
    _check_bounds(options)


def _check_load_search(options: Mapping[str, Any]) -> None:
    _reject_keys(options, ("order",), "min_machines")
    if "method" in options and options["method"] not in LOAD_METHODS:
        raise ScenarioError(
            f"must be one of: {', '.join(LOAD_METHODS)}",
            key="search.method",
            value=options["method"],
        )
    bands = options.get("bands")
    if bands is not None and (
        not isinstance(bands, list) or not all(isinstance(b, str) for b in bands)
    ):
        raise ScenarioError(
            "must be a list of band names", key="search.bands", value=bands
        )
    for key in ("low", "high", "tolerance"):
        value = options.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ScenarioError("must be a number", key=f"search.{key}", value=value)
    _check_bounds(options)


def _check_bounds(options: Mapping[str, Any]) -> None:
    low, high = options.get("low"), options.get("high")
    if low is not None and high is not None and not low < high:
        raise ScenarioError(
            f"must be below search.high ({high})", key="search.low", value=low
        )
    tolerance = options.get("tolerance")
    if tolerance is not None and not tolerance > 0:
        raise ScenarioError("must be > 0", key="search.tolerance", value=tolerance)
