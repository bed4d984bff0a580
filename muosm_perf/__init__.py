"""muosm-perf: performance modelling and trace analysis of distributed systems."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from muosm_perf.model.store import TraceStore
    from muosm_perf.predict.replay import ReplayResult


def replay(store: str | Path | TraceStore, **options: Any) -> ReplayResult:
    """Replay a trace store through a scheduling policy and validate the prediction.

    ``store`` is a store folder or an open :class:`~muosm_perf.model.store.TraceStore`;
    ``options`` are those of :func:`muosm_perf.predict.replay.replay` (``policy``,
    ``seed``, ``grid_step_s``, ``unscheduled``). The import is deferred so that
    ``import muosm_perf`` stays light.
    """
    from muosm_perf.model.store import TraceStore  # noqa: PLC0415
    from muosm_perf.predict.replay import replay as replay_store  # noqa: PLC0415

    if not isinstance(store, TraceStore):
        store = TraceStore(store)
    return replay_store(store, **options)
