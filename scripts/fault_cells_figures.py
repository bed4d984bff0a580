"""Draw the figures of docs/fault-cells.md from a Google 2011 trace store.

Usage::

    python scripts/fault_cells_figures.py STORE [OUTPUT_FOLDER]

OUTPUT_FOLDER defaults to docs/figures beside this script. The last line printed
is a JSON object with the headline figures quoted in the document.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from muosm_perf.analysis.bursts import bursts
from muosm_perf.analysis.faults import analyze_faults, load_fault_history
from muosm_perf.model.store import TraceStore
from muosm_perf.report.faults import (
    failure_timeline_figure,
    survival_curves_figure,
    time_between_failures_figure,
)

DPI = 90


def main(arguments: list[str]) -> int:
    if not 1 <= len(arguments) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    store = TraceStore(arguments[0])
    folder = (
        Path(arguments[1])
        if len(arguments) == 2
        else Path(__file__).resolve().parents[1] / "docs" / "figures"
    )
    folder.mkdir(parents=True, exist_ok=True)
    history = load_fault_history(store)
    analysis = analyze_faults(store, seed=0)
    figures = {
        "fault-timeline.png": failure_timeline_figure(
            history,
            bursts=bursts(history.removals, window_s=analysis["bursts"]["window_s"]),
        ),
        "fault-time-between-failures.png": time_between_failures_figure(history),
        "fault-survival.png": survival_curves_figure(history),
    }
    for name, figure in figures.items():
        figure.savefig(folder / name, dpi=DPI)
    overall = analysis["overall"]
    print(
        json.dumps(
            {
                "machines_removed_share": overall["machines_removed_share"],
                "mtbf_s": overall["mtbf"]["mean_s"],
                "mttr_s": overall["mttr"]["mean_s"],
                "availability": overall["availability"],
                "bursts": analysis["bursts"]["bursts"],
                "figures": sorted(figures),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
