"""Distribution fitting for positive durations: candidates, goodness of fit, choice.

:func:`fit_durations` fits any sample of positive durations (inter-arrival times,
service times, machine downtimes, times between failures);
:mod:`muosm_perf.fitting.bands` wraps it per priority band of a trace store.
"""

from muosm_perf.fitting.durations import (
    FAMILIES,
    DurationFit,
    FittedDistribution,
    fit_durations,
)
from muosm_perf.fitting.hyperexponential import Hyperexponential, fit_hyperexponential

__all__ = [
    "FAMILIES",
    "DurationFit",
    "FittedDistribution",
    "Hyperexponential",
    "fit_durations",
    "fit_hyperexponential",
]
