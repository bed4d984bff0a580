"""The order of machines by free CPU against a brute-force best-fit and worst-fit."""

from __future__ import annotations

import numpy as np
import pytest

from muosm_perf.kernels._order import (
    new_order,
    order_best_fit,
    order_contains,
    order_insert,
    order_remove,
    order_worst_fit,
)


def brute_force(machines, cpu, need, largest):
    fitting = [
        m
        for m, (free_cpu, free_memory) in machines.items()
        if free_cpu >= cpu and free_memory >= need
    ]
    if not fitting:
        return -1
    sign = -1.0 if largest else 1.0
    return min(fitting, key=lambda m: (sign * machines[m][0], m))


@pytest.mark.parametrize("seed", range(6))
def test_order_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 40))
    order = new_order(size)
    present = {}
    # Coarse values make equal free CPU, and so ties, common.
    values = np.array([-0.25, 0.0, 0.25, 0.5, 0.75, 1.0])
    for _ in range(400):
        m = int(rng.integers(0, size))
        if m in present and rng.random() < 0.3:
            order_remove(order, m)
            del present[m]
        else:
            free = (float(rng.choice(values)), float(rng.choice(values)))
            if m in present:
                order_remove(order, m)
            order_insert(order, m, *free)
            present[m] = free
        for m in range(size):
            assert order_contains(order, m) == (m in present)
        cpu, need = float(rng.choice(values)), float(rng.choice(values))
        assert order_best_fit(order, cpu, need) == brute_force(
            present, cpu, need, largest=False
        )
        assert order_worst_fit(order, cpu, need) == brute_force(
            present, cpu, need, largest=True
        )


def test_empty_order():
    order = new_order(3)
    assert order_best_fit(order, 0.0, 0.0) == -1
    assert order_worst_fit(order, 0.0, 0.0) == -1


def test_one_machine_order():
    order = new_order(1)
    order_insert(order, 0, 0.5, 0.25)
    assert order_best_fit(order, 0.5, 0.25) == 0
    assert order_best_fit(order, 0.5, 0.5) == -1
    assert order_worst_fit(order, 0.75, 0.0) == -1
    order_remove(order, 0)
    assert not order_contains(order, 0)
