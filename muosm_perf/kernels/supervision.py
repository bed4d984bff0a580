"""Supervision: when a process killed by its fault cell is started again.

A supervisor restarts a process that died because its machine failed. Three
policies, and their combination, cover the usual supervisors:

- ``immediate``: resubmit at the instant of the kill;
- ``backoff``: wait ``base_delay_s * factor ** (restarts - 1)``, capped at
  ``max_delay_s``, as exponential-backoff restarters do;
- ``give-up``: resubmit at once but stop after ``max_restarts`` restarts.

``backoff`` also honours ``max_restarts`` when it is set. The ``scope`` says what is
restarted: the killed process alone (``process``, one-for-one in Erlang/OTP terms),
or with it every running process of its group (``group``, one-for-all), which are
killed and restarted under the same rule. The policy is a plain dataclass and
:func:`restart_delay_us` a kernel helper, so any kernel (the replay, failure
what-ifs) can apply the same rule to its own processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import njit

KINDS = ("immediate", "backoff", "give-up")
"""Names of the supervision policies, in the order of their kernel codes."""

SCOPES = ("process", "group")
"""What a supervisor restarts when a process dies, in the order of their codes."""

GIVE_UP = -1
"""Delay :func:`restart_delay_us` returns when the process is not restarted."""


@dataclass(frozen=True)
class SupervisionPolicy:
    """Rule for resubmitting a process killed by its fault cell.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    base_delay_s
        First backoff delay in seconds (``backoff`` only).
    factor
        Growth of the delay per further restart (``backoff`` only), >= 1.
    max_delay_s
        Cap of the delay in seconds (``backoff`` only).
    max_restarts
        Restarts allowed per process; -1 for no limit (``give-up`` needs >= 0).
    scope
        One of :data:`SCOPES`: restart the killed process, or its whole group.
    """

    kind: str = "immediate"
    base_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 600.0
    max_restarts: int = -1
    scope: str = "process"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(
                f"supervision kind {self.kind!r} is not known; choose one of: "
                f"{', '.join(KINDS)}"
            )
        if self.scope not in SCOPES:
            raise ParameterError(
                f"supervision scope {self.scope!r} is not known; choose one of: "
                f"{', '.join(SCOPES)}"
            )
        if self.kind == "give-up" and self.max_restarts < 0:
            raise ParameterError(
                "supervision 'give-up' needs max_restarts >= 0, got "
                f"{self.max_restarts}"
            )
        for name in ("base_delay_s", "max_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(
                    f"supervision {name} is {value}; give a finite number of "
                    "seconds >= 0"
                )
        if self.kind == "backoff" and self.base_delay_s > self.max_delay_s:
            raise ParameterError(
                f"supervision backoff starts at {self.base_delay_s:g} s, above its "
                f"cap of {self.max_delay_s:g} s; give BASE_S <= MAX_S"
            )
        if not (math.isfinite(self.factor) and self.factor >= 1):
            raise ParameterError(
                f"supervision factor is {self.factor}; give a finite number >= 1"
            )

    @classmethod
    def parse(cls, text: str) -> SupervisionPolicy:
        """Read ``immediate``, ``backoff[:BASE_S[:MAX_S]]`` or ``give-up:N``.

        A suffix ``+group`` restarts the whole group, for example
        ``backoff:1:600+group``.

        Raises
        ------
        ParameterError
            If the text names no policy or a number is invalid.
        """
        body, plus, scope = text.partition("+")
        if plus:
            if scope not in SCOPES:
                raise ParameterError(
                    f"supervision {text!r}: scope {scope!r} is not known; write "
                    "+group or +process"
                )
            return replace(cls.parse(body), scope=scope)
        kind, *fields = text.split(":")
        try:
            numbers = [float(field) for field in fields]
        except ValueError:
            raise ParameterError(
                f"supervision {text!r}: {':'.join(fields)!r} is not a number; "
                "write for example backoff:1:600 or give-up:3"
            ) from None
        if kind == "immediate" and not numbers:
            return cls()
        if kind == "backoff" and len(numbers) <= 2:
            defaults = cls()
            base = numbers[0] if numbers else defaults.base_delay_s
            cap = numbers[1] if len(numbers) > 1 else defaults.max_delay_s
            return cls(kind="backoff", base_delay_s=base, max_delay_s=cap)
        if kind == "give-up" and len(numbers) == 1 and numbers[0].is_integer():
            return cls(kind="give-up", max_restarts=int(numbers[0]))
        raise ParameterError(
            f"supervision {text!r} is not valid; write immediate, "
            "backoff[:BASE_S[:MAX_S]] or give-up:N"
        )

    @property
    def name(self) -> str:
        """The policy in the form :meth:`parse` reads."""
        suffix = "+group" if self.scope == "group" else ""
        if self.kind == "backoff":
            return f"backoff:{self.base_delay_s:g}:{self.max_delay_s:g}{suffix}"
        if self.kind == "give-up":
            return f"give-up:{self.max_restarts}{suffix}"
        return f"immediate{suffix}"

    def kernel_arguments(self) -> tuple[int, int, float, int, int]:
        """Return ``(kind code, base delay µs, factor, max delay µs, max restarts)``.

        The kind code is the position in :data:`KINDS`; the scope is apart, in
        :attr:`scope_code`.
        """
        return (
            KINDS.index(self.kind),
            round(self.base_delay_s * 1e6),
            float(self.factor),
            round(self.max_delay_s * 1e6),
            int(self.max_restarts),
        )

    @property
    def scope_code(self) -> int:
        """The scope's position in :data:`SCOPES`, as the kernel takes it."""
        return SCOPES.index(self.scope)


@njit
def restart_delay_us(kind, restarts, base_us, factor, max_us, max_restarts):
    """Return the delay (µs) before restart number ``restarts``, or :data:`GIVE_UP`.

    ``restarts`` counts from 1 for the first restart of a process.
    """
    if max_restarts >= 0 and restarts > max_restarts:
        return GIVE_UP
    if kind != 1:
        return 0
    delay = float(base_us)
    for _ in range(restarts - 1):
        delay *= factor
        if delay >= max_us:
            return max_us
    return min(int(delay), max_us)
