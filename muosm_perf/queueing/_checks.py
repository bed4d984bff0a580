"""Input checks shared by the queueing formulas.

Every check raises :class:`~muosm_perf.errors.ParameterError` naming the parameter,
the bad value (and its index for arrays) and what to do, and the stability check
raises :class:`~muosm_perf.errors.UnstableSystemError`.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.errors import ParameterError, UnstableSystemError


def _first_bad(values: np.ndarray, bad: np.ndarray) -> str:
    if values.ndim == 0:
        return f"{values.item()!r}"
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = index[0] if len(index) == 1 else index
    return f"{values[index].item()!r} at index {where}"


def as_float_array(name: str, value: object) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting NaN and non-numbers."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ParameterError(
            f"{name} must be a number or an array of numbers, got {value!r}"
        ) from error
    bad = np.isnan(array)
    if bad.any():
        raise ParameterError(f"{name} is NaN ({_first_bad(array, bad)}); pass a number")
    return array


def positive(name: str, value: object, *, allow_infinite: bool = False) -> np.ndarray:
    """Return ``value`` as a float array after checking that it is > 0 (and finite)."""
    array = as_float_array(name, value)
    bad = array <= 0
    if not allow_infinite:
        bad |= ~np.isfinite(array)
    if bad.any():
        raise ParameterError(
            f"{name} must be positive and finite, got {_first_bad(array, bad)}"
        )
    return array


def non_negative(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a float array after checking that it is finite and >= 0."""
    array = as_float_array(name, value)
    bad = (array < 0) | ~np.isfinite(array)
    if bad.any():
        raise ParameterError(
            f"{name} must be finite and non-negative, got {_first_bad(array, bad)}"
        )
    return array


def server_count(name: str, value: object) -> np.ndarray:
    """Return ``value`` as an int64 array after checking for whole numbers >= 1."""
    array = as_float_array(name, value)
    bad = (array < 1) | ~np.isfinite(array) | (array != np.floor(array))
    if bad.any():
        raise ParameterError(
            f"{name} must be a whole number of servers >= 1, "
            f"got {_first_bad(array, bad)}"
        )
    return array.astype(np.int64)


def probability_levels(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a float array after checking 0 <= value < 1."""
    array = as_float_array(name, value)
    bad = (array < 0) | (array >= 1)
    if bad.any():
        raise ParameterError(
            f"{name} must be a probability in [0, 1), got {_first_bad(array, bad)}; "
            "pass 0.99 for the 99th percentile"
        )
    return array


def require_stable(
    utilization: np.ndarray, what: str, hint: str = "lower the arrival rate"
) -> None:
    """Raise UnstableSystemError if any utilization is >= 1.

    Parameters
    ----------
    utilization
        Offered load per server, ρ = λ / (c μ).
    what
        The system, named in the message (for example ``"M/M/c queue"``).
    hint
        What to change, appended to the message.
    """
    bad = ~(utilization < 1)
    if bad.any():
        raise UnstableSystemError(
            f"{what} has no steady state: utilization (arrival rate / capacity) is "
            f"{_first_bad(utilization, bad)}, at or above 1; {hint} or add capacity"
        )


def as_output(array: np.ndarray) -> float | np.ndarray:
    """Return a Python float for a 0-d array and the array otherwise."""
    if np.ndim(array) == 0:
        return float(array)
    return array
