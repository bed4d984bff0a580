"""Scheduling and supervision policies: parsing, validation, restart delays."""

from __future__ import annotations

import pytest

from muosm_perf.errors import ParameterError
from muosm_perf.kernels.policy import SchedulerPolicy, all_policy_names
from muosm_perf.kernels.reference.replay import restart_delay
from muosm_perf.kernels.supervision import (
    GIVE_UP,
    SupervisionPolicy,
    restart_delay_us,
)


def delays(policy: SupervisionPolicy, restarts: int) -> list[int]:
    return [restart_delay_us(*_codes(policy, k)) for k in range(1, restarts + 1)]


def _codes(policy: SupervisionPolicy, restarts: int):
    kind, base, factor, cap, limit = policy.kernel_arguments()
    return kind, restarts, base, factor, cap, limit


def test_backoff_doubles_up_to_cap():
    policy = SupervisionPolicy.parse("backoff:1:5")
    assert delays(policy, 5) == [1_000_000, 2_000_000, 4_000_000, 5_000_000, 5_000_000]


def test_immediate_restarts_at_once():
    assert delays(SupervisionPolicy.parse("immediate"), 3) == [0, 0, 0]


def test_give_up_after_limit():
    policy = SupervisionPolicy.parse("give-up:2")
    assert delays(policy, 3) == [0, 0, GIVE_UP]


def test_kernel_delay_matches_reference():
    policy = SupervisionPolicy(
        kind="backoff", base_delay_s=0.3, factor=1.5, max_delay_s=10, max_restarts=6
    )
    policies = SchedulerPolicy(supervision=policy)
    for restarts in range(1, 9):
        expected = restart_delay(policies, restarts)
        got = restart_delay_us(*_codes(policy, restarts))
        assert got == (GIVE_UP if expected is None else expected)


def test_supervision_name_round_trip():
    for text in ("immediate", "backoff:2:60", "give-up:4"):
        assert SupervisionPolicy.parse(text).name == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sometimes", r"supervision 'sometimes' is not valid"),
        ("backoff:x", r"'x' is not a number"),
        ("give-up:1.5", r"supervision 'give-up:1.5' is not valid"),
    ],
)
def test_supervision_parse_rejects(text, message):
    with pytest.raises(ParameterError, match=message):
        SupervisionPolicy.parse(text)


def test_supervision_rejects_factor_below_one():
    with pytest.raises(ParameterError, match=r"factor is 0.5"):
        SupervisionPolicy(kind="backoff", factor=0.5)


def test_policy_parse_and_name():
    policy = SchedulerPolicy.parse("shortest+sampled", candidates=3, seed=9)
    assert policy.queue == "shortest"
    assert policy.placement == "sampled"
    assert policy.name == "shortest+sampled"
    assert policy.describe()["candidates"] == 3


def test_every_policy_name_parses():
    names = all_policy_names()
    assert len(names) == 12
    for name in names:
        assert SchedulerPolicy.parse(name).name == name


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("priority", {}, r"policy 'priority' is not valid; write QUEUE\+PLACEMENT"),
        ("lifo+first-fit", {}, r"queue order 'lifo' is not known"),
        ("fifo+next-fit", {}, r"placement 'next-fit' is not known"),
        ("fifo+first-fit", {"schedulers": 0}, r"schedulers is 0"),
        ("fifo+first-fit", {"cpu_overcommit": -1.0}, r"cpu_overcommit is -1.0"),
        ("fifo+first-fit", {"candidates": 0}, r"candidates is 0"),
    ],
)
def test_policy_rejects(name, fields, message):
    with pytest.raises(ParameterError, match=message):
        SchedulerPolicy.parse(name, **fields)
