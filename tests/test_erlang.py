from decimal import Decimal

import numpy as np
import pytest

from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.kernels.reference import erlang as reference
from muosm_perf.queueing import erlang_b, erlang_c

# P(wait) for M/M/c recomputed in 60-digit arithmetic. 141.6667 is the rounded
# display of the offered load 425/3 Erlangs, and the value below is for 425 / 3.
ERLANG_C_CASES = [
    (50, 48.0, 0.694455611196834),
    (100, 96.0, 0.587281115472356),
    (144, 425 / 3, 0.780247606109520),
    (500, 487.0, 0.446474545303075),
    (1000, 990.0, 0.659080421880854),
]


@pytest.mark.parametrize(("servers", "load", "expected"), ERLANG_C_CASES)
def test_erlang_c_hard_cases(servers, load, expected):
    assert erlang_c(servers, load) == pytest.approx(expected, abs=1e-12, rel=0)


def test_erlang_c_published_500_server_value_is_wrong():
    assert abs(erlang_c(500, 487.0) - 0.45269) > 1e-3


def test_erlang_c_rounded_load_differs_from_exact_third():
    # The literal 141.6667 is 3.3e-5 Erlangs above 425/3, which moves P(wait) in the
    # sixth decimal: the two must not be confused.
    assert erlang_c(144, 141.6667) == pytest.approx(0.7802504839312558, abs=1e-12)


def test_erlang_c_vectorized_matches_scalars():
    servers = np.array([case[0] for case in ERLANG_C_CASES])
    loads = np.array([case[1] for case in ERLANG_C_CASES])
    values = erlang_c(servers, loads)
    assert isinstance(values, np.ndarray)
    assert values.shape == (5,)
    for value, case in zip(values, ERLANG_C_CASES, strict=True):
        assert value == pytest.approx(case[2], abs=1e-12, rel=0)


def test_erlang_c_broadcasts_grid():
    servers = np.arange(1, 6)[:, None]
    loads = np.array([0.1, 0.5, 0.9])[None, :]
    values = erlang_c(servers, loads)
    assert values.shape == (5, 3)
    for i in range(5):
        for j in range(3):
            expected = reference.erlang_c(int(servers[i, 0]), float(loads[0, j]))
            assert values[i, j] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(
    ("servers", "load"),
    [
        (1, 0.5),
        (2, 1.8),
        (64, 60.0),
        (65, 60.0),
        (170, 160.0),
        (171, 160.0),
        (2000, 1999.0),
        (2000, 10.0),
        (5000, 7000.0),
        (20000, 19950.5),
        (100000, 99000.0),
        (100000, 99990.0),
        (100000, 150000.0),
    ],
)
def test_erlang_b_matches_decimal_recursion(servers, load):
    expected = reference.erlang_b(servers, load)
    assert erlang_b(servers, load) == pytest.approx(expected, rel=1e-13, abs=1e-300)


def test_erlang_b_both_methods_agree_at_threshold():
    # 64 servers use the recursion and 65 the Poisson ratio; B(65) follows from
    # B(64) by one step of the recursion.
    load = 63.0
    b64 = erlang_b(64, load)
    assert erlang_b(65, load) == pytest.approx(
        load * b64 / (65 + load * b64), rel=1e-14
    )


def test_erlang_b_zero_load_is_zero():
    assert erlang_b(10, 0.0) == 0.0
    assert erlang_c(10, 0.0) == 0.0


def test_erlang_b_one_server():
    assert erlang_b(1, 3.0) == pytest.approx(0.75, rel=1e-15)


def test_erlang_c_one_server_is_utilization():
    assert erlang_c(1, 0.7) == pytest.approx(0.7, rel=1e-15)


def test_erlang_c_unstable_raises():
    with pytest.raises(UnstableSystemError, match=r"offered_load 10\.0 is at or above"):
        erlang_c(10, 10.0)


def test_erlang_c_unstable_array_names_index():
    with pytest.raises(UnstableSystemError, match=r"12\.0 at index 2"):
        erlang_c(10, np.array([1.0, 9.0, 12.0]))


def test_erlang_c_unstable_infinite_policy_gives_one():
    values = erlang_c(10, np.array([5.0, 10.0, 12.0]), on_unstable="infinite")
    assert values[1] == 1.0
    assert values[2] == 1.0
    assert 0 < values[0] < 1


def test_erlang_c_bad_policy_rejected():
    with pytest.raises(ParameterError, match="on_unstable must be one of"):
        erlang_c(10, 5.0, on_unstable="clip")


@pytest.mark.parametrize("servers", [0, -1, 2.5, np.inf])
def test_erlang_rejects_bad_server_count(servers):
    with pytest.raises(ParameterError, match="servers must be a whole number"):
        erlang_b(servers, 1.0)


@pytest.mark.parametrize("load", [-1.0, np.inf, np.nan])
def test_erlang_rejects_bad_load(load):
    with pytest.raises(ParameterError, match="offered_load"):
        erlang_b(5, load)


def test_erlang_probabilities_stay_in_unit_interval():
    rng = np.random.default_rng(7)
    servers = rng.integers(1, 5000, 2000)
    loads = servers * rng.uniform(0.0, 0.999, 2000)
    waits = erlang_c(servers, loads)
    blocks = erlang_b(servers, loads)
    assert np.all((waits >= 0) & (waits <= 1))
    assert np.all((blocks >= 0) & (blocks <= 1))
    assert np.all(waits >= blocks)


SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)


def _relative_errors(cases: int, max_servers: int, seed: int):
    # Log-uniform server counts from 100 and loads ρ = A / c from 0.3 to 0.999,
    # the range where P(wait) spans 1 down to below the smallest double.
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(cases):
        servers = int(10 ** rng.uniform(2.0, np.log10(max_servers)))
        load = servers * float(rng.uniform(0.3, 0.999))
        exact = reference.erlang_c_decimal(servers, load)
        value = Decimal(float(erlang_c(servers, load)))
        rows.append((servers, load, exact, float(abs(value - exact) / exact)))
    return rows


def _check_accuracy(rows):
    for servers, load, exact, error in rows:
        where = f"c = {servers}, A = {load!r}, P(wait) = {float(exact):.3g}"
        if exact >= Decimal("1e-60"):
            assert error < 1e-13, where
        elif exact >= Decimal(SMALLEST_NORMAL):
            assert error < 1e-12, where


def test_erlang_c_accuracy_sweep():
    rows = _relative_errors(40, 20_000, seed=14)
    assert sum(exact >= Decimal("1e-60") for _, _, exact, _ in rows) >= 10
    _check_accuracy(rows)


@pytest.mark.slow
def test_erlang_c_accuracy_sweep_to_100000_servers():
    _check_accuracy(_relative_errors(400, 100_000, seed=15))
