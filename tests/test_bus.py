import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muosm_perf.bus import (
    BrokerOutage,
    BusConfig,
    burstiness,
    messages_from_events,
    messages_from_store,
    outage_impact,
    poisson_messages,
    predict_bus,
    saturation_rate,
    simulate_bus,
    sweep_partitions,
)
from muosm_perf.bus.analytic import batch_figures
from muosm_perf.bus.load import MessageStream
from muosm_perf.errors import ParameterError, UnstableSystemError
from muosm_perf.kernels.bus_sim import batch_messages, serve_at_stations
from muosm_perf.kernels.reference import bus_sim as reference


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=60),
    st.integers(1, 5),
    st.sampled_from([0.0, 1.0, 2.5]),
)
def test_batching_kernel_matches_reference(steps, max_messages, linger):
    times = np.cumsum([float(gap) for gap, _ in steps])
    partitions = np.array([p for _, p in steps], dtype=np.int64)
    result = batch_messages(times, partitions, 3, max_messages, linger)
    expected = reference.batch_messages(
        times.tolist(), partitions.tolist(), max_messages, linger
    )
    for got, want in zip(result, expected, strict=True):
        assert np.asarray(got).tolist() == list(want)


def test_batching_closes_on_size_or_linger():
    times = np.array([0.0, 0.1, 0.2, 0.3, 5.0])
    batch_of, close, partition, size = batch_messages(
        times, np.zeros(5, np.int64), 1, 3, 1.0
    )
    assert batch_of.tolist() == [0, 0, 0, 1, 2]
    assert close.tolist() == [0.2, 1.3, 6.0]
    assert size.tolist() == [3, 1, 1]
    assert partition.tolist() == [0, 0, 0]


def test_batching_empty_and_invalid():
    batch_of, close, _, _ = batch_messages(np.empty(0), np.empty(0, np.int64), 2, 5, 1)
    assert batch_of.size == 0
    assert close.size == 0
    with pytest.raises(ParameterError, match=r"partitions must lie in 0\.\.1"):
        batch_messages(np.zeros(2), np.array([0, 2]), 2, 5, 1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 5))))
def test_stations_kernel_matches_reference(jobs):
    ready = np.cumsum([float(gap) for gap, _, _ in jobs])
    station = np.array([s for _, s, _ in jobs], dtype=np.int64)
    service = np.array([float(w) for _, _, w in jobs])
    starts = serve_at_stations(ready, station, service, np.full(3, -np.inf))
    expected = reference.serve_at_stations(
        ready.tolist(), station.tolist(), service.tolist(), 3
    )
    assert starts.tolist() == expected


def test_batch_figures_match_monte_carlo():
    rate, max_messages, linger = 400.0, 5, 0.01
    figures = batch_figures(rate, max_messages, linger)
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.exponential(1 / rate, 400_000))
    batch_of, close, _, size = batch_messages(
        times, np.zeros(times.size, np.int64), 1, max_messages, linger
    )
    # 400,000 messages in about 100,000 batches: standard errors near 0.3%.
    assert size.mean() == pytest.approx(figures.mean_size, rel=0.01)
    assert (size.astype(float) ** 2).mean() == pytest.approx(
        figures.mean_square_size, rel=0.01
    )
    delay = (close[batch_of] - times).mean()
    assert delay == pytest.approx(figures.mean_delay_s, rel=0.01)


def test_batch_figures_without_batching():
    figures = batch_figures(100.0, 1, 0.01)
    assert figures.mean_size == 1.0
    assert figures.mean_delay_s == 0.0


def test_saturation_is_consumer_bound_by_hand():
    config = BusConfig(partitions=8, consumers=4, consumer_per_message_s=0.01)
    # Each consumer reads 2 of 8 partitions and processes 100 messages/s.
    assert saturation_rate(config) == pytest.approx(8 / (2 * 0.01))


def test_idle_consumers_beyond_partition_count():
    config = BusConfig(partitions=4, consumers=10, consumer_per_message_s=0.01)
    prediction = predict_bus(100.0, config)
    assert prediction.consumer_utilizations[4:] == [0.0] * 6
    assert saturation_rate(config) == pytest.approx(400.0)


def test_more_partitions_raise_saturation_with_enough_consumers():
    config = BusConfig(partitions=4, consumers=8, consumer_per_message_s=0.01)
    wider = dataclasses.replace(config, partitions=8)
    assert saturation_rate(wider) == pytest.approx(2 * saturation_rate(config))


def test_broker_bound_saturation_with_full_batches():
    config = BusConfig(
        partitions=3,
        brokers=3,
        replication_factor=1,
        batch_max_messages=10,
        linger_s=1.0,
        broker_batch_overhead_s=0.01,
        broker_per_message_s=0.001,
        consumer_per_message_s=1e-6,
    )
    # Batches fill long before the linger time; one broker per partition appends
    # 10 messages in 0.02 s, so 3 partitions carry 3 x 500 messages/s.
    assert saturation_rate(config) == pytest.approx(1500.0, rel=1e-6)


def test_prediction_at_saturation_raises():
    config = BusConfig()
    with pytest.raises(UnstableSystemError, match="saturates at 400 messages/s"):
        predict_bus(400.0, config)


def test_prediction_agrees_with_simulation_without_batching():
    # Without batching each consumer is an M/M/1 queue fed through a nearly idle
    # broker, so the analytic figures are exact up to the broker's tiny queue.
    config = BusConfig(linger_s=0.0, consumers=4, consumer_per_message_s=0.01)
    rate = 280.0
    prediction = predict_bus(rate, config)
    simulated = simulate_bus(poisson_messages(rate, 3000.0, seed=3), config, seed=4)
    assert simulated.mean_latency_s == pytest.approx(
        prediction.mean_latency_s, rel=0.05
    )
    p99 = prediction.latency_percentiles_s["p99"]
    assert simulated.latency_percentiles_s["p99"] == pytest.approx(p99, rel=0.05)
    assert simulated.consumer_utilizations[0] == pytest.approx(0.7, rel=0.03)
    assert simulated.mean_consumer_lag == pytest.approx(
        prediction.mean_consumer_lag, rel=0.1
    )


