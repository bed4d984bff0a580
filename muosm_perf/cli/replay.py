"""``muosm replay STORE --policy NAME [--json]``: replay a store and validate it."""

from __future__ import annotations

import argparse
import json
import logging

from muosm_perf.errors import ParameterError
from muosm_perf.kernels.policy import DEFAULT_REFUSE_S, SchedulerPolicy
from muosm_perf.kernels.supervision import SupervisionPolicy
from muosm_perf.model.store import TraceStore
from muosm_perf.predict.replay import (
    DEFAULT_POLICY,
    POLICIES,
    UNSCHEDULED,
    ReplayResult,
    replay,
)

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATES = SchedulerPolicy().candidates


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``replay`` subcommand."""
    parser = subparsers.add_parser(
        "replay",
        help="replay a store through a scheduling policy and compare with the trace",
        description=(
            "Replay the attempts of a trace store through a scheduling policy and "
            "print the predicted scheduling delay per priority band, utilization "
            "and evictions next to what the trace observed."
        ),
    )
    parser.add_argument("store", metavar="STORE", help="trace store folder")
    parser.add_argument(
        "--policy",
        default=DEFAULT_POLICY,
        metavar="NAME",
        help=(
            f"QUEUE+PLACEMENT, one of: {', '.join(POLICIES)} (default "
            f"{DEFAULT_POLICY}); append +preempt for preemption of lower bands or "
            "+offers for the two-level offer model"
        ),
    )
    parser.add_argument(
        "--refuse-s",
        type=float,
        default=DEFAULT_REFUSE_S,
        help=(
            "with +offers, seconds before a declined offer is made to the same "
            f"framework again (default {DEFAULT_REFUSE_S:g})"
        ),
    )
    parser.add_argument(
        "--framework-placements",
        default="",
        metavar="RULES",
        help=(
            "with +offers, comma-separated placement rules of the frameworks, "
            "lowest band first (default: the policy's rule for every framework)"
        ),
    )
    parser.add_argument(
        "--cpu-overcommit",
        type=float,
        default=1.0,
        help="factor on each machine's CPU capacity when placing (default 1)",
    )
    parser.add_argument(
        "--memory-overcommit",
        type=float,
        default=1.0,
        help="factor on each machine's memory capacity when placing (default 1)",
    )
    parser.add_argument(
        "--job-decision-s",
        type=float,
        default=0.0,
        help="scheduler decision time per batch of a job's tasks, seconds",
    )
    parser.add_argument(
        "--task-decision-s",
        type=float,
        default=0.0,
        help="scheduler decision time per task of a batch, seconds",
    )
    parser.add_argument(
        "--schedulers",
        type=int,
        default=1,
        help="schedulers deciding in parallel (default 1)",
    )
    parser.add_argument(
        "--optimistic",
        action="store_true",
        help=(
            "schedulers place directly with optimistic commits (Omega): a decision "
            "whose machine filled up meanwhile is a conflict and is retried; use "
            "it with 'sampled' placement, as with first-fit every scheduler picks "
            "the same machine"
        ),
    )
    parser.add_argument(
        "--candidates",
        type=int,
        default=DEFAULT_CANDIDATES,
        help=f"machines scored by 'sampled' placement (default {DEFAULT_CANDIDATES})",
    )
    parser.add_argument(
        "--supervision",
        default="immediate",
        help=(
            "restart of processes on a removed machine: immediate, "
            "backoff[:BASE_S[:MAX_S]] or give-up:N (default immediate)"
        ),
    )
    parser.add_argument(
        "--unscheduled",
        choices=UNSCHEDULED,
        default="replay",
        help=(
            "attempts the trace never scheduled and left pending: replay them, or "
            "hold them out (default replay)"
        ),
    )
    parser.add_argument(
        "--grid-step-s", type=float, default=None, help="occupancy grid step, seconds"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run)


_FIELD_OPTIONS = {
    "cpu_overcommit": "--cpu-overcommit",
    "memory_overcommit": "--memory-overcommit",
    "job_decision_s": "--job-decision-s",
    "task_decision_s": "--task-decision-s",
    "schedulers": "--schedulers",
    "candidates": "--candidates",
    "refuse_s": "--refuse-s",
    "framework_placements": "--framework-placements",
    "seed": "--seed",
}


def policy_from_arguments(args: argparse.Namespace) -> SchedulerPolicy:
    """Build the scheduling policy from the command-line arguments.

    Raises
    ------
    ParameterError
        On a bad value, naming the option that gave it.
    """
    try:
        policy = _policy(args)
    except ParameterError as error:
        message = str(error)
        for field, option in _FIELD_OPTIONS.items():
            if message.startswith(f"{field} "):
                message = option + message[len(field) :]
                break
        else:
            if message.startswith("supervision"):
                message = f"--supervision {args.supervision!r}: {message}"
            elif not message.startswith("--"):
                message = f"--policy {args.policy!r}: {message}"
        raise ParameterError(message) from None
    if args.refuse_s != DEFAULT_REFUSE_S and not policy.offers:
        logger.warning("--refuse-s applies only with +offers; ignored")
    if policy.offers:
        logger.warning(
            "the offer model offers every machine of a framework's pool at each "
            "pass; on a cell of 12,500 machines a replay takes minutes"
        )
    if args.candidates != DEFAULT_CANDIDATES and policy.placement != "sampled":
        logger.warning("--candidates applies only to 'sampled' placement; ignored")
    return policy


def _policy(args: argparse.Namespace) -> SchedulerPolicy:
    return SchedulerPolicy.parse(
        args.policy,
        candidates=args.candidates,
        cpu_overcommit=args.cpu_overcommit,
        memory_overcommit=args.memory_overcommit,
        job_decision_s=args.job_decision_s,
        task_decision_s=args.task_decision_s,
        schedulers=args.schedulers,
        optimistic=args.optimistic,
        supervision=SupervisionPolicy.parse(args.supervision),
        refuse_s=args.refuse_s,
        framework_placements=tuple(
            rule for rule in args.framework_placements.split(",") if rule
        ),
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    """Replay the store and print the comparison."""
    policy = policy_from_arguments(args)
    result = replay(
        TraceStore(args.store),
        grid_step_s=args.grid_step_s,
        policy=policy,
        unscheduled=args.unscheduled,
    )
    if args.json:
        print(json.dumps(result.summary(), indent=2))
        return 0
    print(format_summary(result))
    return 0


def _seconds(value: float | None) -> str:
    return "       -" if value is None else f"{value:8.2f}"


def format_summary(result: ReplayResult) -> str:
    """Format the comparison as aligned text lines."""
    summary = result.summary()
    lines = [
        f"policy      {summary['policy']}",
        "delay (s)        side           n      p50      p90      p99     KS  censored",
    ]
    for band, sides in summary["bands"].items():
        for side in ("observed", "predicted"):
            values = sides[side]
            ks = sides["ks"] if side == "predicted" else None
            lines.append(
                f"  {band if side == 'observed' else '':<14} {side:<10}"
                f"{values['n']:>9,} {_seconds(values['p50'])} "
                f"{_seconds(values['p90'])} {_seconds(values['p99'])} "
                + ("     -" if ks is None else f"{ks:6.3f}")
                + (f"  {sides['censored']:>8,}" if side == "predicted" else "")
            )
    error = summary["utilization_mae"]
    cpu = "-" if error["cpu"] is None else f"{error['cpu']:.2f}"
    memory = "-" if error["memory"] is None else f"{error['memory']:.2f}"
    counts = summary["counts"]
    lines += [
        f"utilization error (points)  cpu {cpu}  memory {memory}",
        f"evictions   observed {counts['evictions']['observed']:,}  "
        f"predicted {counts['evictions']['predicted']:,}",
        f"scheduler busyness {counts['scheduler_busyness']:.3f}  "
        f"conflicts {counts['conflicts']['predicted']:,}",
    ]
    for band, evictions in counts["evictions_by_band"].items():
        lines.append(
            f"  evictions {band:<12} observed {evictions['observed']:,}  "
            f"predicted {evictions['predicted']:,} "
            f"({evictions['preempted']:,} preempted)"
        )
    for band, offers in summary["offers"].items():
        lines.append(
            f"  offers {band:<15} made {offers['made']:,}  accepted "
            f"{offers['accepted']:,}  declined {offers['declined']:,}"
        )
    lines += [
        f"events per second  {summary['events_per_second']:,.0f}",
    ]
    return "\n".join(lines)
