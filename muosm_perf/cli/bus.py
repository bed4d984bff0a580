"""The ``muosm bus`` subcommand: predict the message bus of a trace store.

The bus carries every process and group lifecycle event of the store (task and
job events in Google 2011) whose instant lies inside the trace window, as
:func:`muosm_perf.analysis.bus.bus_events` defines it; the comparison report
counts the same events.
"""

from __future__ import annotations

import argparse
import json

import polars as pl

from muosm_perf.analysis.bus import BUS_EVENTS_LABEL
from muosm_perf.bus import (
    BrokerOutage,
    BusConfig,
    burstiness,
    messages_from_store,
    outage_impact,
    poisson_messages,
    predict_bus,
    simulate_bus,
    sweep_partitions,
)
from muosm_perf.bus.load import MessageStream
from muosm_perf.cli._argument_types import finite_number, number_list, whole_number
from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.model.store import TraceStore

DEFAULTS = BusConfig()

DEFAULT_FAILOVER_S = 10.0
"""Seconds until a follower takes over a failed leader, unless --failover is given."""

DESCRIPTION = """\
Predict the message bus that carries a trace store's lifecycle events.

Every process and group lifecycle event (task and job events in Google 2011)
with a time inside the trace window is one message. The command reports how
bursty that stream is, the analytic prediction for a Poisson stream of the same
mean rate, a simulation of the recorded stream, and a simulation of that Poisson
stream, so the effect of bursts shows directly. Times are in seconds unless an
option says milliseconds.

When the stream's mean rate saturates the bus, the Poisson prediction and
simulation are not run, and a recorded stream that overloads a broker or consumer
is simulated but marked transient: its latencies grow with the trace's length.
"""

OUTAGE_DETAILS = ("outage_start", "outage_duration", "failover")
"""Options that only apply together with --outage-broker."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bus`` subcommand."""
    parser = subparsers.add_parser(
        "bus",
        help="predict the message bus for a trace store's lifecycle events",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "store", metavar="STORE", help="trace store folder written by muosm ingest"
    )
    count = whole_number(1)
    milliseconds = finite_number(minimum=0.0)
    add = parser.add_argument

    # The bus itself.
    add(
        "--partitions",
        type=count,
        default=DEFAULTS.partitions,
        help=f"number of partitions of the log (default: {DEFAULTS.partitions})",
    )
    add(
        "--brokers",
        type=count,
        default=DEFAULTS.brokers,
        help=f"number of brokers (default: {DEFAULTS.brokers})",
    )
    add(
        "--replication-factor",
        type=count,
        default=DEFAULTS.replication_factor,
        help="replicas per partition, leader included, at most --brokers "
        f"(default: {DEFAULTS.replication_factor})",
    )
    add(
        "--batch-messages",
        type=count,
        default=DEFAULTS.batch_max_messages,
        help="maximum messages per producer batch "
        f"(default: {DEFAULTS.batch_max_messages})",
    )
    add(
        "--linger-ms",
        type=milliseconds,
        default=DEFAULTS.linger_s * 1e3,
        help="time a batch waits for more messages, in milliseconds "
        f"(default: {DEFAULTS.linger_s * 1e3:g} ms)",
    )
    add(
        "--replication-ms",
        type=milliseconds,
        default=DEFAULTS.replication_delay_s * 1e3,
        help="time from the leader's append to the commit, in milliseconds "
        f"(default: {DEFAULTS.replication_delay_s * 1e3:g} ms)",
    )
    add(
        "--consumers",
        type=count,
        default=DEFAULTS.consumers,
        help=f"members of the consumer group (default: {DEFAULTS.consumers})",
    )
    add(
        "--consumer-ms",
        type=finite_number(minimum=0.0, strict=True),
        default=DEFAULTS.consumer_per_message_s * 1e3,
        help="mean processing time of one message by a consumer, in milliseconds "
        f"(default: {DEFAULTS.consumer_per_message_s * 1e3:g} ms)",
    )

    # An optional broker outage.
    add(
        "--outage-broker",
        type=whole_number(0),
        metavar="INDEX",
        help="simulate broker INDEX failing, from 0 to --brokers minus 1; needs "
        "--outage-start and --outage-duration (default: no outage)",
    )
    add(
        "--outage-start",
        type=finite_number(minimum=0.0),
        metavar="SECONDS",
        help="failure instant in seconds after the first message, before the last "
        "message (default: none)",
    )
    add(
        "--outage-duration",
        type=finite_number(minimum=0.0, strict=True),
        metavar="SECONDS",
        help="outage length in seconds, > 0 (default: none)",
    )
    add(
        "--failover",
        type=finite_number(minimum=0.0),
        metavar="SECONDS",
        help="seconds until a follower takes over a failed leader "
        f"(default: {DEFAULT_FAILOVER_S:g} s)",
    )

    # What else to run, and how to print.
    add(
        "--sweep-partitions",
        type=number_list(count),
        metavar="COUNTS",
        help="comma-separated partition counts to predict and simulate as well, "
        "for example 4,8,16 (default: no sweep)",
    )
    add(
        "--seed",
        type=whole_number(0),
        default=0,
        help="seed of the partition choice, the processing times and the Poisson "
        "stream, >= 0 (default: 0)",
    )
    add("--json", action="store_true", help="print JSON (default: text)")
    parser.set_defaults(handler=handle)


