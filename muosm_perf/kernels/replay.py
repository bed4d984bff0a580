"""Scheduling replay: processes placed on machines as a cluster scheduler would.

The model, which :mod:`muosm_perf.kernels.reference.replay` implements again in plain
Python, processes instants in time order. At each instant ``t``, in this order:

1. processes whose completion time is ``t`` finish and free their requests;
2. processes not running whose cancellation time (``end_time_us``) is ``t`` leave
   the system;
3. machine events at ``t`` apply in input order. ADD makes the machine alive with
   the given capacity (on an alive machine it only sets the capacity). UPDATE sets
   the capacity, also of a dead machine. Free capacity may go negative and nothing
   is killed. REMOVE kills the processes running on an alive machine, in process
   order, one eviction each. With the supervision scope ``group`` it then kills,
   in process order, the processes of the victims' groups running on other
   machines, one eviction each. The supervision policy
   (:mod:`muosm_perf.kernels.supervision`) sends each killed process back to the
   scheduler at once, after a backoff, or never. A REMOVE of a dead machine does
   nothing;
4. processes whose backoff ends at ``t`` (in time, then process order) and then
   processes submitted at ``t`` (in input order) go to the scheduler's intake, or
   straight to the pending queue if they bypass the scheduler. One whose
   cancellation time is at or before its submission is cancelled at once.
   A submission joins the batch at the tail of the intake if that batch is of the
   same group and no scheduler has taken it yet. Every restart is a batch of its
   own;
5. ``schedulers`` parallel schedulers serve the batches in intake order, each one
   batch at a time. Decisions ending at ``t`` complete in scheduler order, then
   idle schedulers take the next batches in scheduler order. A decision takes
   ``job_decision_s + task_decision_s * processes`` (processes of the batch not
   cancelled when the decision starts) and ends with the batch's processes in the
   pending queue. With zero decision times, batches go through at once. With
   ``optimistic`` schedulers (Omega's shared-state model), a decision places the
   batch's processes on a private copy of the cell state as it is when the
   decision starts, by the placement rule and in batch order. When it ends, each
   process whose machine still has room is placed there at once. A process whose
   machine has no room any more is a conflict, and it goes back to the intake as
   a batch of its own. Processes that fitted nowhere go to the pending queue;
6. if anything happened, one scheduling pass: the pending processes in queue order
   (a level from the policy's queue order, then enqueue order), each placed by the
   policy's placement rule (:mod:`muosm_perf.kernels.policy`) on an alive machine
   whose free CPU and free memory, as overcommitted, cover its requests, found
   through the trees of :mod:`muosm_perf.kernels.placement`. A process that fits
   nowhere stays pending. With the ``preempt`` option
   (:mod:`muosm_perf.kernels._preemption`), a process that fits nowhere and whose
   band is above the lowest takes the lowest-index machine where evicting
   processes of lower bands would make room (capacity minus the requests of its
   own and higher bands covers its requests). It evicts them one at a time, lowest
   band first and, within a band, the most recently placed first, until its
   requests fit, and then starts there. Each victim is killed as by a REMOVE: one
   eviction and one preemption counted, and the supervision policy sends it back.
   If a victim goes to the intake at once, the instant gets another round (steps
   1 to 6 again at the same ``t``), so that the schedulers take it;
6b. with the ``offers`` option (:mod:`muosm_perf.kernels._offers`), step 6 is
   replaced by a two-level offer model in the style of Apache Mesos. Each band is
   a framework with its own pending processes (in the policy's queue order) and
   its own placement rule. Frameworks take turns in ascending order of their
   dominant request (the larger of the CPU and memory requests they have running,
   in normalized units, an approximation of dominant resource fairness); ties go
   to the lower band. A framework with no pending process takes no offers (it
   suppresses them). Otherwise the master offers it every alive machine of known
   capacity in its pool, and the framework places its pending processes in queue
   order, each by its rule among the offered machines. An offered machine that
   got no process is declined: it leaves that framework's pool until ``refuse_s``
   later (the offers that return then make that instant do step 4 and a pass).
   Machines with a placement stay in the pool. Offers made, accepted and declined
   are counted per framework. The returns of declined offers are processed only
   while another source of instants (arrivals, machine events, completions,
   restarts, cancellations, decisions) has entries left, so that a process that
   never fits does not keep the replay going forever.

A placed process completes at its cancellation time if it has one, else ``duration``
later; a duration of -1 means it runs past the horizon. A process placed with
duration 0 completes at the same ``t``, in a second round of that instant. A machine
whose capacity is unknown (NaN) is alive but holds no process. Instants after
``horizon_us`` are not processed. With the default policy (priority order,
first-fit, no overcommitment, no decision time, immediate restarts) a pass sees
every process enqueued at its instant.

NOTE: the kernel does not visit every pending process at each pass, yet the outcome
is that of a full pass. After a pass no pending process fits on any machine: each
failed at its turn, and free capacity only shrinks later in the pass. Until the next
pass, capacity grows only on machines that had a completion, an ADD or an UPDATE.
So a process pending at the previous pass can fit only on one of those machines. The
pass visits, in queue order, the processes enqueued since and those that the
pending queue's min-tree (:mod:`muosm_perf.kernels._pending`) finds fitting on a
machine that grew; with more than ``grown_search_limit`` such machines it visits all.
The tests compare with a reference that always makes the full pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from muosm_perf.errors import ParameterError
from muosm_perf.kernels._numba import NULL_INT, njit
from muosm_perf.kernels._replay_kernel import INT64_MAX, TOTALS, replay_kernel
from muosm_perf.kernels.policy import PLACEMENTS, SchedulerPolicy
from muosm_perf.model.lifecycle import CellEvent

GROWN_SEARCH_LIMIT = 16
"""Default of ``grown_search_limit`` in :func:`replay_arrays`."""

_COUNTING_RANK_LIMIT = 1 << 22
"""Largest key range :func:`queue_levels` ranks by counting."""

MAX_PROCESSES = 2**31 - 2
"""Most processes (and machines) one replay takes: the kernel indexes them in int32."""

_ADD = int(CellEvent.ADD)
_REMOVE = int(CellEvent.REMOVE)
_UPDATE = int(CellEvent.UPDATE)

TOTAL_NOTES = {
    "unschedulable": "processes pending at the end that never ran",
    "pending_at_end": "processes waiting at the end (queue, scheduler, backoff)",
    "given_up": "processes the supervision policy did not restart",
    "batches": "scheduler decisions (batches of one job's processes)",
    "scheduler_busy_us": "sum of the decision times, microseconds",
    "instants": "instants processed (depends on the kernel's search, not the model)",
    "passes": "scheduling passes made (depends on the kernel's search)",
    "conflicts": "optimistic decisions whose machine had no room at commit",
    "preemptions": "evictions of running processes to make room for a higher band",
    "offers": "machines offered to a framework (offer model only)",
    "offers_accepted": "offers on which the framework placed a process",
    "offers_declined": "offers the framework declined (filtered for refuse_s)",
}
"""Meaning of some counters of :attr:`ReplayOutput.totals` (named by ``TOTALS``)."""


@dataclass(frozen=True)
class ReplayInput:
    """Arrays of one replay: machines, their events, processes and a sample grid.

    Times are integer microseconds; CPU and memory are in the trace's normalized
    units. Machines are numbered 0 to ``machines - 1``.

    Attributes
    ----------
    machines
        Number of machines.
    machine_event_time_us, machine_event_machine, machine_event_kind
        Machine events sorted by time (int64, int64, int8
        :class:`~muosm_perf.model.lifecycle.CellEvent` codes).
    machine_event_cpu_capacity, machine_event_memory_capacity
        Capacity given by an ADD or UPDATE (float64, NaN unknown; ignored for
        REMOVE).
    submit_time_us
        Process submission times, non-decreasing (int64).
    cpu_request, memory_request
        Requests (float64, finite and >= 0).
    priority
        Higher is more important (int64).
    duration_us
        Run time once placed (int64, -1 for "runs past the horizon").
    end_time_us
        Cancellation time for a process that must leave the queue at that instant
        if still pending and, if placed, run until it (int64, ``NULL_INT`` for
        none).
    grid_us
        Sample times, non-decreasing (int64).
    horizon_us
        Last instant processed (int64; ``INT64_MAX`` for none).
    group
        Process group (job) of each process (int64); None puts every process in a
        group of its own. Only batching at the scheduler uses it.
    bypass_scheduler
        Processes that skip the scheduler's decision and enter the pending queue
        when they arrive (bool), for example those already running when a trace
        window opens; None for none.
    band
        Priority band of each process (int64, higher is more important); None
        makes each priority a band of its own. Only preemption and the offer model
        use it: a band preempts lower bands, and each band is one framework.
    """

    machines: int
    machine_event_time_us: np.ndarray
    machine_event_machine: np.ndarray
    machine_event_kind: np.ndarray
    machine_event_cpu_capacity: np.ndarray
    machine_event_memory_capacity: np.ndarray
    submit_time_us: np.ndarray
    cpu_request: np.ndarray
    memory_request: np.ndarray
    priority: np.ndarray
    duration_us: np.ndarray
    end_time_us: np.ndarray
    grid_us: np.ndarray
    horizon_us: int = INT64_MAX
    group: np.ndarray | None = None
    bypass_scheduler: np.ndarray | None = None
    band: np.ndarray | None = None

    @property
    def processes(self) -> int:
        """Number of processes."""
        return int(self.submit_time_us.shape[0])


@dataclass(frozen=True)
class ReplayOutput:
    """Result of a replay.

    Attributes
    ----------
    schedule_time_us
        First placement time per process (int64, ``NULL_INT`` if never placed).
    machine
        Machine of the first placement (int64, -1 if never placed).
    kills
        Times each process was killed by a machine REMOVE (int64).
    running, cpu_in_use, memory_in_use
        Per grid time: running processes and the sum of their requests.
    cpu_capacity, memory_capacity
        Per grid time: capacity of alive machines whose capacity (of that
        resource) is known.
    totals
        Counters named by ``TOTALS`` (see :data:`TOTAL_NOTES`).
    preemptions
        Times each process was preempted (int64; zeros without preemption).
    framework_bands
        The distinct band values of the input, lowest first: the frameworks of
        the offer model, and the dense band codes preemption compares (int64;
        empty when neither option is on).
    offer_counts
        Per framework (row, in the order of ``framework_bands``): offers made,
        accepted and declined (int64, shape ``(frameworks, 3)``; no rows without
        the offer model).
    kill_log
        What happened to processes killed by a REMOVE or evicted by preemption:
        an int64 array of shape (3, entries) with rows process, time (µs) and
        kind (codes of
        :data:`~muosm_perf.kernels._replay_kernel.KILL_LOG_KINDS`), sorted by
        :func:`canonical_kill_log`. None from an implementation that keeps none.
    """

    schedule_time_us: np.ndarray
    machine: np.ndarray
    kills: np.ndarray
    running: np.ndarray
    cpu_in_use: np.ndarray
    memory_in_use: np.ndarray
    cpu_capacity: np.ndarray
    memory_capacity: np.ndarray
    totals: dict[str, int] = field(default_factory=dict)
    preemptions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    framework_bands: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    offer_counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    kill_log: np.ndarray | None = None


def canonical_kill_log(kill_log: np.ndarray) -> np.ndarray:
    """Sort a kill log by time, then kind code, then process.

    Every implementation of the model logs the same entries, but may visit the
    processes of one instant in another order; the sorted log is the same.
    """
    log = np.ascontiguousarray(kill_log, dtype=np.int64).reshape(3, -1)
    order = np.lexsort((log[0], log[2], log[1]))
    return np.ascontiguousarray(log[:, order])


def _kernel_array(values: np.ndarray, dtype: type) -> np.ndarray:
    """Return ``values`` as a contiguous, writable array of ``dtype``.

    Numba compiles a kernel per signature, and a read-only array is another type.
    Arrays from Polars are read-only views, so they are copied here (8 bytes per
    value at most) and every caller shares the kernel that compile_replay warms.
    """
    return np.require(values, dtype=dtype, requirements=["C", "W"])


def _as_array(name: str, values: np.ndarray, dtype: type, length: int) -> np.ndarray:
    array = _kernel_array(values, dtype)
    if array.ndim != 1 or array.shape[0] != length:
        raise ParameterError(
            f"{name} has shape {array.shape}, expected ({length},); give one value "
            "per row"
        )
    return array


def _check_sorted(name: str, values: np.ndarray) -> None:
    if values.shape[0] > 1:
        drops = np.nonzero(values[1:] < values[:-1])[0]
        if drops.shape[0]:
            i = int(drops[0]) + 1
            raise ParameterError(
                f"{name} must be non-decreasing, but element {i} ({values[i]}) is "
                f"below element {i - 1} ({values[i - 1]}); sort the rows by time"
            )


def _check_not_null(name: str, values: np.ndarray) -> None:
    nulls = np.nonzero(values == NULL_INT)[0]
    if nulls.shape[0]:
        raise ParameterError(
            f"{name} has a null (NULL_INT) at element {int(nulls[0])}; every row "
            "needs a time"
        )


def _check_requests(name: str, values: np.ndarray) -> None:
    bad = np.nonzero(~np.isfinite(values) | (values < 0))[0]
    if bad.shape[0]:
        i = int(bad[0])
        raise ParameterError(
            f"{name}[{i}] is {values[i]}; requests must be finite and >= 0 "
            "(replace unknown requests with 0 before the replay)"
        )


def validate_input(inputs: ReplayInput) -> tuple[np.ndarray, ...]:
    """Check a :class:`ReplayInput` and return its arrays, contiguous and typed.

    Raises
    ------
    ParameterError
        Naming the array, the element and the value that is invalid.
    """
    machines = int(inputs.machines)
    if not 0 <= machines <= MAX_PROCESSES:
        raise ParameterError(
            f"machines is {machines}; it must be between 0 and {MAX_PROCESSES}"
        )
    n_events = np.asarray(inputs.machine_event_time_us).shape[0]
    event_time = _as_array(
        "machine_event_time_us", inputs.machine_event_time_us, np.int64, n_events
    )
    event_machine = _as_array(
        "machine_event_machine", inputs.machine_event_machine, np.int64, n_events
    )
    event_kind = _as_array(
        "machine_event_kind", inputs.machine_event_kind, np.int8, n_events
    )
    event_cpu = _as_array(
        "machine_event_cpu_capacity",
        inputs.machine_event_cpu_capacity,
        np.float64,
        n_events,
    )
    event_memory = _as_array(
        "machine_event_memory_capacity",
        inputs.machine_event_memory_capacity,
        np.float64,
        n_events,
    )
    _check_not_null("machine_event_time_us", event_time)
    _check_sorted("machine_event_time_us", event_time)
    outside = np.nonzero((event_machine < 0) | (event_machine >= machines))[0]
    if outside.shape[0]:
        i = int(outside[0])
        raise ParameterError(
            f"machine_event_machine[{i}] is {event_machine[i]}, outside 0.."
            f"{machines - 1}; number machines densely from 0"
        )
    unknown = np.nonzero((event_kind < _ADD) | (event_kind > _UPDATE))[0]
    if unknown.shape[0]:
        i = int(unknown[0])
        raise ParameterError(
            f"machine_event_kind[{i}] is {event_kind[i]}; use CellEvent codes "
            f"ADD={_ADD}, REMOVE={_REMOVE}, UPDATE={_UPDATE}"
        )
    for name, values in (
        ("machine_event_cpu_capacity", event_cpu),
        ("machine_event_memory_capacity", event_memory),
    ):
        bad = np.nonzero(np.isinf(values) | (values < 0))[0]
        if bad.shape[0]:
            i = int(bad[0])
            raise ParameterError(
                f"{name}[{i}] is {values[i]}; a capacity is finite and >= 0, or "
                "NaN when unknown"
            )

    n = np.asarray(inputs.submit_time_us).shape[0]
    if n > MAX_PROCESSES:
        raise ParameterError(
            f"{n} processes is more than one replay takes ({MAX_PROCESSES}); "
            "split the trace into windows"
        )
    submit = _as_array("submit_time_us", inputs.submit_time_us, np.int64, n)
    cpu = _as_array("cpu_request", inputs.cpu_request, np.float64, n)
    memory = _as_array("memory_request", inputs.memory_request, np.float64, n)
    priority = _as_array("priority", inputs.priority, np.int64, n)
    duration = _as_array("duration_us", inputs.duration_us, np.int64, n)
    end = _as_array("end_time_us", inputs.end_time_us, np.int64, n)
    _check_not_null("submit_time_us", submit)
    _check_sorted("submit_time_us", submit)
    _check_requests("cpu_request", cpu)
    _check_requests("memory_request", memory)
    short = np.nonzero(duration < -1)[0]
    if short.shape[0]:
        i = int(short[0])
        raise ParameterError(
            f"duration_us[{i}] is {duration[i]}; a duration is >= 0, or -1 for "
            "'runs past the horizon'"
        )
    extreme = np.nonzero(np.abs(priority) > 2**62)[0]
    if extreme.shape[0]:
        i = int(extreme[0])
        raise ParameterError(f"priority[{i}] is {priority[i]}; keep it within ±2^62")

    grid = _kernel_array(inputs.grid_us, np.int64)
    if grid.ndim != 1:
        raise ParameterError(f"grid_us has shape {grid.shape}; it must be 1-D")
    _check_not_null("grid_us", grid)
    _check_sorted("grid_us", grid)
    return (
        event_time,
        event_machine,
        event_kind,
        event_cpu,
        event_memory,
        submit,
        cpu,
        memory,
        priority,
        duration,
        end,
        grid,
    )


def queue_levels(key1: np.ndarray, key2: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank processes by ``(key1, key2)``: equal keys share a level, lowest first.

    Returns the int32 level of each process and the number of levels (at least 1).
    Keys of a small range (priorities, duration classes) are ranked by counting, in
    linear time; others by sorting.
    """
    if key1.shape[0] == 0:
        return np.zeros(0, np.int32), 1
    low1, low2 = int(key1.min()), int(key2.min())
    span1 = int(key1.max()) - low1 + 1
    span2 = int(key2.max()) - low2 + 1
    if span1 * span2 <= _COUNTING_RANK_LIMIT:
        return _rank_by_counting(key1, key2, low1, low2, span1, span2)
    keys = np.stack([key1, key2], axis=1)
    _, level = np.unique(keys, axis=0, return_inverse=True)
    level = np.ascontiguousarray(level.reshape(-1), dtype=np.int32)
    return level, int(level.max()) + 1


