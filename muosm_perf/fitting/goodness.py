"""Goodness-of-fit statistics of a sample against a fitted distribution.

The p-values assume the distribution was fixed before seeing the sample. With
parameters estimated from the same sample they are too large (the tests are
conservative), so the statistics are best used to rank candidate families, and
with samples of many thousand values every family is rejected at usual levels.
"""

from __future__ import annotations

import numpy as np
import scipy.stats


def kolmogorov_smirnov(sorted_sample: np.ndarray, distribution) -> tuple[float, float]:
    """Return the Kolmogorov-Smirnov statistic D and its p-value."""
    result = scipy.stats.kstest(sorted_sample, distribution.cdf)
    return float(result.statistic), float(result.pvalue)


def anderson_darling(sorted_sample: np.ndarray, distribution) -> float:
    """Return the Anderson-Darling statistic A² of a sorted sample.

    A² = -n - (1/n) Σ_{i=1..n} (2i - 1) [ln F(x_(i)) + ln(1 - F(x_(n+1-i)))]
    (Anderson and Darling, Ann. Math. Statist. 23, 1952), computed from ``logcdf``
    and ``logsf`` so that the tails do not round to log 0. Values of F at 0 or 1
    are clipped to the smallest positive double.
    """
    n = sorted_sample.size
    tiny = np.log(np.finfo(float).tiny)
    log_cdf = np.maximum(np.asarray(distribution.logcdf(sorted_sample), float), tiny)
    log_sf = np.maximum(np.asarray(distribution.logsf(sorted_sample), float), tiny)
    weights = 2.0 * np.arange(1, n + 1) - 1.0
    return float(-n - (weights * (log_cdf + log_sf[::-1])).sum() / n)
