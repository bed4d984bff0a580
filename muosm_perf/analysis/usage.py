"""Measured usage against requests: how much of what processes asked for they used."""

from __future__ import annotations

import polars as pl

from muosm_perf.model.store import TraceStore


def usage_against_request(store: TraceStore) -> pl.DataFrame:
    """Join every usage window to the attempt that was running when it started.

    Returns
    -------
    polars.DataFrame
        The ``usage`` columns plus ``attempt``, ``cpu_request``, ``memory_request``
        and the ratios ``cpu_usage_to_request`` and ``memory_usage_to_request``.
        A ratio is null where the request is 0 or unknown: a request of 0 is real
        in the Google traces (tasks that reserve no CPU) and has no finite ratio.
        Usage above the machine's capacity is kept and flagged in
        ``over_capacity``, never clipped.
    """
    attempts = (
        store.scan("processes")
        .select(
            "group_id",
            "process_index",
            "attempt",
            pl.col("schedule_time_us").fill_null(0).alias("_since"),
            "cpu_request",
            "memory_request",
        )
        .sort("_since")
        .collect()
    )
    usage = store.scan("usage").with_row_index("_row").sort("start_time_us").collect()
    joined = usage.join_asof(
        attempts,
        left_on="start_time_us",
        right_on="_since",
        by=["group_id", "process_index"],
        strategy="backward",
        check_sortedness=False,
    ).sort("_row")

    def ratio(measured: str, requested: str) -> pl.Expr:
        return (
            pl.when(pl.col(requested) > 0)
            .then(pl.col(measured) / pl.col(requested))
            .alias(f"{measured}_to_request")
        )

    return joined.with_columns(
        ratio("cpu_usage", "cpu_request"), ratio("memory_usage", "memory_request")
    ).drop("_row", "_since")
