"""Conversion of Alibaba cluster trace v2018 rows into canonical tables.

Group IDs are numbered here: batch tasks 1..n in (job name, task name) order, then
applications in name order. A batch task's DAG edges come from its name.
"""

from __future__ import annotations

import polars as pl

from muosm_perf.model import schema
from muosm_perf.model.lifecycle import CELL_EVENT_DTYPE, EVENT_DTYPE
from muosm_perf.traces.alibaba2018_tables import STATUS_CODES

PLACED_STATUSES = ("Running", "Terminated", "Failed", "Interrupted")
"""Statuses of a task or instance that started (Cancelled ones may or may not have)."""

END_EVENTS = {
    "Terminated": "FINISH",
    "Failed": "FAIL",
    "Cancelled": "KILL",
    "Interrupted": "KILL",
}
"""Status → the event that ends the attempt. An interrupted instance is a backup copy
stopped by the job's driver, hence KILL."""

GROUP_ATTRIBUTES = pl.Schema(
    {
        "group_id": pl.Int64,
        "kind": pl.String,
        "job_name": pl.String,
        "task_name": pl.String,
        "task_number": pl.Int64,
        "task_type": pl.String,
        "instance_num": pl.Int64,
        "app_du": pl.String,
    }
)
"""Names of every group ID: ``batch_task`` groups and ``online_app`` groups."""

MACHINE_USAGE_TABLE = pl.Schema(
    {
        "time_us": pl.Int64,
        "before_window": pl.Boolean,
        "cell_id": pl.Int64,
        "cpu_util_percent": pl.Float64,
        "mem_util_percent": pl.Float64,
        "mem_gps": pl.Float64,
        "mkpi": pl.Float64,
        "net_in": pl.Float64,
        "net_out": pl.Float64,
        "disk_io_percent": pl.Float64,
    }
)
"""Machine usage samples, as the trace gives them (percent of the machine)."""


def _time(column: str) -> tuple[pl.Expr, pl.Expr]:
    """Return ``time_us`` (null at or before the trace start) and the before flag."""
    raw = pl.col(column)
    return pl.when(raw > 0).then(raw), (raw <= 0).fill_null(value=False)


