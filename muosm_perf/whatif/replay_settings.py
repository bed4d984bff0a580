"""The scheduling policy a scenario replays with: a name, the calibration, overrides.

A scenario's policy is built in three steps:

1. the policy name (``QUEUE+PLACEMENT[+OPTION]``, default
   :data:`~muosm_perf.predict.replay.DEFAULT_POLICY`) with the scenario's seed;
2. when ``calibrated`` (the default), the fields of
   :data:`~muosm_perf.predict.views.CALIBRATION`: capacity taken 1.5 times for CPU
   and memory, 40 schedulers in parallel and 1.5 s per job decision, the settings
   fitted to the Google 2011 sample;
3. the scenario's overrides, one per field of :data:`REPLAY_SETTINGS`, which win
   over the calibration.

Without the calibration the replay uses the trace's capacity and takes no time per
decision. On the Google 2011 sample that leaves about 70% of the attempts
submitted in the window never placed, because the trace's cell overcommits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from muosm_perf.errors import ParameterError, ScenarioError
from muosm_perf.kernels.policy import PLACEMENTS, SchedulerPolicy
from muosm_perf.kernels.supervision import SupervisionPolicy
from muosm_perf.predict.replay import DEFAULT_POLICY, resolve_policy
from muosm_perf.predict.views import CALIBRATION

REPLAY_SETTINGS = {
    "cpu_overcommit": "a number > 0: factor applied to each machine's CPU capacity",
    "memory_overcommit": "a number > 0: factor applied to each machine's memory",
    "job_decision_s": "a number of seconds >= 0: scheduler time per batch of a job",
    "task_decision_s": "a number of seconds >= 0: scheduler time per task of a batch",
    "schedulers": "a whole number >= 1: schedulers deciding in parallel",
    "optimistic": "true or false: schedulers commit optimistically, as in Omega",
    "candidates": "a whole number >= 1: machines scored by 'sampled' placement",
    "supervision": "immediate, backoff[:BASE_S[:MAX_S]] or give-up:N, optionally "
    "followed by +group: restart of processes killed on a removed machine",
    "refuse_s": "a number of seconds > 0: wait before a declined offer is made "
    "again (+offers only)",
    "framework_placements": f"a list of placements ({', '.join(PLACEMENTS)}), one "
    "per framework, lowest band first (+offers only)",
}
"""Policy fields a scenario may override, with the values each accepts."""

RECORDED_SETTINGS = (
    "cpu_overcommit",
    "memory_overcommit",
    "job_decision_s",
    "task_decision_s",
    "schedulers",
    "optimistic",
    "supervision",
)
"""Policy fields every results table records, as columns ``replay.FIELD``."""

_POSITIVE = ("cpu_overcommit", "memory_overcommit", "refuse_s")
_NON_NEGATIVE = ("job_decision_s", "task_decision_s")
_AT_LEAST_ONE = ("schedulers", "candidates")


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def check_setting(name: str, value: Any) -> Any:
    """Check one override and return it as the policy field's value.

    Raises
    ------
    ScenarioError
        With key ``replay.NAME``, on an unknown name or a value of the wrong type
        or range.
    """
    key = f"replay.{name}"
    if name not in REPLAY_SETTINGS:
        raise ScenarioError(
            f"unknown replay setting; settings: calibrated, policy, "
            f"{', '.join(REPLAY_SETTINGS)}",
            key=key,
            value=value,
        )
    expected = f"must be {REPLAY_SETTINGS[name]}"
    if name in _POSITIVE or name in _NON_NEGATIVE:
        if not (_is_number(value) and math.isfinite(value)):
            raise ScenarioError(expected, key=key, value=value)
        if value < 0 or (value == 0 and name in _POSITIVE):
            raise ScenarioError(expected, key=key, value=value)
        return float(value)
    if name in _AT_LEAST_ONE:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScenarioError(expected, key=key, value=value)
        return value
    if name == "optimistic":
        if not isinstance(value, bool):
            raise ScenarioError(expected, key=key, value=value)
        return value
    if name == "supervision":
        if not isinstance(value, str):
            raise ScenarioError(expected, key=key, value=value)
        try:
            return SupervisionPolicy.parse(value)
        except ParameterError as error:
            raise ScenarioError(str(error), key=key, value=value) from None
    # framework_placements
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ScenarioError(expected, key=key, value=value)
    for rule in value:
        if rule not in PLACEMENTS:
            raise ScenarioError(expected, key=key, value=value)
    return tuple(value)


def build_policy(
    policy: str | None,
    *,
    calibrated: bool,
    settings: Mapping[str, Any] | None,
    seed: int,
) -> SchedulerPolicy:
    """Build the scheduling policy of a scenario (see the module documentation).

    Parameters
    ----------
    policy
        A name :func:`~muosm_perf.predict.replay.resolve_policy` accepts; None
        uses :data:`~muosm_perf.predict.replay.DEFAULT_POLICY`.
    calibrated
        Apply :data:`~muosm_perf.predict.views.CALIBRATION` before ``settings``.
    settings
        Overrides of policy fields, by name (:data:`REPLAY_SETTINGS`).
    seed
        Seed of the policy's random choices.

    Raises
    ------
    ScenarioError
        With key ``policy`` for an unknown name, ``replay.NAME`` for an invalid
        override, or ``replay`` for settings that cannot be combined (offers with
        optimistic schedulers, framework placements without offers).
    """
    if not isinstance(calibrated, bool):
        raise ScenarioError(
            "must be true or false", key="replay.calibrated", value=calibrated
        )
    name = DEFAULT_POLICY if policy is None else policy
    if not isinstance(name, str) or not name:
        raise ScenarioError("must be a policy name", key="policy", value=policy)
    try:
        scheduler = resolve_policy(name, seed)
    except ParameterError as error:
        raise ScenarioError(str(error), key="policy", value=policy) from None
    if settings is not None and not isinstance(settings, Mapping):
        raise ScenarioError(
            "must be a table of policy fields", key="replay", value=settings
        )
    fields = dict(CALIBRATION) if calibrated else {}
    for setting, value in (settings or {}).items():
        fields[setting] = check_setting(setting, value)
    try:
        return scheduler.with_fields(**fields)
    except ParameterError as error:
        raise ScenarioError(
            f"policy {name!r}: {error}", key="replay", value=dict(settings or {})
        ) from None


def recorded_values(policy: SchedulerPolicy) -> dict[str, Any]:
    """Return the :data:`RECORDED_SETTINGS` of ``policy`` as table cells."""
    values: dict[str, Any] = {}
    for name in RECORDED_SETTINGS:
        value = getattr(policy, name)
        values[name] = value.name if isinstance(value, SupervisionPolicy) else value
    return values