@njit
def _rank_by_counting(key1, key2, low1, low2, span1, span2):
    """Dense-rank keys of a small range in two passes, with no temporary arrays."""
    present = np.zeros(span1 * span2, np.int32)
    for i in range(key1.shape[0]):
        present[(key1[i] - low1) * span2 + (key2[i] - low2)] = 1
    levels = 0
    for j in range(present.shape[0]):
        if present[j]:
            present[j] = levels
            levels += 1
    level = np.empty(key1.shape[0], np.int32)
    for i in range(key1.shape[0]):
        level[i] = present[(key1[i] - low1) * span2 + (key2[i] - low2)]
    return level, levels


def duration_class(duration_us: np.ndarray) -> np.ndarray:
    """Return the shortest-first class of each duration.

    The class is the bit length of the whole seconds: 0 below 1 s, 1 for [1, 2) s,
    2 for [2, 4) s and so on, and 64 for an unknown duration (-1).
    """
    seconds = np.where(duration_us >= 0, duration_us // 1_000_000, 0)
    _, exponent = np.frexp(seconds.astype(np.float64))
    classes = np.where(seconds > 0, exponent, 0).astype(np.int64)
    return np.where(duration_us < 0, 64, classes)


def queue_keys(
    policy: SchedulerPolicy,
    priority: np.ndarray,
    duration_us: np.ndarray,
    end_time_us: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the two sort keys of the policy's queue order (lower goes first).

    A process with a cancellation time has no known duration, so shortest-first
    puts it in the last class.
    """
    zeros = np.zeros_like(priority)
    if policy.queue == "fifo":
        return zeros, zeros
    if policy.queue == "priority":
        return -priority, zeros
    known = np.where(end_time_us != NULL_INT, -1, duration_us)
    return duration_class(known), zeros


def replay_arrays(
    inputs: ReplayInput,
    policy: SchedulerPolicy | None = None,
    *,
    grown_search_limit: int = GROWN_SEARCH_LIMIT,
) -> ReplayOutput:
    """Replay processes on machines with the model of this module.

    Parameters
    ----------
    inputs
        Machines, machine events, processes and the sample grid.
    policy
        The scheduling policy; the default is ``priority+first-fit`` with no
        overcommitment, no decision time and immediate restarts.
    grown_search_limit
        Above this many machines with grown capacity, a pass visits every pending
        process instead of searching for the ones that fit on those machines. It
        changes the speed, never the outcome.

    Returns
    -------
    ReplayOutput
        Per-process placement, the sampled series and the counters.

    Raises
    ------
    ParameterError
        If an input array has the wrong length, is unsorted, or contains an invalid
        value.
    """
    policy = SchedulerPolicy() if policy is None else policy
    (
        event_time,
        event_machine,
        event_kind,
        event_cpu,
        event_memory,
        submit,
        cpu,
        memory,
        priority,
        duration,
        end,
        grid,
    ) = validate_input(inputs)
    n = submit.shape[0]
    if inputs.group is None:
        group = np.arange(n, dtype=np.int64)
    else:
        group = _as_array("group", inputs.group, np.int64, n)
    if inputs.bypass_scheduler is None:
        bypass = np.zeros(n, np.bool_)
    else:
        bypass = _as_array("bypass_scheduler", inputs.bypass_scheduler, np.bool_, n)
    key1, key2 = queue_keys(policy, priority, duration, end)
    level, n_levels = queue_levels(key1, key2)
    del key1, key2  # a full-scale replay needs the memory
    band_values = priority if inputs.band is None else inputs.band
    band_values = _as_array("band", band_values, np.int64, n)
    if policy.preemption or policy.offers:
        band, n_bands = queue_levels(band_values, np.zeros_like(band_values))
        framework_bands = np.unique(band_values)
    else:
        # Every process in band 0, which the kernel takes from an empty array.
        band = np.zeros(0, np.int32)
        n_bands = 1
        framework_bands = np.zeros(0, np.int64)
    rules = [PLACEMENTS.index(policy.placement)] * n_bands
    for code, name in enumerate(policy.framework_placements[:n_bands]):
        rules[code] = PLACEMENTS.index(name)
    supervision = policy.supervision.kernel_arguments()
    (
        schedule,
        machine,
        kills,
        preemptions,
        series,
        totals,
        offers,
        kill_log,
    ) = replay_kernel(
        int(inputs.machines),
        event_time,
        event_machine,
        event_kind,
        event_cpu,
        event_memory,
        submit,
        group,
        bypass,
        cpu,
        memory,
        level,
        n_levels,
        band,
        np.int64(n_bands),
        duration,
        end,
        grid,
        np.int64(inputs.horizon_us),
        PLACEMENTS.index(policy.placement),
        np.int64(policy.candidates),
        np.int64(policy.seed),
        float(policy.cpu_overcommit),
        float(policy.memory_overcommit),
        np.int64(round(policy.job_decision_s * 1e6)),
        np.int64(round(policy.task_decision_s * 1e6)),
        np.int64(supervision[0]),
        np.int64(supervision[1]),
        float(supervision[2]),
        np.int64(supervision[3]),
        np.int64(supervision[4]),
        np.int64(policy.supervision.scope_code),
        np.int64(policy.schedulers),
        bool(policy.optimistic),
        bool(policy.preemption),
        bool(policy.offers),
        np.array(rules, np.int64),
        np.int64(round(policy.refuse_s * 1e6)),
        np.int64(grown_search_limit),
    )
    return ReplayOutput(
        schedule_time_us=schedule,
        machine=machine.astype(np.int64),
        kills=kills.astype(np.int64),
        running=series[0].astype(np.int64),
        cpu_in_use=series[1],
        memory_in_use=series[2],
        cpu_capacity=series[3],
        memory_capacity=series[4],
        totals=dict(zip(TOTALS, (int(v) for v in totals), strict=True)),
        preemptions=(
            preemptions.astype(np.int64) if policy.preemption else np.zeros(n, np.int64)
        ),
        framework_bands=framework_bands.astype(np.int64),
        offer_counts=offers,
        kill_log=canonical_kill_log(kill_log),
    )


def compile_replay() -> float:
    """Compile the kernel, or load it from the cache, and return the seconds spent.

    Call it before timing a replay, so that the timing leaves compilation out.
    """
    began = time.perf_counter()
    one = np.ones(1)
    replay_arrays(
        ReplayInput(
            machines=1,
            machine_event_time_us=np.zeros(1, np.int64),
            machine_event_machine=np.zeros(1, np.int64),
            machine_event_kind=np.array([_ADD], np.int8),
            machine_event_cpu_capacity=one,
            machine_event_memory_capacity=one,
            submit_time_us=np.zeros(1, np.int64),
            cpu_request=one,
            memory_request=one,
            priority=np.zeros(1, np.int64),
            duration_us=np.ones(1, np.int64),
            end_time_us=np.array([NULL_INT], np.int64),
            grid_us=np.zeros(1, np.int64),
        )
    )
    return time.perf_counter() - began
