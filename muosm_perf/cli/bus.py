"""``muosm bus STORE``: predict the message bus carrying a trace's lifecycle events.

Every event of the store's transitions table is one message. The command reports
how bursty that stream is, the analytic prediction for a Poisson stream of the
same mean rate, a trace-driven simulation, and a simulation of that Poisson
stream, so the effect of bursts shows directly. Times are in seconds.
"""

from __future__ import annotations

import argparse
import json

import polars as pl

from muosm_perf.bus import (
    BrokerOutage,
    BusConfig,
    burstiness,
    messages_from_transitions,
    outage_impact,
    poisson_messages,
    predict_bus,
    simulate_bus,
    sweep_partitions,
)
from muosm_perf.bus.load import rates_per_second
from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.model.store import TraceStore

DEFAULTS = BusConfig()


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers, got {text!r}"
        ) from error


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bus`` subcommand."""
    parser = subparsers.add_parser(
        "bus",
        help="predict the message bus for a trace store's event stream",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("store", metavar="STORE", help="trace store folder")
    add = parser.add_argument
    add("--partitions", type=int, default=DEFAULTS.partitions, help="partitions")
    add("--brokers", type=int, default=DEFAULTS.brokers, help="brokers")
    add(
        "--replication-factor",
        type=int,
        default=DEFAULTS.replication_factor,
        help="replicas per partition, leader included",
    )
    add(
        "--batch-messages",
        type=int,
        default=DEFAULTS.batch_max_messages,
        help="maximum messages per producer batch",
    )
    add(
        "--linger-ms",
        type=float,
        default=DEFAULTS.linger_s * 1e3,
        help="time a batch waits for more messages, in milliseconds",
    )
    add(
        "--replication-ms",
        type=float,
        default=DEFAULTS.replication_delay_s * 1e3,
        help="time from the leader's append to the commit, in milliseconds",
    )
    add("--consumers", type=int, default=DEFAULTS.consumers, help="consumer group size")
    add(
        "--consumer-ms",
        type=float,
        default=DEFAULTS.consumer_per_message_s * 1e3,
        help="mean processing time of one message by a consumer, in milliseconds",
    )
    add(
        "--outage-broker",
        type=int,
        help="simulate this broker failing (with --outage-start, --outage-duration)",
    )
    add("--outage-start", type=float, help="outage start, seconds from the first event")
    add("--outage-duration", type=float, help="outage length in seconds")
    add(
        "--failover",
        type=float,
        default=10.0,
        help="seconds until a follower takes over a failed leader (default 10)",
    )
    add(
        "--sweep-partitions",
        type=_int_list,
        help="also predict and simulate these partition counts, e.g. 4,8,16",
    )
    add("--seed", type=int, default=0, help="seed for partitions and service times")
    add("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=handle)


def build_config(args: argparse.Namespace) -> BusConfig:
    """Return the bus configuration given on the command line."""
    outage = None
    if args.outage_broker is not None:
        if args.outage_start is None or args.outage_duration is None:
            raise ParameterError(
                "--outage-broker needs --outage-start and --outage-duration"
            )
        outage = BrokerOutage(
            args.outage_broker, args.outage_start, args.outage_duration, args.failover
        )
    return BusConfig(
        partitions=args.partitions,
        brokers=args.brokers,
        replication_factor=args.replication_factor,
        batch_max_messages=args.batch_messages,
        linger_s=args.linger_ms / 1e3,
        replication_delay_s=args.replication_ms / 1e3,
        consumers=args.consumers,
        consumer_per_message_s=args.consumer_ms / 1e3,
        outage=outage,
    )


def compute(args: argparse.Namespace) -> dict:
    """Return the bus report for the store as a dictionary."""
    config = build_config(args)
    store = TraceStore(args.store)
    stream = messages_from_transitions(store.scan("transitions"))
    per_second = rates_per_second(stream)
    bands = (
        per_second.group_by("band")
        .agg(pl.col("messages").sum())
        .sort("band", nulls_last=True)
        .to_dicts()
    )
    report: dict = {
        "store": str(store.path),
        "config": config.as_dict(),
        "load": burstiness(stream),
        "messages_per_band": {
            row["band"] or "unknown": row["messages"] for row in bands
        },
    }
    try:
        report["analytic_poisson"] = predict_bus(stream.mean_rate, config).as_dict()
    except UnstableSystemError as error:
        report["analytic_poisson"] = {"error": str(error)}
    trace_run = simulate_bus(stream, config, seed=args.seed)
    poisson = poisson_messages(stream.mean_rate, stream.duration_s, seed=args.seed)
    poisson_run = simulate_bus(poisson, config, seed=args.seed)
    report["simulated_trace"] = trace_run.as_dict()
    report["simulated_poisson"] = poisson_run.as_dict()
    report["trace_over_poisson"] = {
        key: trace_run.latency_percentiles_s[key]
        / poisson_run.latency_percentiles_s[key]
        for key in trace_run.latency_percentiles_s
    }
    if config.outage is not None:
        report["outage"] = outage_impact(stream, config, config.outage, seed=args.seed)
    if args.sweep_partitions:
        report["partition_sweep"] = sweep_partitions(
            stream, config, args.sweep_partitions, seed=args.seed
        )
    return report


def _print_text(report: dict) -> None:
    load = report["load"]
    print(f"store: {report['store']}")
    print(
        f"load: {load['messages']} messages over {load['duration_s']:.0f} s, mean "
        f"{load['mean_rate']:.3g}/s, peak {load['peak_rate']}/s, index of dispersion "
        f"{load['index_of_dispersion']:.3g} (Poisson: 1)"
    )
    analytic = report["analytic_poisson"]
    if "error" in analytic:
        print(f"analytic (Poisson): {analytic['error']}")
    else:
        print(
            f"analytic (Poisson): saturation {analytic['saturation_rate']:.4g}/s, "
            "latency "
            + ", ".join(
                f"{k} {v:.4g} s" for k, v in analytic["latency_percentiles_s"].items()
            )
        )
    for name in ("simulated_poisson", "simulated_trace"):
        run = report[name]
        print(
            f"{name.replace('_', ' ')}: latency "
            + ", ".join(
                f"{k} {v:.4g} s" for k, v in run["latency_percentiles_s"].items()
            )
            + f"; consumer lag mean {run['mean_consumer_lag']:.3g}, max "
            f"{run['max_consumer_lag']} at {run['max_lag_at_s']:.0f} s"
        )
    if "outage" in report:
        print("outage: " + json.dumps(report["outage"]))
    for row in report.get("partition_sweep", []):
        print("partitions: " + json.dumps(row))


def handle(args: argparse.Namespace) -> int:
    """Print the bus report and return 0; errors propagate to ``main``."""
    report = compute(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 0
