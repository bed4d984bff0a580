"""``muosm faults STORE [--json]``: failure history and causes in fault cells."""

from __future__ import annotations

import argparse
import json
import logging

from muosm_perf.analysis import bursts
from muosm_perf.analysis.failure_causes import DEFAULT_TOLERANCE_S
from muosm_perf.analysis.faults import DEFAULT_BOOTSTRAP_SAMPLES, analyze_faults
from muosm_perf.model.store import TraceStore

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``faults`` subcommand."""
    parser = subparsers.add_parser(
        "faults",
        help="fault cells: MTBF, MTTR, survival, bursts and causes of failures",
        description=(
            "Analyze the fault cells of a trace store: removals and repairs of "
            "machines, MTBF and MTTR with confidence intervals, fitted "
            "distributions, correlated removals, and the causes of process "
            "endings (machine removals, preemption, crash loops)."
        ),
    )
    parser.add_argument("store", metavar="STORE", help="trace store folder")
    parser.add_argument(
        "--json", action="store_true", help="print the full result as JSON"
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="confidence level of every interval (default: 0.95)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_BOOTSTRAP_SAMPLES,
        metavar="N",
        help="bootstrap draws over machines for the MTBF and MTTR intervals; 0 "
        f"skips them (default: {DEFAULT_BOOTSTRAP_SAMPLES})",
    )
    parser.add_argument(
        "--fit-bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="parametric-bootstrap draws for the p-value of each fitted "
        "distribution; each draw refits every family (100 draws took about a minute "
        "on the Google 2011 sample; default: 0)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_S,
        metavar="SECONDS",
        help="largest delay from a machine REMOVE to a process ending attributed "
        f"to it, in seconds (default: {DEFAULT_TOLERANCE_S:g})",
    )
    parser.add_argument(
        "--burst-window",
        type=float,
        default=bursts.DEFAULT_WINDOW_S,
        metavar="SECONDS",
        help="largest gap between two removals of one burst, in seconds "
        f"(default: {bursts.DEFAULT_WINDOW_S:g})",
    )
    parser.add_argument(
        "--min-burst-size",
        type=int,
        default=bursts.DEFAULT_MIN_SIZE,
        metavar="N",
        help="smallest number of removals counted as a burst "
        f"(default: {bursts.DEFAULT_MIN_SIZE})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap draws (default: 0)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the fault-cell analysis as JSON or as a short text summary."""
    result = analyze_faults(
        TraceStore(args.store),
        confidence=args.confidence,
        bootstrap_samples=args.bootstrap,
        fit_bootstrap_samples=args.fit_bootstrap,
        tolerance_s=args.tolerance,
        burst_window_s=args.burst_window,
        min_burst_size=args.min_burst_size,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_summary(result))
    return 0


def _interval(estimate: dict, unit: float, key: str = "ci_s") -> str:
    low, high = estimate[key]
    high_text = "unbounded" if high is None else f"{high / unit:,.2f}"
    return f"[{low / unit:,.2f}, {high_text}]"


def format_summary(result: dict) -> str:
    """Format the main figures of a fault-cell analysis as text lines."""
    overall = result["overall"]
    mtbf, mttr = overall["mtbf"], overall["mttr"]
    day, hour = 86_400.0, 3_600.0
    lines = [
        f"observed      {result['observation_s']['length'] / day:,.2f} days",
        f"machines      {overall['machines']:,} "
        f"({overall['machines_removed']:,} removed at least once, "
        f"{overall['machines_removed_share']:.1%})",
        f"removals      {overall['removals']:,} "
        f"({overall['repairs']:,} repaired, "
        f"{overall['machines_down_at_end']:,} machines down at the end)",
    ]
    if mtbf["mean_s"] is not None:
        line = f"MTBF          {mtbf['mean_s'] / day:,.2f} days, chi-square "
        line += _interval(mtbf, day)
        if "bootstrap" in mtbf:
            line += ", bootstrap " + _interval(mtbf["bootstrap"], day)
        lines.append(line)
    if mttr["mean_s"] is not None:
        line = f"MTTR          {mttr['mean_s'] / hour:,.2f} hours, chi-square "
        line += _interval(mttr, hour)
        if "bootstrap" in mttr:
            line += ", bootstrap " + _interval(mttr["bootstrap"], hour)
        lines.append(line)
    if overall["availability"] is not None:
        lines.append(f"availability  {overall['availability']:.4%} of machine time up")

    lines.append("distributions (Kaplan-Meier median; best fit by AIC, KS distance)")
    for name, sample in result["distributions"].items():
        median = sample["km_median_s"]
        median_text = "n/a" if median is None else f"{median:,.0f} s"
        fits = sample["fitted"]["fits"]
        best = fits[0] if fits else None
        fit_text = (
            "no fit"
            if best is None
            else f"{best['family']} (KS {best['ks_distance']:.3f})"
        )
        lines.append(
            f"  {name:<31} n {sample['observations']:>6,} "
            f"({sample['censored']:,} censored), median {median_text}, {fit_text}"
        )

    burst = result["bursts"]
    lines.append(
        f"bursts        {burst['bursts']:,} of >= {burst['min_size']} removals "
        f"within {burst['window_s']:g} s ({burst['bursts_per_day']:.2f}/day; "
        f"{burst['poisson_expected']:.1f} expected if independent)"
    )
    outcomes = result["process_outcomes"]
    if outcomes is not None:
        attributed = outcomes["removal_attributed"]["attempts"]
        loops = outcomes["crash_loops"]
        lines.append(
            f"endings       {attributed:,} attempts ended by a machine removal "
            f"(within {outcomes['tolerance_s']:g} s), {loops['loops']:,} crash loops "
            f"of >= {loops['min_failures']} FAILs"
        )
    return "\n".join(lines)
