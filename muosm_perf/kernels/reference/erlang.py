"""Erlang B by its recursion in decimal arithmetic with 60 significant digits."""

from __future__ import annotations

from decimal import Decimal, localcontext


def erlang_b(servers: int, offered_load: float) -> float:
    """Return the Erlang B blocking probability for ``servers`` and ``offered_load``.

    The recursion B(k) = A B(k-1) / (k + A B(k-1)) from B(0) = 1 is run in 60-digit
    decimal arithmetic on the exact value of the float ``offered_load``.
    """
    with localcontext() as context:
        context.prec = 60
        load = Decimal(offered_load)
        blocking = Decimal(1)
        for k in range(1, servers + 1):
            blocking = load * blocking / (k + load * blocking)
        return float(blocking)


def erlang_c_decimal(servers: int, offered_load: float) -> Decimal:
    """Return the Erlang C waiting probability as a 60-digit Decimal.

    Unlike :func:`erlang_c`, the result does not underflow below the smallest
    double, so relative errors can be measured in the deep tail.
    """
    with localcontext() as context:
        context.prec = 60
        load = Decimal(offered_load)
        blocking = Decimal(1)
        for k in range(1, servers + 1):
            blocking = load * blocking / (k + load * blocking)
        return servers * blocking / (servers - load * (1 - blocking))


def erlang_c(servers: int, offered_load: float) -> float:
    """Return the Erlang C waiting probability in 60-digit decimal arithmetic."""
    return float(erlang_c_decimal(servers, offered_load))
