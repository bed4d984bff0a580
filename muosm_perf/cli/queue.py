"""The ``muosm queue`` subcommand: steady-state figures of an analytic queueing model.

Options that the chosen model does not read are rejected rather than ignored, and
every message names the options as typed.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from muosm_perf.cli._argument_types import finite_number, number_list, whole_number
from muosm_perf.errors import ParameterError, UnstableSystemError
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
    "mmc": ("M/M/c", "Poisson arrivals, exponential service, c servers (exact)"),
    "mm1": ("M/M/1", "one server (exact)"),
    "erlang-b": ("M/M/c/c", "blocking probability of a loss system (exact)"),
    "mg1": ("M/G/1", "Pollaczek-Khinchine means (exact)"),
    "md1": ("M/D/1", "constant service, Pollaczek-Khinchine means (exact)"),
    "gg1": ("G/G/1", "Kingman's approximation"),
    "ggc": ("G/G/c", "Allen-Cunneen approximation"),
    "priority": ("M/G/1 priority", "per-class means (exact)"),
    "jackson": ("open Jackson network", "read from a JSON file (exact)"),
}
"""Model name on the command line → (standard notation, what it computes)."""

MODEL_OPTIONS = {
    "mmc": ("arrival_rate", "service_rate", "servers", "percentiles"),
    "mm1": ("arrival_rate", "service_rate", "percentiles"),
    "erlang-b": ("arrival_rate", "service_rate", "servers"),
    "mg1": ("arrival_rate", "service_rate", "service_scv"),
    "md1": ("arrival_rate", "service_rate"),
    "gg1": ("arrival_rate", "service_rate", "arrival_scv", "service_scv"),
    "ggc": ("arrival_rate", "service_rate", "servers", "arrival_scv", "service_scv"),
    "priority": ("arrival_rates", "service_rates", "service_scvs", "preemptive"),
    "jackson": ("network",),
}
"""The options each model reads; any other model option given is an error."""

DEFAULT_SERVERS = 1
DEFAULT_SCV = 1.0
DEFAULT_PERCENTILES = (0.5, 0.9, 0.99)

DESCRIPTION = "\n\n".join(
    [
        "Print the steady-state figures of an analytic queueing model.",
        textwrap.fill(
            "Rates are per unit of time and times come out in the same unit (rates "
            "per second give times in seconds). An input without a steady state "
            "(load at or above capacity, a network with no exit) exits with status 2 "
            "and a message naming the bad value. An option that the chosen model "
            "does not read is an error.",
            width=79,
        ),
        "Models:\n"
        + "\n".join(
            f"  {name:9} {notation}: {text}"
            for name, (notation, text) in MODELS.items()
        ),
    ]
)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _and_join(items: list[str]) -> str:
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _probability_level(text: str) -> float:
    value = finite_number(minimum=0.0)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(
            f"must be a level in [0, 1), got {value:g}; pass 0.99 for the 99th "
            "percentile"
        )
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``queue`` subcommand."""
    parser = subparsers.add_parser(
        "queue",
        help="steady-state figures of a queueing model",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rate = finite_number(minimum=0.0, strict=True)
    scv = finite_number(minimum=0.0)
    parser.add_argument("model", choices=sorted(MODELS), metavar="MODEL")
    add = parser.add_argument

    # One queue.
    add(
        "--arrival-rate",
        type=rate,
        metavar="RATE",
        help="λ, arrivals per unit time, > 0; required by every model but "
        "priority and jackson (default: none)",
    )
    add(
        "--service-rate",
        type=rate,
        metavar="RATE",
        help="μ, completions per unit time of one busy server (mean service time "
        "1/μ), > 0; required with --arrival-rate (default: none)",
    )
    add(
        "--servers",
        type=whole_number(1),
        metavar="C",
        help="c, number of servers, for mmc, ggc and erlang-b "
        f"(default: {DEFAULT_SERVERS})",
    )
    add(
        "--arrival-scv",
        type=scv,
        metavar="C2",
        help="squared coefficient of variation of inter-arrival times, "
        f"dimensionless, for gg1 and ggc (default: {DEFAULT_SCV:g}, exponential)",
    )
    add(
        "--service-scv",
        type=scv,
        metavar="C2",
        help="squared coefficient of variation of service times, dimensionless, "
        f"for mg1, gg1 and ggc (default: {DEFAULT_SCV:g}, exponential)",
    )
    add(
        "--percentiles",
        type=number_list(_probability_level),
        metavar="LEVELS",
        help="comma-separated waiting-time quantile levels in [0, 1), for mmc and "
        "mm1 (default: " + ",".join(f"{q:g}" for q in DEFAULT_PERCENTILES) + ")",
    )

    # Priority classes and Jackson networks.
    add(
        "--arrival-rates",
        type=number_list(rate),
        metavar="RATES",
        help="priority: comma-separated λ per class, arrivals per unit time, most "
        "important class first (default: none)",
    )
    add(
        "--service-rates",
        type=number_list(rate),
        metavar="RATES",
        help="priority: comma-separated μ per class, completions per unit time, "
        "one per --arrival-rates value (default: none)",
    )
    add(
        "--service-scvs",
        type=number_list(scv),
        metavar="C2S",
        help="priority: comma-separated service c² per class, dimensionless, or "
        f"one value for all (default: {DEFAULT_SCV:g})",
    )
    add(
        "--preemptive",
        action="store_true",
        default=None,
        help="priority: preemptive-resume service (default: non-preemptive)",
    )
    add(
        "--network",
        type=Path,
        metavar="FILE",
        help="jackson: JSON file with external_arrival_rates, routing, "
        "service_rates and optionally servers, rates per unit time (default: none)",
    )
    add("--json", action="store_true", help="print JSON (default: text)")
    parser.set_defaults(handler=handle)


def _unused_option_hint(model: str, name: str) -> str:
    if name in MODEL_OPTIONS["priority"]:
        return f"{_option(name)} belongs to model priority"
    if name == "network":
        return "--network belongs to model jackson"
    if model == "jackson":
        return "model jackson reads every rate from the --network file"
    if model == "priority":
        return (
            "model priority takes per-class lists: --arrival-rates, "
            "--service-rates and --service-scvs"
        )
    if name == "servers":
        return "use model mmc, ggc or erlang-b for several servers"
    if name == "percentiles":
        return "waiting-time percentiles are computed for mmc and mm1 only"
    if model == "md1" and name == "service_scv":
        return "M/D/1 has constant service (c² = 0); use model mg1 for another c²"
    if model in ("mg1", "md1"):
        return "arrivals are Poisson (c² = 1); use model gg1 for another c²"
    return "arrival and service times are exponential (c² = 1); use gg1 or ggc"


def _reject_unused(args: argparse.Namespace) -> None:
    """Raise ParameterError for a model option that the chosen model ignores."""
    used = MODEL_OPTIONS[args.model]
    every = sorted({name for names in MODEL_OPTIONS.values() for name in names})
    for name in every:
        if name not in used and getattr(args, name) is not None:
            notation = MODELS[args.model][0]
            raise ParameterError(
                f"{_option(name)} does not apply to model {args.model} ({notation}), "
                f"which reads only {_and_join([_option(n) for n in used])}; "
                f"{_unused_option_hint(args.model, name)}"
            )


def _require(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) is None:
            raise ParameterError(f"model {args.model!r} needs {_option(name)}")


def _require_below_capacity(args: argparse.Namespace, servers: int) -> None:
    """Raise UnstableSystemError naming the options when λ >= c μ."""
    capacity = servers * args.service_rate
    utilization = args.arrival_rate / capacity
    if utilization < 1:
        return
    several = "servers" in MODEL_OPTIONS[args.model]
    if several:
        limit = (
            f"the capacity --servers {servers} × --service-rate "
            f"{args.service_rate:g} = {capacity:g}"
        )
        hint = "lower --arrival-rate, raise --service-rate or add --servers"
    else:
        limit = f"the capacity of its one server, --service-rate {args.service_rate:g}"
        hint = "lower --arrival-rate or raise --service-rate"
    raise UnstableSystemError(
        f"the {MODELS[args.model][0]} queue (model {args.model}) has no steady "
        f"state: --arrival-rate {args.arrival_rate:g} is at or above {limit} "
        f"(utilization {utilization:.6g}); {hint}"
    )


def _single_queue(args: argparse.Namespace) -> dict:
    _require(args, "arrival_rate", "service_rate")
    servers = DEFAULT_SERVERS if args.servers is None else args.servers
    arrival_scv = DEFAULT_SCV if args.arrival_scv is None else args.arrival_scv
    service_scv = DEFAULT_SCV if args.service_scv is None else args.service_scv
    levels = DEFAULT_PERCENTILES if args.percentiles is None else args.percentiles
    mean_service = 1.0 / args.service_rate
    if args.model == "erlang-b":
        load = args.arrival_rate / args.service_rate
        return {
            "model": "M/M/c/c",
            "servers": servers,
            "offered_load": load,
            "p_block": erlang_b(servers, load),
        }
    _require_below_capacity(args, servers)
    if args.model in ("mmc", "mm1"):
        queue = MMcQueue(args.arrival_rate, args.service_rate, servers)
        return queue.summary(tuple(levels))
    if args.model == "mg1":
        return MG1Queue(args.arrival_rate, mean_service, service_scv).summary()
    if args.model == "md1":
        return MG1Queue(args.arrival_rate, mean_service, 0.0).summary()
    if args.model == "gg1":
        queue = KingmanQueue(args.arrival_rate, mean_service, arrival_scv, service_scv)
        return queue.summary()
    queue = AllenCunneenQueue(
        args.arrival_rate, args.service_rate, servers, arrival_scv, service_scv
    )
    return queue.summary()


def _priority(args: argparse.Namespace) -> dict:
    _require(args, "arrival_rates", "service_rates")
    classes = len(args.arrival_rates)
    if len(args.service_rates) != classes:
        raise ParameterError(
            f"--arrival-rates has {classes} values and --service-rates "
            f"{len(args.service_rates)}; give one of each per class, most important "
            "first"
        )
    scvs = args.service_scvs if args.service_scvs is not None else [DEFAULT_SCV]
    if len(scvs) not in (1, classes):
        raise ParameterError(
            f"--service-scvs has {len(scvs)} values for {classes} classes; give one "
            "per class or a single value for all"
        )
    loads = [
        lam / mu for lam, mu in zip(args.arrival_rates, args.service_rates, strict=True)
    ]
    if sum(loads) >= 1:
        raise UnstableSystemError(
            "the M/G/1 priority queue (model priority) has no steady state: its "
            "total utilization, the sum of --arrival-rates over --service-rates, is "
            + " + ".join(f"{load:.6g}" for load in loads)
            + f" = {sum(loads):.6g}, at or above 1; lower --arrival-rates or raise "
            "--service-rates"
        )
    means = [1.0 / mu for mu in args.service_rates]
    preemptive = bool(args.preemptive)
    return PriorityMG1Queue(args.arrival_rates, means, scvs, preemptive).summary()


def _jackson(args: argparse.Namespace) -> dict:
    _require(args, "network")
    try:
        spec = json.loads(args.network.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ParameterError(
            f"cannot read --network file {args.network}: {error}"
        ) from error
    if not isinstance(spec, dict):
        raise ParameterError(
            f"--network file {args.network} must contain a JSON object, got "
            f"{type(spec).__name__}"
        )
    missing = {"external_arrival_rates", "routing", "service_rates"} - set(spec)
    if missing:
        raise ParameterError(
            f"--network file {args.network} lacks {sorted(missing)}; it needs "
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
    """Return the figures of the requested model as a dictionary.

    Raises
    ------
    ParameterError
        On a missing option, or an option the model does not read.
    UnstableSystemError
        If the model has no steady state.
    """
    _reject_unused(args)
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
