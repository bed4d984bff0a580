"""Per-band duration samples from the canonical tables, and their fits.

Three quantities per priority band, in seconds, from the ``processes`` table (one
row per attempt):

- ``interarrival``: gaps between consecutive submissions (SUBMIT instants of
  attempts inside the trace window, resubmissions included) in the band;
- ``service``: run time of attempts whose schedule and end both lie inside the
  window (``run_time_us``);
- ``scheduling_delay``: SUBMIT to SCHEDULE of attempts with both instants inside
  the window (``scheduling_delay_us``).

Durations of 0 are real in traces: the tasks of a job are often submitted in the
same microsecond. A continuous distribution cannot fit them, so they are counted
(``zero_fraction``) and left out of the fit. A model of such arrivals needs batches,
and the zero fraction sizes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from muosm_perf.errors import ParameterError
from muosm_perf.fitting.durations import FAMILIES, DurationFit, fit_durations
from muosm_perf.model.lifecycle import BAND_LABELS

logger = logging.getLogger(__name__)

QUANTITIES = ("interarrival", "service", "scheduling_delay")
"""Quantities that :func:`band_durations` extracts."""

MICROSECONDS_PER_SECOND = 1_000_000


def band_durations(processes: pl.DataFrame | pl.LazyFrame, quantity: str) -> dict:
    """Return each band's durations of ``quantity`` in seconds, zeros included.

    Parameters
    ----------
    processes
        The canonical ``processes`` table (or a lazy scan of it).
    quantity
        One of :data:`QUANTITIES`.

    Returns
    -------
    dict
        Band label → float64 array, for the bands that have any value.
    """
    if quantity not in QUANTITIES:
        raise ParameterError(f"quantity must be one of {QUANTITIES}, got {quantity!r}")
    frame = processes.lazy()
    if quantity == "interarrival":
        durations = (
            frame.filter(
                pl.col("submit_time_us").is_not_null() & pl.col("band").is_not_null()
            )
            .select("band", "submit_time_us")
            .sort("band", "submit_time_us")
            .select(
                "band",
                pl.col("submit_time_us").diff().over("band").alias("duration_us"),
            )
        )
    else:
        column = "run_time_us" if quantity == "service" else "scheduling_delay_us"
        durations = frame.select("band", pl.col(column).alias("duration_us"))
    table = (
        durations.filter(
            pl.col("duration_us").is_not_null() & pl.col("band").is_not_null()
        )
        .select(
            pl.col("band").cast(pl.String),
            (pl.col("duration_us").cast(pl.Float64) / MICROSECONDS_PER_SECOND).alias(
                "seconds"
            ),
        )
        .collect()
    )
    result = {}
    for band in BAND_LABELS:
        values = table.filter(pl.col("band") == band)["seconds"].to_numpy()
        if values.size:
            result[band] = values
    return result


@dataclass(frozen=True)
class BandFit:
    """The fit of one band's durations and what was left out of it."""

    band: str
    quantity: str
    count: int
    zero_fraction: float
    fit: DurationFit | None

    def as_dict(self) -> dict:
        """Return a JSON-ready dictionary."""
        return {
            "band": self.band,
            "quantity": self.quantity,
            "count": self.count,
            "zero_fraction": self.zero_fraction,
            "fit": None if self.fit is None else self.fit.as_dict(),
        }


MINIMUM_FIT_SIZE = 20
"""Bands with fewer positive durations than this are reported without a fit."""


def fit_bands(
    processes: pl.DataFrame | pl.LazyFrame,
    quantity: str,
    families: tuple[str, ...] = FAMILIES,
    *,
    criterion: str = "aic",
    max_sample: int | None = 100_000,
    seed: int | None = 0,
) -> list[BandFit]:
    """Fit ``quantity`` per band with :func:`~muosm_perf.fitting.fit_durations`.

    Parameters
    ----------
    processes
        The canonical ``processes`` table.
    quantity
        One of :data:`QUANTITIES`.
    families, criterion
        As for :func:`~muosm_perf.fitting.fit_durations`.
    max_sample
        Fit at most this many positive durations per band, drawn without
        replacement with ``seed`` (None fits them all). The numerical Weibull and
        gamma fits take about a second per 100,000 values.
    seed
        Seed of the subsample.
    """
    rng = np.random.default_rng(seed)
    fits = []
    for band, values in band_durations(processes, quantity).items():
        positive = values[values > 0]
        zero_fraction = float((values == 0).mean())
        if max_sample is not None and positive.size > max_sample:
            positive = rng.choice(positive, size=max_sample, replace=False)
        if positive.size < MINIMUM_FIT_SIZE:
            logger.info(
                "band %s: %d positive %s values, not fitted",
                band,
                positive.size,
                quantity,
            )
            fits.append(BandFit(band, quantity, int(values.size), zero_fraction, None))
            continue
        fit = fit_durations(positive, families, criterion=criterion)
        fits.append(BandFit(band, quantity, int(values.size), zero_fraction, fit))
    return fits
