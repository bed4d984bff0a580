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


def test_policy_options_parse():
    preempt = SchedulerPolicy.parse("priority+first-fit+preempt")
    assert preempt.preemption
    assert preempt.name == "priority+first-fit+preempt"
    offers = SchedulerPolicy.parse("fifo+sampled+offers", refuse_s=2.0)
    assert offers.offers
    assert offers.name == "fifo+sampled+offers"
    assert offers.describe()["refuse_s"] == 2.0
    assert len(all_policy_names("preempt")) == 12


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("fifo+first-fit+lottery", {}, r"policy 'fifo\+first-fit\+lottery' is not"),
        ("fifo+first-fit+offers", {"refuse_s": 0.0}, r"refuse_s is 0.0"),
        (
            "fifo+first-fit+offers",
            {"optimistic": True},
            r"offers and optimistic schedulers cannot be combined",
        ),
        (
            "fifo+first-fit+preempt",
            {"offers": True},
            r"preemption and offers cannot be combined",
        ),
        (
            "fifo+first-fit+offers",
            {"framework_placements": ("next-fit",)},
            r"framework placement 'next-fit' is not known",
        ),
        (
            "fifo+first-fit",
            {"framework_placements": ("best-fit",)},
            r"framework_placements is set but offers is off",
        ),
    ],
)
def test_policy_option_rejects(name, fields, message):
    with pytest.raises(ParameterError, match=message):
        SchedulerPolicy.parse(name, **fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpu_overcommit": 0.0}, "cpu_overcommit is 0.0; give a finite factor > 0"),
        ({"memory_overcommit": -1.0}, "memory_overcommit is -1.0; give a finite"),
        ({"seed": -1}, "seed is -1; give a whole number >= 0"),
    ],
)
def test_policy_rejects_values_outside_the_model(fields, message):
    with pytest.raises(ParameterError, match=message):
        SchedulerPolicy(**fields)


def test_two_options_in_a_name_are_named():
    with pytest.raises(ParameterError, match="names preempt and offers; these options"):
        SchedulerPolicy.parse("priority+first-fit+preempt+offers")


def test_backoff_base_above_its_cap_is_rejected():
    with pytest.raises(ParameterError, match="starts at 10 s, above its cap of 1 s"):
        SupervisionPolicy.parse("backoff:10:1")


def test_policy_option_named_twice():
    with pytest.raises(ParameterError, match="names an option twice"):
        SchedulerPolicy.parse("priority+first-fit+preempt+preempt")
