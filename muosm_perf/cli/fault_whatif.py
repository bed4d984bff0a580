"""``muosm fault-whatif STORE ...``: failure scenarios and supervision strategies."""

from __future__ import annotations

import argparse
import json

from muosm_perf.analysis.outages import observation_window
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import DEFAULT_POLICY, POLICIES, UNSCHEDULED
from muosm_perf.whatif.fault_impact import evaluate_scenario, scenario_events
from muosm_perf.whatif.fault_replay import (
    DEFAULT_STRATEGIES,
    compare_scenario,
    compare_supervision,
)
from muosm_perf.whatif.fault_scenarios import LEVELS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fault-whatif`` subcommand."""
    parser = subparsers.add_parser(
        "fault-whatif",
        help="predict failure scenarios and compare supervision strategies",
        description=(
            "Rewrite the machine history of a store with a failure scenario (a "
            "scaled failure rate, a platform, switch or the whole cell failing at a "
            "chosen time) and compare it with the observed history: availability, "
            "MTBF, MTTR, and the attempts killed and work lost with the observed "
            "placement kept. With --replay or --supervision, also replay both "
            "histories through the scheduler under each supervision strategy: "
            "lost work, restarts sent to the scheduler, time to recover and "
            "scheduling delay. Without a scenario, --supervision compares "
            "strategies under the observed failures."
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
        "--replay",
        action="store_true",
        help="replay the observed and the scenario histories (slower)",
    )
    parser.add_argument(
        "--supervision",
        action="append",
        metavar="STRATEGY",
        help="supervision strategy to replay, repeatable: immediate, "
        "backoff[:BASE_S[:MAX_S]], give-up:N, each with an optional +group "
        "(default with a scenario: immediate; without one: "
        f"{', '.join(DEFAULT_STRATEGIES)})",
    )
    parser.add_argument(
        "--policy",
        default=DEFAULT_POLICY,
        choices=POLICIES,
        metavar="NAME",
        help=f"scheduling policy of the replays (default {DEFAULT_POLICY})",
    )
    for flag, default, text in (
        ("--cpu-overcommit", 1.0, "factor on each machine's CPU capacity"),
        ("--memory-overcommit", 1.0, "factor on each machine's memory capacity"),
        ("--job-decision-s", 0.0, "scheduler decision time per job batch, seconds"),
        ("--task-decision-s", 0.0, "scheduler decision time per task, seconds"),
    ):
        parser.add_argument(
            flag, type=float, default=default, help=f"{text} (default {default:g})"
        )
    parser.add_argument(
        "--schedulers",
        type=int,
        default=1,
        help="schedulers deciding in parallel in the replays (default 1)",
    )
    parser.add_argument(
        "--unscheduled",
        default="replay",
        choices=UNSCHEDULED,
        help="what the replays do with attempts the trace never scheduled "
        "(default: replay)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the scenario's random draws and of the replays",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the full result as JSON"
    )
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Build the scenario, evaluate it and print the comparison."""
    has_scenario = args.scale_failures is not None or args.fail_level is not None
    if not has_scenario and not args.supervision:
        args.parser.error(
            "give a scenario (--scale-failures, --fail-level) or --supervision "
            "strategies to compare"
        )
    if args.fail_level is not None and args.fail_at is None:
        args.parser.error("--fail-level needs --fail-at SECONDS")
    if args.fail_level in ("platform", "domain") and args.fail_key is None:
        args.parser.error(f"--fail-level {args.fail_level} needs --fail-key ID")
    store = TraceStore(args.store)
    replay_options = {
        "policy": SchedulerPolicy.parse(
            args.policy,
            cpu_overcommit=args.cpu_overcommit,
            memory_overcommit=args.memory_overcommit,
            job_decision_s=args.job_decision_s,
            task_decision_s=args.task_decision_s,
            schedulers=args.schedulers,
            seed=args.seed,
        ),
        "seed": args.seed,
        "unscheduled": args.unscheduled,
    }
    if not has_scenario:
        result = compare_supervision(store, tuple(args.supervision), **replay_options)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(format_strategies(result["runs"]))
            endings = result["observed_removal_endings"]
            print(
                f"observed endings attributed to removals: {endings['total']:,} "
                f"(EVICT {endings['EVICT']:,}, KILL {endings['KILL']:,}, "
                f"LOST {endings['LOST']:,})"
            )
        return 0

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
    if args.replay or args.supervision:
        strategies = tuple(args.supervision or ("immediate",))
        result["replay"] = compare_scenario(store, events, strategies, **replay_options)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_comparison(result))
    if "replay" in result:
        print("replay of the observed history")
        print(format_strategies(result["replay"]["baseline"]["runs"]))
        print("replay of the scenario")
        print(format_strategies(result["replay"]["scenario"]["runs"]))
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


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def format_strategies(runs: list[dict]) -> str:
    """Format one line per replayed supervision strategy."""
    lines = [
        f"{'supervision':<22}{'kills':>8}{'restarts':>10}{'given up':>10}"
        f"{'peak/min':>10}{'lost core-s':>14}{'recovery p50 s':>16}"
        f"{'p90 s':>9}{'unrecovered':>13}"
    ]
    for run in runs:
        recovery = run["recovery_s"]
        lines.append(
            f"{run['supervision']:<22}{run['kills']:>8,}{run['restarts']:>10,}"
            f"{run['given_up']:>10,}{run['restarts_peak_per_minute']:>10,}"
            f"{run['lost_cpu_core_s']:>14,.0f}{_seconds(recovery['p50']):>16}"
            f"{_seconds(recovery['p90']):>9}{run['unrecovered_at_end']:>13,}"
        )
    return "\n".join(lines)
