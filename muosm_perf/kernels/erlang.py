"""Erlang B kernel: the blocking probability of M/M/c/c for arrays of inputs.

Two methods, chosen per element:

- the recursion B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)), which is exact to a few
  rounding errors and costs O(c); used for small c, and for offered loads at or
  above c, where the Poisson distribution function at c is small and loses
  relative accuracy (or underflows);
- B = p(c) / F(c), the Poisson probability of c over its distribution function at
  c, with log p(c) from Loader's saddle-point expansion (C. Loader, "Fast and
  accurate computation of binomial probabilities", 2000), which avoids the
  cancellation of c log A - A - log c! and keeps relative errors near 1e-15 for any
  c. F(c) is computed by the caller (SciPy's regularized upper incomplete gamma
  function Q(c + 1, A)), because Numba cannot call it.
"""

from __future__ import annotations

import math

import numpy as np

from muosm_perf.kernels._numba import njit

RECURSION_MAX_SERVERS = 64
"""Server counts up to this use the recursion; larger ones the Poisson ratio."""

UNDERFLOW_DISTRIBUTION = 1e-200
"""Below this Poisson distribution function the ratio is replaced by the recursion."""

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)

# Loader's Stirling error δ(n) = log n! - (n + 1/2) log n + n - log √(2π) for
# n = 1..15, computed once from math.lgamma; the terms are small there, so the
# absolute error stays near 1e-15.
_STIRLING_ERROR_TABLE = np.array(
    [0.0]
    + [
        math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _HALF_LOG_TWO_PI
        for n in range(1, 16)
    ]
)


@njit
def _stirling_error(n):
    if n <= 15.0:
        return _STIRLING_ERROR_TABLE[int(n)]
    nn = n * n
    s0 = 1.0 / 12.0
    s1 = 1.0 / 360.0
    s2 = 1.0 / 1260.0
    s3 = 1.0 / 1680.0
    s4 = 1.0 / 1188.0
    if n > 500.0:
        return (s0 - s1 / nn) / n
    if n > 80.0:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35.0:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


SERIES_MAX_RATIO = 0.35
"""The deviance uses Loader's series while |x - mean| / (x + mean) is below this.

Both forms were compared with 50-digit arithmetic on random pairs with c up to
100,000 and A / c from 0.3 to 0.999. Below this ratio the series stayed within 4
ulp of the deviance, and above it the logarithmic form did. The logarithmic form
reached 10 ulp near a ratio of 0.1, and the series 5 ulp near 0.5."""


@njit
def _deviance(x, mean):
    """Return x log(x / mean) + mean - x without cancellation (Loader's bd0).

    The result is the magnitude of log P(X = x), so its absolute error becomes the
    relative error of the probability: each ulp of a deviance of 700 is 1.1e-13.
    """
    if abs(x - mean) < SERIES_MAX_RATIO * (x + mean):
        v = (x - mean) / (x + mean)
        total = (x - mean) * v
        term = 2.0 * x * v
        v = v * v
        j = 1
        while j < 1000:
            term *= v
            updated = total + term / (2 * j + 1)
            if updated == total:
                return updated
            total = updated
            j += 1
        return total
    # log1p of the difference avoids rounding x / mean, an error that x multiplies.
    difference = x - mean
    return x * math.log1p(difference / mean) - difference


@njit
def _log_poisson_probability(k, mean):
    """Return log P(X = k) for X ~ Poisson(mean), k >= 1 and mean > 0."""
    return (
        -_stirling_error(k) - _deviance(k, mean) - _HALF_LOG_TWO_PI - 0.5 * math.log(k)
    )


@njit
def _erlang_b_recursion(servers, load):
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


@njit
def _erlang_b_kernel(servers, load, distribution, out):
    for i in range(servers.shape[0]):
        c = servers[i]
        a = load[i]
        if a == 0.0:
            out[i] = 0.0
        elif (
            c <= RECURSION_MAX_SERVERS
            or a >= c
            or not (distribution[i] >= UNDERFLOW_DISTRIBUTION)
        ):
            out[i] = _erlang_b_recursion(c, a)
        else:
            out[i] = math.exp(_log_poisson_probability(float(c), a)) / distribution[i]


def needs_distribution(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Return the mask of elements for which the kernel reads the distribution."""
    return (servers > RECURSION_MAX_SERVERS) & (load > 0) & (load < servers)