def task_number_and_dependencies(task_name: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Parse a DAG task name: its number and the numbers of the tasks it waits for.

    ``M5_3_4`` is task 5 and waits for tasks 3 and 4; the leading letters do not
    matter. A name whose first part has no number (``task_Nzg3...``,
    ``MergeTask``) is an independent task: null number, no dependencies. Parts
    after the first that are not numbers are ignored.
    """
    parts = task_name.str.split("_")
    number = parts.list.first().str.extract(r"^[A-Za-z]*(\d{1,18})$", 1)
    dependencies = parts.list.slice(1).list.eval(
        pl.element().str.extract(r"^(\d{1,18})$", 1).cast(pl.Int64).drop_nulls()
    )
    has_number = number.is_not_null()
    empty = pl.lit([], dtype=pl.List(pl.Int64))
    return (
        number.cast(pl.Int64),
        pl.when(has_number).then(dependencies).otherwise(empty),
    )


def number_groups(
    tasks: pl.DataFrame, instance_keys: pl.DataFrame, apps: pl.Series
) -> pl.DataFrame:
    """Give every batch task and application a group ID (the GROUP_ATTRIBUTES rows).

    Parameters
    ----------
    tasks
        Accepted ``batch_task`` rows.
    instance_keys
        Distinct ``job_name`` and ``task_name`` of ``batch_instance`` rows, which
        may name tasks missing from ``batch_task``.
    apps
        Distinct ``app_du`` values of ``container_meta``.
    """
    task_rows = (
        tasks.group_by("job_name", "task_name")
        .agg(
            pl.col("task_type").drop_nulls().last(),
            pl.col("instance_num").drop_nulls().last(),
        )
        .join(
            instance_keys.unique(),
            on=["job_name", "task_name"],
            how="full",
            coalesce=True,
        )
        .sort("job_name", "task_name")
    )
    number, _ = task_number_and_dependencies(pl.col("task_name"))
    batch = task_rows.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("group_id"),
        pl.lit("batch_task").alias("kind"),
        "job_name",
        "task_name",
        number.alias("task_number"),
        "task_type",
        "instance_num",
        pl.lit(None, dtype=pl.String).alias("app_du"),
    )
    online = pl.DataFrame({"app_du": apps.unique().sort()}).select(
        (pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + batch.height).alias(
            "group_id"
        ),
        pl.lit("online_app").alias("kind"),
        pl.lit(None, dtype=pl.String).alias("job_name"),
        pl.lit(None, dtype=pl.String).alias("task_name"),
        pl.lit(None, dtype=pl.Int64).alias("task_number"),
        pl.lit(None, dtype=pl.String).alias("task_type"),
        pl.lit(None, dtype=pl.Int64).alias("instance_num"),
        "app_du",
    )
    return pl.concat(
        [batch.cast(dict(GROUP_ATTRIBUTES)), online.cast(dict(GROUP_ATTRIBUTES))]
    )


def dag_dependencies(groups: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Return the ``dag`` edges between batch task groups, and the dangling count.

    An edge names a task number; it is resolved to the task of the same job with
    that number. A dependency on a number no task of the job has is dangling and
    left out.
    """
    batch = groups.filter(pl.col("kind") == "batch_task")
    _, dependencies = task_number_and_dependencies(pl.col("task_name"))
    wanted = (
        batch.select("group_id", "job_name", dependencies.alias("depends_on_number"))
        .explode("depends_on_number")
        .drop_nulls("depends_on_number")
    )
    targets = batch.select(
        "job_name",
        pl.col("task_number").alias("depends_on_number"),
        pl.col("group_id").alias("depends_on_group_id"),
    ).drop_nulls("depends_on_number")
    resolved = wanted.join(targets, on=["job_name", "depends_on_number"], how="left")
    dangling = int(resolved["depends_on_group_id"].null_count())
    edges = (
        resolved.drop_nulls("depends_on_group_id")
        .select("group_id", "depends_on_group_id", pl.lit("dag").alias("kind"))
        .unique()
        .sort("group_id", "depends_on_group_id")
    )
    return edges.cast(dict(schema.GROUP_DEPENDENCIES)), dangling


def _lifecycle_events(
    frame: pl.DataFrame, placed: pl.Expr, extra: list[pl.Expr]
) -> pl.DataFrame:
    """Turn start/end/status rows into SUBMIT or SCHEDULE events and end events.

    A placed row gives SCHEDULE at ``start_time``; a row that never started gives a
    SUBMIT at an unknown time (the trace has no submission times). A row whose
    status ends it gives its end event at ``end_time``: before the window when both
    times are at or before the trace start, unknown when only the end is.
    """
    start_time, start_before = _time("start_time")
    end_time, _ = _time("end_time")
    end_before = ((pl.col("end_time") <= 0) & (pl.col("start_time") <= 0)).fill_null(
        value=False
    )
    status_code = pl.col("status").replace_strict(STATUS_CODES, return_dtype=pl.Int16)
    first = frame.select(
        *extra,
        pl.when(placed).then(start_time).alias("time_us"),
        pl.when(placed)
        .then(start_before)
        .otherwise(pl.lit(value=False))
        .alias("before_window"),
        pl.when(placed)
        .then(pl.lit("SCHEDULE"))
        .otherwise(pl.lit("SUBMIT"))
        .alias("event"),
        status_code.alias("source_code"),
        pl.lit(0, dtype=pl.Int8).alias("_order"),
    )
    ending = frame.filter(pl.col("status").is_in(list(END_EVENTS))).select(
        *extra,
        end_time.alias("time_us"),
        end_before.alias("before_window"),
        pl.col("status")
        .replace_strict(END_EVENTS, return_dtype=pl.String)
        .alias("event"),
        status_code.alias("source_code"),
        pl.lit(1, dtype=pl.Int8).alias("_order"),
    )
    return pl.concat([first, ending])


def instance_transitions(
    instances: pl.DataFrame, groups: pl.DataFrame, file_index: int
) -> pl.DataFrame:
    """Convert accepted ``batch_instance`` rows into ``transitions`` rows."""
    plans = groups.select("group_id", "job_name", "task_name")
    tasks = instances.join(plans, on=["job_name", "task_name"], how="left")
    placed = pl.col("status").is_in(PLACED_STATUSES) | (
        (pl.col("status") == "Cancelled") & pl.col("machine_id").is_not_null()
    )
    extra = [
        pl.col("group_id"),
        pl.col("instance_name").alias("process_index"),
        pl.col("machine_id").alias("cell_id"),
        (pl.col("plan_cpu") / 100).alias("cpu_request"),
        (pl.col("plan_mem") / 100).alias("memory_request"),
        pl.col("line"),
    ]
    events = _lifecycle_events(tasks, placed, extra)
    return events.select(
        "time_us",
        "before_window",
        pl.lit(value=False).alias("after_window"),
        "group_id",
        "process_index",
        pl.col("event").cast(EVENT_DTYPE),
        "source_code",
        pl.lit(None, dtype=pl.Int8).alias("missing_info"),
        pl.when(pl.col("event") != "SUBMIT").then(pl.col("cell_id")).alias("cell_id"),
        pl.lit(None, dtype=pl.Int16).alias("priority"),
        pl.lit(None, dtype=pl.Int8).alias("scheduling_class"),
        "cpu_request",
        "memory_request",
        pl.lit(None, dtype=pl.Float64).alias("disk_request"),
        pl.lit(None, dtype=pl.Boolean).alias("different_cells"),
        pl.lit(file_index, dtype=pl.UInt16).alias("source_file"),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ).cast(dict(schema.TRANSITIONS))


def task_group_transitions(
    tasks: pl.DataFrame, groups: pl.DataFrame, file_index: int
) -> pl.DataFrame:
    """Convert accepted ``batch_task`` rows into ``group_transitions`` rows."""
    keyed = tasks.join(
        groups.select("group_id", "job_name", "task_name"),
        on=["job_name", "task_name"],
        how="left",
    )
    placed = pl.col("status").is_in(PLACED_STATUSES) | (
        (pl.col("status") == "Cancelled") & (pl.col("start_time") > 0)
    )
    extra = [
        pl.col("group_id"),
        pl.format("{}/{}", "job_name", "task_name").alias("name"),
        pl.col("job_name").alias("logical_name"),
        pl.col("line"),
    ]
    events = _lifecycle_events(keyed, placed.fill_null(value=False), extra)
    return events.select(
        "time_us",
        "before_window",
        pl.lit(value=False).alias("after_window"),
        "group_id",
        pl.col("event").cast(EVENT_DTYPE),
        "source_code",
        pl.lit(None, dtype=pl.Int8).alias("missing_info"),
        pl.lit(None, dtype=pl.String).alias("user"),
        pl.lit(None, dtype=pl.Int8).alias("scheduling_class"),
        "name",
        "logical_name",
        pl.lit(file_index, dtype=pl.UInt16).alias("source_file"),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ).cast(dict(schema.GROUP_TRANSITIONS))


def container_transitions(
    containers: pl.DataFrame,
    groups: pl.DataFrame,
    status_codes: dict[str, int],
) -> pl.DataFrame:
    """Convert all ``container_meta`` rows into ``transitions`` rows.

    A container's first row (in time, then file and line order) places it: a
    SCHEDULE on its machine. Its later rows are UPDATE_RUNNING. The trace records
    no container end, so every container runs to the end of the window.

    ``containers`` carries ``source_file`` beside the parsed columns.
    """
    # NOTE: a container that appears on another machine in a later row keeps the
    # machine of its first row, because moves are not modelled as new attempts.
    apps = groups.filter(pl.col("kind") == "online_app").select("group_id", "app_du")
    time_us, before = _time("time_stamp")
    ordered = (
        containers.join(apps, on="app_du", how="left")
        .with_columns(time_us.alias("_time"), before.alias("_before"))
        .sort(pl.col("_before").not_(), "_time", "source_file", "line", nulls_last=True)
        .with_columns(
            (pl.int_range(pl.len()).over("container_id") == 0).alias("_first")
        )
    )
    return ordered.select(
        pl.col("_time").alias("time_us"),
        pl.col("_before").alias("before_window"),
        pl.lit(value=False).alias("after_window"),
        "group_id",
        pl.col("container_id").alias("process_index"),
        pl.when("_first")
        .then(pl.lit("SCHEDULE"))
        .otherwise(pl.lit("UPDATE_RUNNING"))
        .cast(EVENT_DTYPE)
        .alias("event"),
        pl.col("status")
        .replace_strict(status_codes, return_dtype=pl.Int16)
        .alias("source_code"),
        pl.lit(None, dtype=pl.Int8).alias("missing_info"),
        pl.col("machine_id").alias("cell_id"),
        pl.lit(None, dtype=pl.Int16).alias("priority"),
        pl.lit(None, dtype=pl.Int8).alias("scheduling_class"),
        (pl.col("cpu_request") / 100).alias("cpu_request"),
        (pl.col("mem_size") / 100).alias("memory_request"),
        pl.lit(None, dtype=pl.Float64).alias("disk_request"),
        pl.lit(None, dtype=pl.Boolean).alias("different_cells"),
        pl.col("source_file").cast(pl.UInt16),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ).cast(dict(schema.TRANSITIONS))


def machine_cell_events(
    machines: pl.DataFrame, status_codes: dict[str, int]
) -> pl.DataFrame:
    """Convert all ``machine_meta`` rows into ``cell_events`` rows.

    A machine's first row (in time order) is its ADD; its later rows are UPDATEs.
    ``machines`` carries ``source_file`` beside the parsed columns.
    """
    time_us, before = _time("time_stamp")
    domain = pl.concat_str(
        pl.col("failure_domain_1").cast(pl.String).fill_null(""),
        pl.col("failure_domain_2").fill_null(""),
        separator="/",
    )
    has_domain = (
        pl.col("failure_domain_1").is_not_null()
        | pl.col("failure_domain_2").is_not_null()
    )
    ordered = (
        machines.with_columns(time_us.alias("_time"), before.alias("_before"))
        .sort(pl.col("_before").not_(), "_time", "source_file", "line", nulls_last=True)
        .with_columns((pl.int_range(pl.len()).over("machine_id") == 0).alias("_first"))
    )
    return ordered.select(
        pl.col("_time").alias("time_us"),
        pl.col("_before").alias("before_window"),
        pl.lit(value=False).alias("after_window"),
        pl.col("machine_id").alias("cell_id"),
        pl.when("_first")
        .then(pl.lit("ADD"))
        .otherwise(pl.lit("UPDATE"))
        .cast(CELL_EVENT_DTYPE)
        .alias("event"),
        pl.col("status")
        .replace_strict(status_codes, return_dtype=pl.Int16)
        .alias("source_code"),
        pl.lit(None, dtype=pl.String).alias("platform"),
        pl.when(has_domain).then(domain).alias("domain"),
        pl.col("cpu_num").cast(pl.Float64).alias("cpu_capacity"),
        (pl.col("mem_size") / 100).alias("memory_capacity"),
        pl.col("source_file").cast(pl.UInt16),
        pl.col("line").cast(pl.UInt32).alias("source_line"),
    ).cast(dict(schema.CELL_EVENTS))


def container_usage(
    samples: pl.DataFrame, containers: pl.DataFrame, groups: pl.DataFrame
) -> pl.DataFrame:
    """Convert ``container_usage`` samples into ``usage`` rows (without the flags).

    A sample is an instant, so the window starts and ends at it. CPU usage in cores
    is ``cpu_util_percent`` / 100 times the container's requested cores at that
    time: the maintainers state that a container's usage percentage is relative to
    its requested CPUs, not to the machine.
    """
    # NOTE: memory usage is left null: the trace does not say what
    # mem_util_percent of a container is a percentage of.
    time_us, _ = _time("time_stamp")
    requests = (
        containers.join(groups.select("group_id", "app_du"), on="app_du", how="left")
        .select(
            "container_id",
            "group_id",
            pl.col("time_stamp").alias("_since"),
            (pl.col("cpu_request") / 100).alias("_cores"),
        )
        .sort("_since")
    )
    joined = (
        samples.with_row_index("_row")
        .sort("time_stamp")
        .join_asof(
            requests,
            left_on="time_stamp",
            right_on="_since",
            by="container_id",
            strategy="backward",
            check_sortedness=False,
        )
        .sort("_row")
    )
    nothing = pl.lit(None, dtype=pl.Float64)
    return joined.select(
        time_us.alias("start_time_us"),
        time_us.alias("end_time_us"),
        "group_id",
        pl.col("container_id").alias("process_index"),
        pl.col("machine_id").alias("cell_id"),
        (pl.col("cpu_util_percent") / 100 * pl.col("_cores")).alias("cpu_usage"),
        nothing.alias("memory_usage"),
        nothing.alias("assigned_memory"),
        nothing.alias("unmapped_page_cache"),
        nothing.alias("total_page_cache"),
        nothing.alias("max_memory_usage"),
        nothing.alias("disk_io_time"),
        nothing.alias("local_disk_usage"),
        nothing.alias("max_cpu_usage"),
        nothing.alias("max_disk_io_time"),
        pl.col("cpi").alias("cycles_per_instruction"),
        nothing.alias("memory_accesses_per_instruction"),
        nothing.alias("sample_portion"),
        pl.lit(None, dtype=pl.Boolean).alias("aggregated"),
        nothing.alias("sampled_cpu_usage"),
        pl.lit(None, dtype=schema.USAGE["cpu_usage_percentiles"]).alias(
            "cpu_usage_percentiles"
        ),
        pl.lit(None, dtype=schema.USAGE["cpu_usage_tail_percentiles"]).alias(
            "cpu_usage_tail_percentiles"
        ),
    )


def machine_usage(samples: pl.DataFrame) -> pl.DataFrame:
    """Convert ``machine_usage`` samples into the ``machine_usage`` side table."""
    time_us, before = _time("time_stamp")
    return samples.select(
        time_us.alias("time_us"),
        before.alias("before_window"),
        pl.col("machine_id").alias("cell_id"),
        "cpu_util_percent",
        "mem_util_percent",
        "mem_gps",
        "mkpi",
        "net_in",
        "net_out",
        "disk_io_percent",
    ).cast(dict(MACHINE_USAGE_TABLE))
