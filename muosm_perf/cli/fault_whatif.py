"""``muosm fault-whatif STORE ...``: predict what a failure scenario does."""

from __future__ import annotations

import argparse
import json

from muosm_perf.analysis.outages import observation_window
from muosm_perf.model.store import TraceStore
from muosm_perf.whatif.fault_impact import evaluate_scenario, scenario_events
from muosm_perf.whatif.fault_scenarios import LEVELS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fault-whatif`` subcommand."""
    parser = subparsers.add_parser(
        "fault-whatif",
        help="predict availability and lost work under a failure scenario",
        description=(
            "Rewrite the machine history of a store with a failure scenario (a "
            "scaled failure rate, a platform, switch or the whole cell failing at a "
            "chosen time) and compare it with the observed history: availability, "
            "MTBF, MTTR, and the attempts killed and work lost with the observed "
            "placement kept."
        ),
    )
    parser.add_argument("store", metavar="STORE", help="trace store folder")
    parser.add_argument(
        "--scale-failures",
        type=float,
        metavar="FACTOR",
        help="multiply the number of machine outages by FACTOR (0 removes them)",
    )
    parser.add_argument(
        "--fail-level",
        choices=LEVELS,
        help="fault-cell level to take down as a whole",
    )
    parser.add_argument(
        "--fail-key",
        metavar="ID",
        help="platform or switch ID to take down (not needed for 'cell')",
    )
    parser.add_argument(
        "--fail-at",
        type=float,
        metavar="SECONDS",
        help="time of the failure in seconds on the trace clock (as in the output "
        "of 'muosm faults')",
    )
    parser.add_argument(
        "--fail-for",
        type=float,
        metavar="SECONDS",
        help="length of the outage in seconds (default: to the end of the trace)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the scenario's random draws"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the full result as JSON"
    )
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Build the scenario, evaluate it and print the comparison."""
    if args.scale_failures is None and args.fail_level is None:
        args.parser.error("give a scenario: --scale-failures, or --fail-level")
    if args.fail_level is not None and args.fail_at is None:
        args.parser.error("--fail-level needs --fail-at SECONDS")
    if args.fail_level in ("platform", "domain") and args.fail_key is None:
        args.parser.error(f"--fail-level {args.fail_level} needs --fail-key ID")
    store = TraceStore(args.store)
    window = observation_window(store)
    events = scenario_events(
        store,
        window,
        failure_rate_factor=args.scale_failures,
        fail_level=args.fail_level,
        fail_key=args.fail_key,
        fail_at_us=None if args.fail_at is None else round(args.fail_at * 1e6),
        fail_duration_s=args.fail_for,
        seed=args.seed,
    )
    result = evaluate_scenario(store, events, window)
    result["scenario"]["description"] = describe(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_comparison(result))
    return 0


def describe(args: argparse.Namespace) -> str:
    """Describe the scenario of the command line in words."""
    parts = []
    if args.scale_failures is not None:
        parts.append(f"failure rate x{args.scale_failures:g}")
    if args.fail_level is not None:
        target = (
            "the whole cell"
            if args.fail_level == "cell"
            else (f"{args.fail_level} {args.fail_key}")
        )
        length = "to the end" if args.fail_for is None else f"for {args.fail_for:g} s"
        parts.append(f"{target} down at {args.fail_at:g} s {length}")
    return ", ".join(parts)


_ROWS = (
    ("availability", "availability", "{:.4%}"),
    ("MTBF (days)", "mtbf_s", "days"),
    ("MTTR (hours)", "mttr_s", "hours"),
    ("removals", "removals", "{:,}"),
    ("removals in task window", "removals_in_task_window", "{:,}"),
    ("attempts killed", "killed_attempts", "{:,}"),
    ("resubmissions per hour", "resubmissions_per_hour", "{:,.1f}"),
    ("work lost (core-s)", "lost_cpu_core_s", "{:,.0f}"),
)


def _format(value: float | int | None, style: str) -> str:
    if value is None:
        return "n/a"
    if style == "days":
        return f"{value / 86_400:,.2f}"
    if style == "hours":
        return f"{value / 3_600:,.2f}"
    return style.format(value)


def format_comparison(result: dict) -> str:
    """Format baseline and scenario side by side as text lines."""
    baseline, scenario = result["baseline"], result["scenario"]
    lines = [
        f"scenario: {scenario.get('description', '')}",
        f"{'':<26}{'observed':>16}{'scenario':>16}",
    ]
    for label, key, style in _ROWS:
        lines.append(
            f"{label:<26}{_format(baseline[key], style):>16}"
            f"{_format(scenario[key], style):>16}"
        )
    lines.append(
        "Placement as observed: killed attempts are not rescheduled here, so "
        "delays are not predicted."
    )
    return "\n".join(lines)
