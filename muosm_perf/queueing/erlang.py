"""Erlang B and Erlang C for any number of servers, vectorized over arrays.

Both take the offered load A = λ / μ in Erlangs and the server count c, and broadcast
arrays of either. The textbook expressions with A^c / c! overflow a double past about
170 servers; here Erlang B comes from a stable recursion or a log-space Poisson ratio
(see :mod:`muosm_perf.kernels.erlang`), and Erlang C from Erlang B by

    C(c, A) = c B(c, A) / (c - A (1 - B(c, A)))

(Kleinrock, *Queueing Systems* vol. 1, 1975, eqs. 3.33 and 3.46; Cooper,
*Introduction to Queueing Theory*, 2nd ed., 1981, §3.4). Against 60-digit
arithmetic up to 100,000 servers, the relative error of Erlang C stays below 1e-13
where it is at least 1e-60 and below 1e-12 down to the smallest normal double
(tests/test_erlang.py checks both bounds on seeded sweeps).
"""

from __future__ import annotations

import numpy as np
import scipy.special

from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.kernels.erlang import _erlang_b_kernel, needs_distribution
from muosm_perf.queueing._checks import (
    _first_bad,
    as_output,
    non_negative,
    server_count,
)

UNSTABLE_POLICIES = ("raise", "infinite")


def _erlang_b_array(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    servers, load = np.broadcast_arrays(servers, load)
    shape = servers.shape
    flat_servers = np.ascontiguousarray(servers.ravel(), dtype=np.int64)
    flat_load = np.ascontiguousarray(load.ravel(), dtype=np.float64)

    distribution = np.zeros(flat_load.shape[0])
    mask = needs_distribution(flat_servers, flat_load)
    if mask.any():
        distribution[mask] = scipy.special.gammaincc(
            flat_servers[mask] + 1.0, flat_load[mask]
        )
    out = np.empty(flat_load.shape[0])
    _erlang_b_kernel(flat_servers, flat_load, distribution, out)
    return out.reshape(shape)


def erlang_b(servers: object, offered_load: object) -> float | np.ndarray:
    """Compute the Erlang B blocking probability of an M/M/c/c loss system.

    Parameters
    ----------
    servers
        Number of servers c, a whole number >= 1 (scalar or array).
    offered_load
        Offered load A = λ / μ in Erlangs, finite and >= 0 (scalar or array).

    Returns
    -------
    float or numpy.ndarray
        Probability that an arrival finds every server busy, broadcast over the
        inputs. Any load is stable in a loss system, so no load is rejected.

    Notes
    -----
    Erlang's loss formula B(c, A) = (A^c / c!) / Σ_{k=0}^{c} A^k / k! (Erlang, 1917;
    Kleinrock vol. 1, eq. 3.46), evaluated without factorials.

    Examples
    --------
    >>> round(erlang_b(10, 5.0), 12)
    0.018384570336
    """
    servers_array = server_count("servers", servers)
    load = non_negative("offered_load", offered_load)
    return as_output(_erlang_b_array(servers_array, load))


def erlang_c(
    servers: object, offered_load: object, *, on_unstable: str = "raise"
) -> float | np.ndarray:
    """Compute the Erlang C probability that an arrival waits in an M/M/c queue.

    Parameters
    ----------
    servers
        Number of servers c, a whole number >= 1 (scalar or array).
    offered_load
        Offered load A = λ / μ in Erlangs, finite and >= 0 (scalar or array).
    on_unstable
        ``"raise"`` (default) raises UnstableSystemError if any A >= c;
        ``"infinite"`` returns 1.0 for those elements instead, because every
        arrival waits in a queue that grows without bound.

    Returns
    -------
    float or numpy.ndarray
        P(wait > 0), broadcast over the inputs.

    Raises
    ------
    UnstableSystemError
        If A >= c for some element and ``on_unstable`` is ``"raise"``.

    Notes
    -----
    C(c, A) = c B / (c - A (1 - B)) with B the Erlang B value (Kleinrock vol. 1,
    eq. 3.40 rewritten through eq. 3.46).

    Examples
    --------
    >>> round(erlang_c(1000, 990.0), 12)
    0.659080421881
    """
    if on_unstable not in UNSTABLE_POLICIES:
        raise ParameterError(
            f"on_unstable must be one of {UNSTABLE_POLICIES}, got {on_unstable!r}"
        )
    servers_array = server_count("servers", servers)
    load = non_negative("offered_load", offered_load)
    servers_array, load = np.broadcast_arrays(servers_array, load)
    unstable = load >= servers_array
    if unstable.any() and on_unstable == "raise":
        raise UnstableSystemError(
            "M/M/c queue has no steady state: offered_load "
            f"{_first_bad(load, unstable)} is at or above the server count "
            f"{_first_bad(servers_array.astype(np.float64), unstable)}; lower the "
            "arrival rate or add servers"
        )

    blocking = _erlang_b_array(servers_array, load)
    with np.errstate(divide="ignore", invalid="ignore"):
        waiting = servers_array * blocking / (servers_array - load * (1.0 - blocking))
    waiting = np.where(unstable, 1.0, waiting)
    return as_output(waiting)
