"""Analytic queueing models: exact formulas and named approximations.

One model per module. Every public class checks its inputs, raises
:class:`~muosm_perf.errors.UnstableSystemError` when the offered load has no steady
state, and names its formula's source in its docstring. The simulation side lives in
:mod:`muosm_perf.queueing.simulation` (drivers) and :mod:`muosm_perf.kernels`.
"""

from muosm_perf.queueing.allen_cunneen import AllenCunneenQueue
from muosm_perf.queueing.erlang import erlang_b, erlang_c
from muosm_perf.queueing.jackson import JacksonNetwork, solve_traffic_equations
from muosm_perf.queueing.kingman import KingmanQueue
from muosm_perf.queueing.mg1 import MG1Queue, md1_queue
from muosm_perf.queueing.mmc import MMcQueue
from muosm_perf.queueing.priority import PriorityMG1Queue

__all__ = [
    "AllenCunneenQueue",
    "JacksonNetwork",
    "KingmanQueue",
    "MG1Queue",
    "MMcQueue",
    "PriorityMG1Queue",
    "erlang_b",
    "erlang_c",
    "md1_queue",
    "solve_traffic_equations",
]
