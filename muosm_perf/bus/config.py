"""Configuration of the μ-OSM message bus model: a partitioned, replicated log.

The bus carries lifecycle transitions from schedulers to cells. It is modelled on a
partitioned log (the design of Apache Kafka and similar systems):

- a message goes to one of ``partitions`` partitions, chosen uniformly at random
  (keys hashed evenly), so each partition receives an independent thinning of
  the stream;
- the producer collects a partition's messages into a batch that is sent when it
  reaches ``batch_max_messages`` messages or ``linger_s`` after its first message;
- partition p is led by broker p mod ``brokers``; its replicas are the next
  ``replication_factor`` - 1 brokers in order. A broker appends the batches of the
  partitions it leads one at a time, FCFS, in ``broker_batch_overhead_s`` +
  ``broker_per_message_s`` × batch size;
- a batch is committed, and visible to consumers, ``replication_delay_s`` after
  the leader's append when ``replication_factor`` > 1 (acknowledgement by all
  in-sync replicas), at once otherwise;
- one consumer group of ``consumers`` members reads every partition; partition p
  is assigned to consumer p mod min(consumers, partitions), so members beyond the
  partition count stay idle. A consumer processes its messages one at a time,
  FCFS by commit time, each taking a time of mean ``consumer_per_message_s`` and
  squared coefficient of variation ``consumer_service_scv`` (1: exponential, 0:
  constant);
- an optional :class:`BrokerOutage` makes one broker unavailable for a period.

Times are in seconds. The defaults are illustrative, not measured on a real bus.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from muosm_perf.errors import ParameterError


@dataclass(frozen=True)
class BrokerOutage:
    """One broker unavailable from ``start_s`` for ``duration_s`` seconds.

    Its partitions accept no appends until a follower takes over leadership
    ``failover_s`` after the failure (or until the broker returns, whichever is
    first, or with replication factor 1 only when it returns). Batches that were
    waiting at the failed broker, and batches closed while no leader exists, are
    appended by the new leader when it takes over. For the rest of the outage
    the next replica leads those partitions; when the broker returns it leads them
    again.
    """

    broker: int
    start_s: float
    duration_s: float
    failover_s: float = 10.0

    def __post_init__(self) -> None:
        if self.broker < 0 or self.duration_s < 0 or self.failover_s < 0:
            raise ParameterError(
                f"broker outage needs broker >= 0 and non-negative durations, got "
                f"broker {self.broker}, duration {self.duration_s!r} s, failover "
                f"{self.failover_s!r} s"
            )


@dataclass(frozen=True)
class BusConfig:
    """Parameters of the bus model; see the module documentation for each."""

    partitions: int = 8
    brokers: int = 3
    replication_factor: int = 3
    batch_max_messages: int = 100
    linger_s: float = 0.005
    broker_batch_overhead_s: float = 200e-6
    broker_per_message_s: float = 10e-6
    replication_delay_s: float = 0.001
    consumers: int = 4
    consumer_per_message_s: float = 0.01
    consumer_service_scv: float = 1.0
    outage: BrokerOutage | None = field(default=None)

    def __post_init__(self) -> None:
        whole = {
            "partitions": self.partitions,
            "brokers": self.brokers,
            "replication_factor": self.replication_factor,
            "batch_max_messages": self.batch_max_messages,
            "consumers": self.consumers,
        }
        for name, value in whole.items():
            if int(value) != value or value < 1:
                raise ParameterError(
                    f"{name} must be a whole number >= 1, got {value!r}"
                )
        if self.replication_factor > self.brokers:
            raise ParameterError(
                f"replication_factor {self.replication_factor} exceeds the "
                f"{self.brokers} brokers; lower it or add brokers"
            )
        times = {
            "linger_s": self.linger_s,
            "broker_batch_overhead_s": self.broker_batch_overhead_s,
            "broker_per_message_s": self.broker_per_message_s,
            "replication_delay_s": self.replication_delay_s,
            "consumer_service_scv": self.consumer_service_scv,
        }
        for name, value in times.items():
            if not value >= 0:
                raise ParameterError(f"{name} must be >= 0, got {value!r}")
        if not self.consumer_per_message_s > 0:
            raise ParameterError(
                "consumer_per_message_s must be > 0, got "
                f"{self.consumer_per_message_s!r}"
            )
        if self.outage is not None and self.outage.broker >= self.brokers:
            raise ParameterError(
                f"outage broker {self.outage.broker} does not exist; brokers are "
                f"0..{self.brokers - 1}"
            )

    def leader(self, partition: int) -> int:
        """Return the broker that leads ``partition`` when every broker is up."""
        return partition % self.brokers

    def follower(self, partition: int) -> int:
        """Return the broker that takes over ``partition`` if its leader fails."""
        if self.replication_factor == 1:
            return self.leader(partition)
        return (partition + 1) % self.brokers

    def consumer(self, partition: int) -> int:
        """Return the group member that reads ``partition``."""
        return partition % min(self.consumers, self.partitions)

    @property
    def commit_delay_s(self) -> float:
        """Time from the leader's append to the commit."""
        return self.replication_delay_s if self.replication_factor > 1 else 0.0

    def as_dict(self) -> dict:
        """Return the parameters as a JSON-ready dictionary."""
        return asdict(self)