def _build_outage(args: argparse.Namespace) -> BrokerOutage | None:
    if args.outage_broker is None:
        stray = [
            "--" + name.replace("_", "-")
            for name in OUTAGE_DETAILS
            if getattr(args, name) is not None
        ]
        if stray:
            verb = "applies" if len(stray) == 1 else "apply"
            raise ParameterError(
                f"{' and '.join(stray)} only {verb} with --outage-broker; add "
                "--outage-broker INDEX to simulate an outage, or leave "
                f"{'it' if len(stray) == 1 else 'them'} out"
            )
        return None
    if args.outage_start is None or args.outage_duration is None:
        raise ParameterError(
            "--outage-broker needs --outage-start and --outage-duration"
        )
    if args.outage_broker >= args.brokers:
        raise ParameterError(
            f"--outage-broker {args.outage_broker} does not exist: brokers are "
            f"numbered 0 to {args.brokers - 1} (--brokers {args.brokers})"
        )
    failover = DEFAULT_FAILOVER_S if args.failover is None else args.failover
    return BrokerOutage(
        args.outage_broker, args.outage_start, args.outage_duration, failover
    )


def build_config(args: argparse.Namespace) -> BusConfig:
    """Return the bus configuration given on the command line.

    Raises
    ------
    ParameterError
        On options that contradict each other, named as typed.
    """
    if args.replication_factor > args.brokers:
        raise ParameterError(
            f"--replication-factor {args.replication_factor} exceeds --brokers "
            f"{args.brokers}; lower it or add brokers"
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
        outage=_build_outage(args),
    )


def _check_outage_window(outage: BrokerOutage, stream: MessageStream) -> None:
    if outage.start_s >= stream.duration_s:
        raise ParameterError(
            f"--outage-start {outage.start_s:g} s is not before the last message, "
            f"{stream.duration_s:.6g} s after the first, so no message would be "
            f"affected; choose a start below {stream.duration_s:.6g} s"
        )


def _message_counts(stream: MessageStream) -> dict:
    frame = pl.DataFrame(
        {"source": stream.sources, "band": stream.bands},
        schema={"source": pl.String, "band": pl.String},
    )
    processes = frame.filter(pl.col("source") == "process")
    bands = processes.group_by("band").len().sort("band", nulls_last=True)
    return {
        "counted": BUS_EVENTS_LABEL + " with a time inside the trace window",
        "total": frame.height,
        "process_events": processes.height,
        "group_events": int((frame["source"] == "group").sum()),
        "process_events_per_band": {
            row["band"] or "unknown": row["len"] for row in bands.to_dicts()
        },
    }


def _poisson_figures(
    report: dict, stream: MessageStream, config: BusConfig, seed: int
) -> None:
    """Add the analytic and simulated Poisson figures, unless the rate saturates."""
    try:
        report["analytic_poisson"] = predict_bus(stream.mean_rate, config).as_dict()
    except UnstableSystemError as error:
        # A Poisson stream at this rate has no steady state, so a simulation of
        # it would only measure how fast its queues grow.
        report["analytic_poisson"] = {"error": str(error)}
        report["simulated_poisson"] = {"error": f"not simulated: {error}"}
        report["trace_over_poisson"] = None
        return
    poisson = poisson_messages(stream.mean_rate, stream.duration_s, seed=seed)
    poisson_run = simulate_bus(poisson, config, seed=seed)
    trace_percentiles = report["simulated_trace"]["latency_percentiles_s"]
    report["simulated_poisson"] = poisson_run.as_dict()
    report["trace_over_poisson"] = {
        key: trace_percentiles[key] / poisson_run.latency_percentiles_s[key]
        for key in trace_percentiles
    }


def compute(args: argparse.Namespace) -> dict:
    """Return the bus report for the store as a dictionary."""
    config = build_config(args)
    store = TraceStore(args.store)
    stream = messages_from_store(store)
    if config.outage is not None:
        _check_outage_window(config.outage, stream)
    report: dict = {
        "store": str(store.path),
        "config": config.as_dict(),
        "messages": _message_counts(stream),
        "load": burstiness(stream),
    }
    report["simulated_trace"] = simulate_bus(stream, config, seed=args.seed).as_dict()
    _poisson_figures(report, stream, config, args.seed)
    if config.outage is not None:
        report["outage"] = outage_impact(stream, config, config.outage, seed=args.seed)
    if args.sweep_partitions:
        report["partition_sweep"] = sweep_partitions(
            stream, config, args.sweep_partitions, seed=args.seed
        )
    return report


def _latency_text(run: dict) -> str:
    return ", ".join(f"{k} {v:.4g} s" for k, v in run["latency_percentiles_s"].items())


def _print_text(report: dict) -> None:
    messages = report["messages"]
    load = report["load"]
    print(f"store: {report['store']}")
    print(
        f"messages: {messages['total']} {messages['counted']} "
        f"({messages['process_events']} process, {messages['group_events']} group)"
    )
    print(
        f"load: over {load['duration_s']:.0f} s, mean {load['mean_rate']:.3g}/s, "
        f"peak {load['peak_rate']}/s, index of dispersion "
        f"{load['index_of_dispersion']:.3g} (Poisson: 1)"
    )
    analytic = report["analytic_poisson"]
    if "error" in analytic:
        print(f"analytic (Poisson): {analytic['error']}")
    else:
        print(
            f"analytic (Poisson): saturation {analytic['saturation_rate']:.4g}/s, "
            f"latency {_latency_text(analytic)}"
        )
    for name in ("simulated_poisson", "simulated_trace"):
        run = report[name]
        label = name.replace("_", " ")
        if "error" in run:
            print(f"{label}: {run['error']}")
            continue
        print(
            f"{label}: latency {_latency_text(run)}; consumer lag mean "
            f"{run['mean_consumer_lag']:.3g}, max {run['max_consumer_lag']} at "
            f"{run['max_lag_at_s']:.0f} s"
        )
        if run["transient"]:
            print(
                f"{label}: transient, not a steady state: the busiest station's "
                f"utilization is {run['utilization']:.3g}, at or above 1, so these "
                "figures grow with the length of the stream"
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