def test_poisson_stream_is_not_bursty():
    stream = poisson_messages(50.0, 4000.0, seed=5)
    summary = burstiness(stream)
    # The index of dispersion of 4,000 Poisson counts has a standard error ≈ 0.02.
    assert summary["index_of_dispersion"] == pytest.approx(1.0, abs=0.1)
    assert stream.mean_rate == pytest.approx(50.0, rel=0.02)


def test_outage_without_failover_holds_messages_for_its_duration():
    times = np.arange(0.0, 200.0, 0.05)
    stream = MessageStream(times, [None] * times.size, 0)
    config = BusConfig(
        partitions=3, brokers=3, replication_factor=1, consumer_per_message_s=0.001
    )
    outage = BrokerOutage(broker=0, start_s=50.0, duration_s=20.0, failover_s=5.0)
    impact = outage_impact(stream, config, outage, seed=1)
    # With one replica the partition waits for its broker: a message of the failed
    # broker's partitions sent just after the failure waits nearly 20 s.
    assert 19.5 < impact["with_outage"]["max_latency_s"] <= 20.1
    assert impact["without_outage"]["max_latency_s"] < 0.1


def test_outage_with_failover_is_bounded_by_failover_time():
    times = np.arange(0.0, 200.0, 0.05)
    stream = MessageStream(times, [None] * times.size, 0)
    config = BusConfig(partitions=3, brokers=3, consumer_per_message_s=0.001)
    outage = BrokerOutage(broker=0, start_s=50.0, duration_s=20.0, failover_s=5.0)
    impact = outage_impact(stream, config, outage, seed=1)
    assert 4.5 < impact["with_outage"]["max_latency_s"] <= 5.1
    # After failover one broker leads two of the three partitions.
    assert impact["saturation_rate_after_failover"] <= saturation_rate(config)


def test_outage_backlog_reaches_consumer_after_takeover():
    # Held batches commit together when the follower takes over, so a slow
    # consumer shows a lag spike right after the takeover.
    times = np.arange(0.0, 200.0, 0.05)
    stream = MessageStream(times, [None] * times.size, 0)
    config = BusConfig(partitions=3, brokers=3, consumer_per_message_s=0.04)
    outage = BrokerOutage(broker=0, start_s=50.0, duration_s=20.0, failover_s=5.0)
    impact = outage_impact(stream, config, outage, seed=1)
    assert impact["max_consumer_lag_with"] > 3 * impact["max_consumer_lag_without"]
    hit = simulate_bus(stream, dataclasses.replace(config, outage=outage), seed=1)
    assert 55.0 <= hit.max_lag_at_s <= 57.0


def test_config_rejects_inconsistent_values():
    with pytest.raises(ParameterError, match="replication_factor 4 exceeds"):
        BusConfig(brokers=3, replication_factor=4)
    with pytest.raises(ParameterError, match="partitions must be a whole number"):
        BusConfig(partitions=0)
    with pytest.raises(ParameterError, match="outage broker 5 does not exist"):
        BusConfig(outage=BrokerOutage(5, 0.0, 1.0))


def test_messages_from_events_skip_untimed_events():
    frame = pl.DataFrame(
        {
            "time_us": [3_000_000, None, 1_000_000, 1_000_000, None],
            "source": ["process", "process", "group", "process", "group"],
            "band": ["production", "free", None, "middle", None],
        },
        schema={"time_us": pl.Int64, "source": pl.String, "band": pl.String},
    )
    stream = messages_from_events(frame)
    assert stream.times_s.tolist() == [0.0, 0.0, 2.0]
    assert stream.bands == [None, "middle", "production"]
    assert stream.sources == ["group", "process", "process"]
    assert stream.origin_us == 1_000_000


def test_messages_from_events_rejects_empty_window():
    frame = pl.DataFrame(
        {"time_us": [None], "band": [None]},
        schema={"time_us": pl.Int64, "band": pl.String},
    )
    with pytest.raises(ParameterError, match="no process or group event lies inside"):
        messages_from_events(frame)


def test_real_trace_is_burstier_than_poisson(google_2011_store):
    stream = messages_from_store(google_2011_store)
    timed = sum(
        google_2011_store.read(table, ["time_us"])["time_us"].is_not_null().sum()
        for table in ("transitions", "group_transitions")
    )
    assert stream.times_s.size == timed
    summary = burstiness(stream)
    assert summary["index_of_dispersion"] > 10

    config = BusConfig()
    trace_run = simulate_bus(stream, config, seed=1)
    poisson_run = simulate_bus(
        poisson_messages(stream.mean_rate, stream.duration_s, seed=2), config, seed=1
    )
    prediction = predict_bus(stream.mean_rate, config)
    trace_p99 = trace_run.latency_percentiles_s["p99"]
    assert trace_p99 > 5 * poisson_run.latency_percentiles_s["p99"]
    assert poisson_run.latency_percentiles_s["p99"] == pytest.approx(
        prediction.latency_percentiles_s["p99"], rel=0.1
    )
    rows = sweep_partitions(
        stream, dataclasses.replace(config, consumers=8), [4, 8], seed=1
    )
    assert [row["partitions"] for row in rows] == [4, 8]
    assert rows[0]["saturation_rate"] < rows[1]["saturation_rate"]
