"""``muosm queue MODEL``: steady-state figures of an analytic queueing model.

Rates are per unit of time and times come out in the same unit (per second in,
seconds out). An input without a steady state (load at or above capacity, a
network with no exit) exits with status 2 and a message naming the bad value.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from muosm_perf.errors import ParameterError
from muosm_perf.queueing import (
    AllenCunneenQueue,
    JacksonNetwork,
    KingmanQueue,
    MG1Queue,
    MMcQueue,
    PriorityMG1Queue,
    erlang_b,
)

MODELS = {
    "mmc": "M/M/c: Poisson arrivals, exponential service, c servers (exact)",
    "mm1": "M/M/1 (exact)",
    "erlang-b": "M/M/c/c loss system: blocking probability (exact)",
    "mg1": "M/G/1 by Pollaczek-Khinchine (exact means)",
    "md1": "M/D/1, constant service (exact means)",
    "gg1": "G/G/1 by Kingman (approximation)",
    "ggc": "G/G/c by Allen-Cunneen (approximation)",
    "priority": "M/G/1 with priority classes (exact means)",
    "jackson": "open Jackson network from a JSON file (exact)",
}


def _float_list(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from error


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``queue`` subcommand."""
    parser = subparsers.add_parser(
        "queue",
        help="steady-state figures of a queueing model",
        description=__doc__.split("\n\n")[0]
        + "\n\nModels:\n"
        + "\n".join(f"  {name:9} {text}" for name, text in MODELS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", choices=sorted(MODELS), metavar="MODEL")
    parser.add_argument("--arrival-rate", type=float, help="λ, arrivals per unit time")
    parser.add_argument(
        "--service-rate",
        type=float,
        help="μ, completions per unit time of one busy server (mean service 1/μ)",
    )
    parser.add_argument("--servers", type=int, default=1, help="c, servers (default 1)")
    parser.add_argument(
        "--arrival-scv",
        type=float,
        default=1.0,
        help="squared coefficient of variation of inter-arrival times (default 1)",
    )
    parser.add_argument(
        "--service-scv",
        type=float,
        default=1.0,
        help="squared coefficient of variation of service times (default 1)",
    )
    parser.add_argument(
        "--percentiles",
        type=_float_list,
        default=[0.5, 0.9, 0.99],
        help="waiting-time quantile levels for M/M/c (default 0.5,0.9,0.99)",
    )
    parser.add_argument(
        "--arrival-rates", type=_float_list, help="priority: λ per class, top first"
    )
    parser.add_argument(
        "--service-rates", type=_float_list, help="priority: μ per class, top first"
    )
    parser.add_argument(
        "--service-scvs", type=_float_list, help="priority: service c² per class"
    )
    parser.add_argument(
        "--preemptive", action="store_true", help="priority: preemptive-resume"
    )
    parser.add_argument(
        "--network",
        type=Path,
        help="jackson: JSON file with external_arrival_rates, routing, "
        "service_rates and servers",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=handle)


def _require(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) is None:
            option = "--" + name.replace("_", "-")
            raise ParameterError(f"model {args.model!r} needs {option}")


def _single_queue(args: argparse.Namespace) -> dict:
    _require(args, "arrival_rate", "service_rate")
    mean_service = 1.0 / args.service_rate if args.service_rate > 0 else math.inf
    if args.model in ("mmc", "mm1"):
        servers = 1 if args.model == "mm1" else args.servers
        queue = MMcQueue(args.arrival_rate, args.service_rate, servers)
        return queue.summary(tuple(args.percentiles))
    if args.model == "mg1":
        return MG1Queue(args.arrival_rate, mean_service, args.service_scv).summary()
    if args.model == "md1":
        return MG1Queue(args.arrival_rate, mean_service, 0.0).summary()
    if args.model == "gg1":
        queue = KingmanQueue(
            args.arrival_rate, mean_service, args.arrival_scv, args.service_scv
        )
        return queue.summary()
    queue = AllenCunneenQueue(
        args.arrival_rate,
        args.service_rate,
        args.servers,
        args.arrival_scv,
        args.service_scv,
    )
    return queue.summary()


def _priority(args: argparse.Namespace) -> dict:
    _require(args, "arrival_rates", "service_rates")
    means = [1.0 / rate if rate > 0 else math.inf for rate in args.service_rates]
    scvs = args.service_scvs if args.service_scvs is not None else 1.0
    return PriorityMG1Queue(args.arrival_rates, means, scvs, args.preemptive).summary()


def _jackson(args: argparse.Namespace) -> dict:
    _require(args, "network")
    try:
        spec = json.loads(args.network.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ParameterError(
            f"cannot read network file {args.network}: {error}"
        ) from error
    missing = {"external_arrival_rates", "routing", "service_rates"} - set(spec)
    if missing:
        raise ParameterError(
            f"network file {args.network} lacks {sorted(missing)}; it needs "
            "external_arrival_rates, routing, service_rates and optionally servers"
        )
    network = JacksonNetwork(
        spec["external_arrival_rates"],
        spec["routing"],
        spec["service_rates"],
        spec.get("servers", 1),
    )
    return network.summary()


def compute(args: argparse.Namespace) -> dict:
    """Return the figures of the requested model as a dictionary."""
    if args.model == "erlang-b":
        _require(args, "arrival_rate", "service_rate")
        load = args.arrival_rate / args.service_rate
        return {
            "model": "M/M/c/c",
            "servers": args.servers,
            "offered_load": load,
            "p_block": erlang_b(args.servers, load),
        }
    if args.model == "priority":
        return _priority(args)
    if args.model == "jackson":
        return _jackson(args)
    return _single_queue(args)


def _print_text(result: dict) -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for inner, number in value.items():
                print(f"  {inner}: {number:.6g}")
        elif isinstance(value, float):
            print(f"{key}: {value:.10g}")
        elif isinstance(value, list):
            print(f"{key}: " + ", ".join(f"{item:.6g}" for item in value))
        else:
            print(f"{key}: {value}")


def handle(args: argparse.Namespace) -> int:
    """Print the model's figures and return 0; errors propagate to ``main``."""
    result = compute(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_text(result)
    return 0
