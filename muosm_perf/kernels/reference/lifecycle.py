"""Reference attempt derivation in plain Python, for comparison with the kernel.

It takes events as dictionaries and applies the same rules as
:mod:`muosm_perf.kernels.lifecycle`, written for reading rather than speed.
"""

from __future__ import annotations

import math
from itertools import groupby
from typing import Any

from muosm_perf.model.lifecycle import TERMINAL_EVENTS, Event

PENDING_UPDATES = {Event.UPDATE_PENDING, Event.QUEUE, Event.ENABLE}

# Same-instant order of events from each state: kinds listed first are applied first.
ORDER_FROM_PENDING = [
    {Event.SCHEDULE},
    PENDING_UPDATES,
    set(TERMINAL_EVENTS),
    {Event.SUBMIT},
    {Event.UPDATE_RUNNING},
]
ORDER_FROM_RUNNING = [
    {Event.UPDATE_RUNNING},
    set(TERMINAL_EVENTS),
    {Event.SUBMIT},
    PENDING_UPDATES,
    {Event.SCHEDULE},
]
ORDER_FROM_DEAD = [
    {Event.SUBMIT},
    PENDING_UPDATES,
    {Event.SCHEDULE},
    set(TERMINAL_EVENTS),
    {Event.UPDATE_RUNNING},
]


def _rank(state: str, event: Event) -> int:
    order = {
        "pending": ORDER_FROM_PENDING,
        "running": ORDER_FROM_RUNNING,
    }.get(state, ORDER_FROM_DEAD)
    for rank, kinds in enumerate(order):
        if event in kinds:
            return rank
    raise AssertionError(f"event {event!r} missing from the order of {state}")


def _new_attempt(number: int, **fields: Any) -> dict[str, Any]:
    attempt = {
        "attempt": number,
        "submit_class": -1,
        "submit_time_us": None,
        "schedule_class": -1,
        "schedule_time_us": None,
        "end_class": -1,
        "end_time_us": None,
        "end_event": None,
        "missing_submit": False,
        "cell": None,
        "priority": None,
        "scheduling_class": None,
        "cpu": None,
        "memory": None,
        "disk": None,
    }
    attempt.update(fields)
    return attempt


def _take_requests(attempt: dict[str, Any], event: dict[str, Any]) -> None:
    for name in ("priority", "scheduling_class", "cpu", "memory", "disk"):
        value = event.get(name)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            attempt[name] = value


def derive_attempts_reference(
    events: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Derive attempts of the processes in ``events``.

    Parameters
    ----------
    events
        Dictionaries with ``process`` (any key), ``time_class`` (0, 1, 2),
        ``time_us``, ``event`` (an :class:`Event`), and optionally ``cell``,
        ``priority``, ``scheduling_class``, ``cpu``, ``memory``, ``disk``, sorted by
        process, time class, time and input order.

    Returns
    -------
    tuple of (list, dict)
        Attempt dictionaries (with ``process``) and anomaly counts.
    """
    anomalies = {
        "orphan_terminal": 0,
        "schedule_without_submit": 0,
        "submit_while_pending": 0,
        "submit_while_running": 0,
        "schedule_while_running": 0,
        "update_without_attempt": 0,
        "update_state_mismatch": 0,
    }
    attempts: list[dict[str, Any]] = []
    for process, process_events in groupby(events, key=lambda e: e["process"]):
        state = "none"
        current: dict[str, Any] | None = None
        number = 0

        def instant(event: dict[str, Any]) -> tuple[int, int | None]:
            if event["time_class"] == 1:
                return (1, event["time_us"])
            return (event["time_class"], None)

        for _, same_instant in groupby(process_events, key=instant):
            remaining = list(same_instant)
            while remaining:
                # Stable: among equal ranks the earliest input event wins.
                chosen = min(remaining, key=lambda e: _rank(state, Event(e["event"])))
                remaining.remove(chosen)
                kind = Event(chosen["event"])
                tc = chosen["time_class"]
                t = chosen["time_us"] if tc == 1 else None

                if kind == Event.SUBMIT:
                    if state == "pending":
                        anomalies["submit_while_pending"] += 1
                        _take_requests(current, chosen)
                        continue
                    if state == "running":
                        anomalies["submit_while_running"] += 1
                        current["end_class"] = 3
                    number += 1
                    current = _new_attempt(
                        number, process=process, submit_class=tc, submit_time_us=t
                    )
                    attempts.append(current)
                    state = "pending"
                    _take_requests(current, chosen)
                elif kind == Event.SCHEDULE:
                    if state == "running":
                        anomalies["schedule_while_running"] += 1
                        continue
                    if state != "pending":
                        anomalies["schedule_without_submit"] += 1
                        number += 1
                        current = _new_attempt(
                            number, process=process, missing_submit=True
                        )
                        attempts.append(current)
                    current["schedule_class"] = tc
                    current["schedule_time_us"] = t
                    current["cell"] = chosen.get("cell")
                    state = "running"
                    _take_requests(current, chosen)
                elif kind in TERMINAL_EVENTS:
                    if state in ("pending", "running"):
                        current["end_class"] = tc
                        current["end_time_us"] = t
                        current["end_event"] = kind
                        state = "dead"
                    else:
                        anomalies["orphan_terminal"] += 1
                elif kind == Event.UPDATE_RUNNING:
                    if state in ("none", "dead"):
                        anomalies["update_without_attempt"] += 1
                    elif state != "running":
                        anomalies["update_state_mismatch"] += 1
                elif state in ("none", "dead"):
                    anomalies["update_without_attempt"] += 1
                elif state != "pending":
                    anomalies["update_state_mismatch"] += 1
                else:
                    _take_requests(current, chosen)
    return attempts, anomalies
