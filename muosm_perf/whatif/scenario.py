"""Scenarios: a list of transforms, a replay policy, a seed and bus settings.

A scenario parameter is addressed by a dotted path:

- ``policy`` and ``seed``: the scenario's replay policy and seed;
- ``replay.calibrated`` and ``replay.FIELD``: whether the calibration applies, and
  an override of a policy field of
  :data:`~muosm_perf.whatif.replay_settings.REPLAY_SETTINGS`, for example
  ``replay.cpu_overcommit``;
- ``bus.FIELD``: a field of :class:`~muosm_perf.bus.config.BusConfig`;
- ``NAME.PARAM``: parameter ``PARAM`` of the transform whose label (or, without a
  label, kind) is ``NAME``, for example ``resize_machines.fraction``.

:func:`expand_sweep` turns one scenario and a set of paths with lists of values
into the scenarios of a grid (every combination) or of a zip (the i-th value of
every path together). It uses common random numbers: every point of the sweep has
the same seed, so differences between points are not noise from different draws.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from muosm_perf.bus.config import BusConfig
from muosm_perf.errors import ParameterError, ScenarioError
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.whatif.replay_settings import REPLAY_SETTINGS, build_policy
from muosm_perf.whatif.transforms import Transform

SWEEP_MODES = ("grid", "zip")
"""Modes of :func:`expand_sweep`: every combination of the value lists, or the
i-th values together."""

BUS_FIELDS = tuple(
    field.name for field in dataclasses.fields(BusConfig) if field.name != "outage"
)
"""Bus settings a scenario may set (broker outages are not scenario settings)."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One what-if scenario.

    Attributes
    ----------
    name
        Name shown in tables and figures.
    transforms
        Applied to the base in order.
    policy
        Replay policy name, ``QUEUE+PLACEMENT[+OPTION]`` such as
        ``priority+first-fit+preempt``; None uses the replay's default.
    seed
        Non-negative seed of every random draw of the scenario: the transforms'
        and the replay's.
    bus
        :class:`~muosm_perf.bus.config.BusConfig` fields for the bus outputs; None
        uses the bus defaults.
    calibrated
        Apply :data:`~muosm_perf.predict.views.CALIBRATION` to the policy (capacity
        taken 1.5 times, 40 schedulers at 1.5 s per job decision).
    replay
        Overrides of policy fields by name
        (:data:`~muosm_perf.whatif.replay_settings.REPLAY_SETTINGS`), applied after
        the calibration; None overrides nothing.
    parameters
        The values that set this scenario apart from the others of its sweep, by
        path; they become columns of the results table.
    """

    name: str = "scenario"
    transforms: tuple[Transform, ...] = ()
    policy: str | None = None
    seed: int = 0
    bus: Mapping[str, Any] | None = None
    calibrated: bool = True
    replay: Mapping[str, Any] | None = None
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(
                "must be a non-empty string", key="name", value=self.name
            )
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or self.seed < 0
        ):
            raise ScenarioError(
                "must be a whole number >= 0", key="seed", value=self.seed
            )
        self.scheduler_policy()
        for position, transform in enumerate(self.transforms):
            if not isinstance(transform, Transform):
                raise ScenarioError(
                    "must be a Transform",
                    key=f"transforms[{position}]",
                    value=transform,
                )
        if self.bus is not None:
            bus_config(self.bus)

    def scheduler_policy(self) -> SchedulerPolicy:
        """Return the policy the scenario replays with, seeded with its seed.

        Raises
        ------
        ScenarioError
            On an unknown policy name or an invalid override.
        """
        return build_policy(
            self.policy,
            calibrated=self.calibrated,
            settings=self.replay,
            seed=self.seed,
        )

    def bus_config(self) -> BusConfig:
        """Return the bus configuration of the scenario (defaults where unset)."""
        return bus_config(self.bus or {})

    def transform_named(self, name: str) -> tuple[int, Transform]:
        """Return the position and transform addressed by ``name``.

        Raises
        ------
        ScenarioError
            If no transform, or more than one, has that name.
        """
        matches = [
            (position, transform)
            for position, transform in enumerate(self.transforms)
            if transform.name == name
        ]
        if not matches:
            names = ", ".join(t.name for t in self.transforms) or "none"
            raise ScenarioError(
                f"no transform is named {name!r}; the scenario's transforms are: "
                f"{names}",
                key=name,
            )
        if len(matches) > 1:
            raise ScenarioError(
                f"{len(matches)} transforms are named {name!r}; give each a "
                "different label",
                key=name,
            )
        return matches[0]

    def with_parameter(self, path: str, value: Any) -> Scenario:
        """Return a copy with the parameter at ``path`` set to ``value``.

        The value is recorded in :attr:`parameters` under ``path``.

        Raises
        ------
        ScenarioError
            If the path addresses nothing, or the value is invalid there; the key
            of the error is ``path``.
        """
        parameters = {**self.parameters, path: value}
        try:
            changed = self._set(path, value)
        except ScenarioError as error:
            raise ScenarioError(error.reason, key=path, value=value) from None
        return dataclasses.replace(changed, parameters=parameters)

    def _set(self, path: str, value: Any) -> Scenario:
        if path in ("policy", "seed"):
            return dataclasses.replace(self, **{path: value})
        head, dot, tail = path.partition(".")
        if not dot or not tail:
            raise ScenarioError(
                "a parameter path is 'policy', 'seed', 'replay.FIELD', 'bus.FIELD' "
                "or 'TRANSFORM.PARAMETER'"
            )
        if head == "replay":
            return self._set_replay(tail, value)
        if head == "bus":
            if tail not in BUS_FIELDS:
                raise ScenarioError(
                    f"unknown bus setting; settings: {', '.join(BUS_FIELDS)}"
                )
            return dataclasses.replace(self, bus={**(self.bus or {}), tail: value})
        position, transform = self.transform_named(head)
        if tail == "label" or tail not in transform.parameters():
            raise ScenarioError(
                f"a {transform.kind} transform has no parameter {tail!r}; its "
                f"parameters are: {', '.join(transform.parameters())}"
            )
        if isinstance(value, list):
            value = tuple(value)
        changed = dataclasses.replace(transform, **{tail: value})
        transforms = list(self.transforms)
        transforms[position] = changed
        return dataclasses.replace(self, transforms=tuple(transforms))

    def _set_replay(self, name: str, value: Any) -> Scenario:
        if name == "calibrated":
            return dataclasses.replace(self, calibrated=value)
        if name == "policy":
            raise ScenarioError("the policy's path is 'policy', not 'replay.policy'")
        if name not in REPLAY_SETTINGS:
            raise ScenarioError(
                f"unknown replay setting; settings: calibrated, "
                f"{', '.join(REPLAY_SETTINGS)}"
            )
        return dataclasses.replace(self, replay={**(self.replay or {}), name: value})

    def describe(self) -> str:
        """Return the transforms as one line, ``none`` when there are none."""
        return "; ".join(t.describe() for t in self.transforms) or "none"


def bus_config(settings: Mapping[str, Any]) -> BusConfig:
    """Build a bus configuration from scenario settings.

    Raises
    ------
    ScenarioError
        On an unknown setting or a value the bus model rejects.
    """
    for key, value in settings.items():
        if key not in BUS_FIELDS:
            raise ScenarioError(
                f"unknown bus setting; settings: {', '.join(BUS_FIELDS)}",
                key=f"bus.{key}",
                value=value,
            )
    try:
        return BusConfig(**settings)
    except ParameterError as error:
        raise ScenarioError(str(error), key="bus", value=dict(settings)) from None


def expand_sweep(
    template: Scenario,
    parameters: Mapping[str, Sequence[Any]],
    *,
    mode: str = "grid",
    replicates: int = 1,
) -> list[Scenario]:
    """Return the scenarios of a sweep over ``parameters``.

    Parameters
    ----------
    template
        The scenario every point starts from.
    parameters
        Value lists by parameter path (see the module documentation).
    mode
        ``grid``: every combination, the last path varying fastest; ``zip``: the
        i-th values together, all lists of one length.
    replicates
        Runs per point; replicate ``r`` uses the point's seed plus ``r``, which is
        the template's seed at every point unless ``seed`` is swept.

    Returns
    -------
    list of Scenario
        Named ``TEMPLATE[path=value, ...]`` (and ``#r`` for replicates > 1), with
        each point's values (and ``replicate``) in :attr:`Scenario.parameters`.

    Raises
    ------
    ScenarioError
        On an empty value list, lists of different lengths in zip mode, or a value
        that is invalid at its path.
    """
    if mode not in SWEEP_MODES:
        raise ScenarioError(
            f"must be one of: {', '.join(SWEEP_MODES)}", key="mode", value=mode
        )
    if (
        isinstance(replicates, bool)
        or not isinstance(replicates, int)
        or replicates < 1
    ):
        raise ScenarioError(
            "must be a whole number >= 1", key="replicates", value=replicates
        )
    paths = list(parameters)
    for path in paths:
        values = parameters[path]
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ScenarioError(
                "must be a non-empty list of values", key=path, value=values
            )
    if mode == "zip":
        lengths = {len(parameters[path]) for path in paths}
        if len(lengths) > 1:
            raise ScenarioError(
                "zip mode needs value lists of one length, got lengths "
                + ", ".join(f"{path}: {len(parameters[path])}" for path in paths)
            )
        points = list(zip(*(parameters[path] for path in paths), strict=True))
    else:
        points = list(itertools.product(*(parameters[path] for path in paths)))

    scenarios = []
    for point in points:
        scenario = template
        for path, value in zip(paths, point, strict=True):
            scenario = scenario.with_parameter(path, value)
        label = ", ".join(
            f"{path}={value}" for path, value in zip(paths, point, strict=True)
        )
        name = f"{template.name}[{label}]" if paths else template.name
        for replicate in range(replicates):
            suffix = f"#{replicate}" if replicates > 1 else ""
            scenarios.append(
                dataclasses.replace(
                    scenario,
                    name=name + suffix,
                    seed=scenario.seed + replicate,
                    parameters={**scenario.parameters, "replicate": replicate},
                )
            )
    return scenarios
