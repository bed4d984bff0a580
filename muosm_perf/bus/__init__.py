"""Model the μ-OSM message bus as a partitioned, replicated log.

- :mod:`~muosm_perf.bus.config`: the model and every assumption about the bus;
- :mod:`~muosm_perf.bus.load`: message streams from a trace or a distribution;
- :mod:`~muosm_perf.bus.analytic`: latency, lag and saturation under Poisson load;
- :mod:`~muosm_perf.bus.simulate`: trace-driven simulation, message by message;
- :mod:`~muosm_perf.bus.whatif`: partition counts and broker outages.
"""

from muosm_perf.bus.analytic import BusPrediction, predict_bus, saturation_rate
from muosm_perf.bus.config import BrokerOutage, BusConfig
from muosm_perf.bus.load import (
    MessageStream,
    burstiness,
    messages_from_events,
    messages_from_store,
    poisson_messages,
)
from muosm_perf.bus.simulate import BusSimulation, simulate_bus
from muosm_perf.bus.whatif import outage_impact, sweep_partitions

__all__ = [
    "BrokerOutage",
    "BusConfig",
    "BusPrediction",
    "BusSimulation",
    "MessageStream",
    "burstiness",
    "messages_from_events",
    "messages_from_store",
    "outage_impact",
    "poisson_messages",
    "predict_bus",
    "saturation_rate",
    "simulate_bus",
    "sweep_partitions",
]
