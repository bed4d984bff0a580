"""A SimPy implementation of the replay model, the oracle for every policy.

SimPy drives time. Each source of change is a SimPy process or timeout that, when
it fires, records what happened in the bucket of its kind for the current instant:
arrivals, machine events, completions, cancellations, backoff restarts and the ends
of scheduler decisions. The first record of an instant also schedules the instant's
handler as a zero-delay event. SimPy runs events of one time in the order they were
scheduled, and every record of an instant was scheduled before the handler, so the
handler receives them all. It then applies the model's steps in their fixed order
(:mod:`muosm_perf.kernels.replay`). A completion at the same instant (a process of
duration 0) is a new timeout, so it starts a second round of the instant, as in the
model; so does a preemption that sends a process to the intake. A declined offer's
return is a timeout too, processed only while another timeout or the arrival or
machine-event process is still pending, as the model specifies.

Placement scans every machine for each pending process and the pass visits every
pending process, so this implementation is slow; it exists to be obviously right.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import simpy

from muosm_perf.kernels._numba import NULL_INT
from muosm_perf.kernels._replay_kernel import (
    GAVE_UP_AFTER_KILL,
    KILLED,
    KILLED_WITH_GROUP,
    PLACED_AGAIN,
    PREEMPTED,
    TOTALS,
)
from muosm_perf.kernels.policy import SchedulerPolicy
from muosm_perf.kernels.reference.replay import (
    band_codes,
    framework_rules,
    restart_delay,
    shortest_class,
    splitmix_offset,
)
from muosm_perf.kernels.replay import ReplayInput, ReplayOutput, canonical_kill_log
from muosm_perf.model.lifecycle import CellEvent

WAITING = ("pending", "intake", "restart wait")


class SimpyReplay:
    """The replay model as a SimPy simulation; build it, then call :meth:`run`."""

    def __init__(self, inputs: ReplayInput, policy: SchedulerPolicy | None) -> None:
        self.policy = SchedulerPolicy() if policy is None else policy
        self.inputs = inputs
        self.env = simpy.Environment()
        n = inputs.processes
        self.n = n
        self.machines = int(inputs.machines)
        self.submit = inputs.submit_time_us.tolist()
        self.group = list(range(n)) if inputs.group is None else inputs.group.tolist()
        self.bypass = (
            [False] * n
            if inputs.bypass_scheduler is None
            else inputs.bypass_scheduler.tolist()
        )
        self.cpu = inputs.cpu_request.tolist()
        self.memory = inputs.memory_request.tolist()
        self.priority = inputs.priority.tolist()
        self.duration = inputs.duration_us.tolist()
        self.end = inputs.end_time_us.tolist()
        self.grid = inputs.grid_us.tolist()
        self.band, self.band_values = band_codes(inputs, self.policy)
        options = self.policy.preemption or self.policy.offers
        self.bands = max(len(self.band_values), 1) if options else 1
        self.frameworks = self.bands if self.policy.offers else 0
        self.rules = framework_rules(self.policy, self.frameworks)

        m = self.machines
        self.alive = [False] * m
        self.cap_cpu = [math.nan] * m
        self.cap_memory = [math.nan] * m
        self.place_cpu = [math.nan] * m
        self.place_memory = [math.nan] * m
        self.used_cpu = [0.0] * m
        self.used_memory = [0.0] * m
        self.tasks_on = [set() for _ in range(m)]
        bands = self.bands
        self.used_from_cpu = [[0.0] * m for _ in range(bands)]
        self.used_from_memory = [[0.0] * m for _ in range(bands)]
        self.running_from = [[0] * m for _ in range(bands)]
        self.placed_seq = [0] * n
        self.next_placement = 0
        self.preemptions = [0] * n
        frameworks = self.frameworks
        self.declined_until: list[list[int | None]] = [
            [None] * m for _ in range(frameworks)
        ]
        self.share_cpu = [0.0] * frameworks
        self.share_memory = [0.0] * frameworks
        self.share_count = [0] * frameworks
        self.offer_counts = [[0, 0, 0] for _ in range(frameworks)]
        # Timeouts scheduled and not yet fired (declined offers' returns apart),
        # and whether the arrival and machine-event processes have more to do.
        self.outstanding = 0
        self.arrivals_left = n > 0
        self.machine_events_left = inputs.machine_event_time_us.shape[0] > 0

        self.state = ["not arrived"] * n
        self.enqueued_at = [0] * n
        self.completion = [None] * n
        self.machine_of = [None] * n
        self.schedule = [NULL_INT] * n
        self.first_machine = [-1] * n
        self.kills = [0] * n
        self.kill_log: list[tuple[int, int, int]] = []
        self.tentative: list[int | None] = [None] * n
        self.pending: list[int] = []
        self.next_seq = 0
        self.intake: list[tuple[int, int]] = []
        self.next_batch = 0
        self.open_batch: tuple[int, int] | None = None
        self.in_service: list[tuple[int, list[int]] | None] = [
            None
        ] * self.policy.schedulers
        self.totals = dict.fromkeys(TOTALS, 0)
        self.samples: list[tuple] = []
        self.buckets: dict[str, list] = defaultdict(list)
        self.handler_due = False

    # Recording: every source calls this when it fires.

    def record(self, kind: str, item: object) -> None:
        """Add ``item`` to this instant's bucket of ``kind`` and wake the handler."""
        self.buckets[kind].append(item)
        if not self.handler_due:
            self.handler_due = True
            self.env.timeout(0).callbacks.append(lambda _: self.handle_instant())

    def at(self, time: int, kind: str, item: object) -> None:
        """Record ``item`` under ``kind`` at ``time`` (now or later)."""
        self.outstanding += 1
        event = self.env.timeout(time - self.env.now)
        event.callbacks.append(lambda _: self.fire(kind, item))

    def fire(self, kind: str, item: object) -> None:
        """Record a timeout that fired."""
        self.outstanding -= 1
        self.record(kind, item)

    def return_offer(self, f: int, m: int) -> None:
        """Return machine ``m`` to framework ``f``'s pool when its refusal ends.

        The return is processed only if this instant already has a record or
        another source still has something scheduled; otherwise the model ends.
        """
        active = (
            self.handler_due
            or self.outstanding > 0
            or self.arrivals_left
            or self.machine_events_left
        )
        if active:
            self.record("offer return", (f, m))

    def arrivals(self):
        """SimPy process: submit the processes in input order.

        All submissions of one instant are recorded when the process wakes, so
        that none of them lands in a later round of the instant.
        """
        p = 0
        while p < self.n:
            yield self.env.timeout(self.submit[p] - self.env.now)
            while p < self.n and self.submit[p] == self.env.now:
                self.record("arrival", p)
                p += 1
            self.arrivals_left = p < self.n

    def machine_events(self):
        """SimPy process: apply the machine events of each instant in input order."""
        times = self.inputs.machine_event_time_us.tolist()
        index = 0
        while index < len(times):
            yield self.env.timeout(times[index] - self.env.now)
            while index < len(times) and times[index] == self.env.now:
                self.record("machine", index)
                index += 1
            self.machine_events_left = index < len(times)

    # Machine state.

    def free(self, m: int) -> tuple[float, float]:
        """Return the free CPU and memory of machine ``m`` with overcommitment."""
        return (
            self.place_cpu[m] - self.used_cpu[m],
            self.place_memory[m] - self.used_memory[m],
        )

    def fits(self, m: int, p: int) -> bool:
        """Return whether process ``p`` fits on machine ``m`` now."""
        if not self.alive[m]:
            return False
        if math.isnan(self.place_cpu[m]) or math.isnan(self.place_memory[m]):
            return False
        free_cpu, free_memory = self.free(m)
        return free_cpu >= self.cpu[p] and free_memory >= self.memory[p]

    def is_open(self, m: int) -> bool:
        """Return whether machine ``m`` is alive with known capacity."""
        return (
            self.alive[m]
            and not math.isnan(self.place_cpu[m])
            and not math.isnan(self.place_memory[m])
        )

    def choose(
        self, p: int, among: list[int] | None = None, rule: str | None = None
    ) -> int | None:
        """Pick a machine for ``p`` by the placement rule, or None."""
        among = range(self.machines) if among is None else among
        fitting = [m for m in among if self.fits(m, p)]
        if not fitting:
            return None
        placement = self.policy.placement if rule is None else rule
        if placement == "first-fit":
            return fitting[0]
        if placement == "best-fit":
            return min(fitting, key=lambda m: (self.free(m)[0], m))
        if placement == "worst-fit":
            return min(fitting, key=lambda m: (-self.free(m)[0], m))
        offset = splitmix_offset(self.policy.seed, p, self.kills[p], self.machines)
        cyclic = sorted(fitting, key=lambda m: (m - offset) % self.machines)

        def balance(m: int) -> float:
            free_cpu, free_memory = self.free(m)
            return abs((free_cpu - self.cpu[p]) - (free_memory - self.memory[p]))

        return min(cyclic[: self.policy.candidates], key=lambda m: (balance(m), m))

    def take_off(self, p: int, m: int) -> None:
        """Remove process ``p`` from machine ``m`` and free its requests."""
        self.tasks_on[m].discard(p)
        self.used_cpu[m] -= self.cpu[p]
        self.used_memory[m] -= self.memory[p]
        if not self.tasks_on[m]:
            self.used_cpu[m] = 0.0
            self.used_memory[m] = 0.0
        if self.policy.preemption:
            for k in range(1, self.band[p] + 1):
                self.used_from_cpu[k][m] -= self.cpu[p]
                self.used_from_memory[k][m] -= self.memory[p]
                self.running_from[k][m] -= 1
                if self.running_from[k][m] == 0:
                    self.used_from_cpu[k][m] = 0.0
                    self.used_from_memory[k][m] = 0.0
        self.leave_share(p)

    def leave_share(self, p: int) -> None:
        """Take ``p``'s requests off its framework's running requests."""
        if not self.policy.offers:
            return
        f = self.band[p]
        self.share_cpu[f] -= self.cpu[p]
        self.share_memory[f] -= self.memory[p]
        self.share_count[f] -= 1
        if self.share_count[f] == 0:
            self.share_cpu[f] = 0.0
            self.share_memory[f] = 0.0

    def resubmit(self, p: int, t: int) -> bool:
        """Send killed process ``p`` back; return whether it went to the intake."""
        delay = restart_delay(self.policy, self.kills[p])
        if delay is None:
            self.state[p] = "given up"
            self.totals["given_up"] += 1
            self.kill_log.append((p, t, GAVE_UP_AFTER_KILL))
            return False
        if delay == 0:
            self.to_intake(p, self.next_batch)
            self.next_batch += 1
            self.open_batch = None
            return True
        self.state[p] = "restart wait"
        self.at(t + delay, "restart", p)
        return False

    def sample(self) -> None:
        """Append the state to the sampled series."""
        on_alive = [m for m in range(self.machines) if self.alive[m]]
        columns = [
            [self.used_cpu[m] for m in on_alive],
            [self.used_memory[m] for m in on_alive],
            [self.cap_cpu[m] for m in on_alive if not math.isnan(self.cap_cpu[m])],
            [
                self.cap_memory[m]
                for m in on_alive
                if not math.isnan(self.cap_memory[m])
            ],
        ]
        sums = []
        for values in columns:
            total = 0.0
            for value in values:
                total += value
            sums.append(total)
        running = sum(len(self.tasks_on[m]) for m in on_alive)
        self.samples.append((running, *sums))

    # Queues.

    def to_intake(self, p: int, batch: int) -> None:
        """Append ``p`` to the scheduler's intake in ``batch``."""
        self.state[p] = "intake"
        self.intake.append((batch, p))

    def to_pending(self, p: int) -> None:
        """Put ``p`` in the pending queue with the next enqueue number."""
        self.state[p] = "pending"
        self.enqueued_at[p] = self.next_seq
        self.next_seq += 1
        self.pending.append(p)

    def order_key(self, p: int) -> tuple:
        """Return the sort key of ``p`` in the pending queue."""
        queue = self.policy.queue
        if queue == "fifo":
            return (self.enqueued_at[p],)
        if queue == "priority":
            return (-self.priority[p], self.enqueued_at[p])
        return (shortest_class(self.duration[p], self.end[p]), self.enqueued_at[p])

    # The instant handler: the model's steps in order.

    def handle_instant(self) -> None:
        """Apply the steps of the model to what this instant recorded."""
        self.handler_due = False
        buckets = self.buckets
        self.buckets = defaultdict(list)
        t = self.env.now
        while len(self.samples) < len(self.grid) and self.grid[len(self.samples)] < t:
            self.sample()
        happened = False

        for p in sorted(buckets["completion"]):
            if self.state[p] != "running" or self.completion[p] != t:
                continue
            self.take_off(p, self.machine_of[p])
            self.state[p] = "done"
            happened = True

        for p in sorted(buckets["cancel"]):
            if self.state[p] in WAITING:
                self.state[p] = "cancelled"
                self.totals["cancelled"] += 1
                happened = True

        for index in buckets["machine"]:
            happened = True
            self.apply_machine_event(index, t)

        for f, m in buckets["offer return"]:
            self.declined_until[f][m] = None
            happened = True
        for p in sorted(buckets["restart"]):
            happened = True
            if self.state[p] == "restart wait":
                self.to_intake(p, self.next_batch)
                self.next_batch += 1
                self.open_batch = None
        for p in buckets["arrival"]:
            happened = True
            self.arrive(p, t)

        if self.serve(t, buckets["decision"]):
            happened = True
        if happened:
            self.scheduling_pass(t)

    def apply_machine_event(self, index: int, t: int) -> None:
        """Apply machine event ``index`` at ``t``."""
        inputs = self.inputs
        m = int(inputs.machine_event_machine[index])
        kind = int(inputs.machine_event_kind[index])
        if kind in (CellEvent.ADD, CellEvent.UPDATE):
            if kind == CellEvent.ADD:
                self.alive[m] = True
            cpu = float(inputs.machine_event_cpu_capacity[index])
            memory = float(inputs.machine_event_memory_capacity[index])
            self.cap_cpu[m] = cpu
            self.cap_memory[m] = memory
            self.place_cpu[m] = cpu * self.policy.cpu_overcommit
            self.place_memory[m] = memory * self.policy.memory_overcommit
            return
        if not self.alive[m]:
            return
        victims = sorted(self.tasks_on[m])
        self.tasks_on[m] = set()
        self.used_cpu[m] = 0.0
        self.used_memory[m] = 0.0
        for k in range(self.bands):
            self.used_from_cpu[k][m] = 0.0
            self.used_from_memory[k][m] = 0.0
            self.running_from[k][m] = 0
        self.alive[m] = False
        killed = [(p, KILLED) for p in victims]
        if self.policy.supervision.scope == "group":
            groups = {self.group[p] for p in victims}
            killed += [
                (q, KILLED_WITH_GROUP)
                for q in range(self.n)
                if self.state[q] == "running"
                and self.group[q] in groups
                and q not in victims
            ]
        for p, kind_of_kill in killed:
            if kind_of_kill == KILLED_WITH_GROUP:
                self.take_off(p, self.machine_of[p])
            self.kill_log.append((p, t, kind_of_kill))
            self.kills[p] += 1
            self.totals["evictions"] += 1
            self.completion[p] = None
            self.machine_of[p] = None
            if kind_of_kill == KILLED:
                self.leave_share(p)
            self.resubmit(p, t)

    def arrive(self, p: int, t: int) -> None:
        """Submit process ``p`` at ``t``."""
        if self.end[p] != NULL_INT and self.end[p] <= t:
            self.state[p] = "cancelled"
            self.totals["cancelled"] += 1
            return
        if self.end[p] != NULL_INT:
            self.at(self.end[p], "cancel", p)
        if self.bypass[p]:
            self.to_pending(p)
            return
        tail = self.intake[-1][0] if self.intake else None
        if self.open_batch is None or self.open_batch != (tail, self.group[p]):
            self.next_batch += 1
            self.open_batch = (self.next_batch - 1, self.group[p])
        self.to_intake(p, self.next_batch - 1)

    def serve(self, t: int, ended: list[int]) -> bool:
        """End decisions due now, start new ones; return whether any ended."""
        job_cost = round(self.policy.job_decision_s * 1e6)
        task_cost = round(self.policy.task_decision_s * 1e6)
        ended_any = False
        due = set(ended)
        while True:
            for s in range(self.policy.schedulers):
                service = self.in_service[s]
                if service is None or s not in due or service[0] != t:
                    continue
                for p in service[1]:
                    if self.state[p] != "intake":
                        continue
                    m = self.tentative[p]
                    if not self.policy.optimistic or m is None:
                        self.to_pending(p)
                    elif self.fits(m, p):
                        self.place(p, m, t)
                    else:
                        self.totals["conflicts"] += 1
                        self.to_intake(p, self.next_batch)
                        self.next_batch += 1
                        self.open_batch = None
                self.in_service[s] = None
                ended_any = True
            due = set()
            started_at_once = False
            for s in range(self.policy.schedulers):
                if self.in_service[s] is not None:
                    continue
                live: list[int] = []
                while self.intake and not live:
                    batch = self.intake[0][0]
                    members = []
                    while self.intake and self.intake[0][0] == batch:
                        members.append(self.intake.pop(0)[1])
                    live = [p for p in members if self.state[p] == "intake"]
                if not live:
                    break
                cost = job_cost + task_cost * len(live)
                self.totals["batches"] += 1
                self.totals["scheduler_busy_us"] += cost
                self.in_service[s] = (t + cost, members)
                if self.policy.optimistic:
                    self.decide_privately(members)
                if cost == 0:
                    started_at_once = True
                    due.add(s)
                else:
                    self.at(t + cost, "decision", s)
            if not started_at_once:
                return ended_any

    def place(self, p: int, m: int, t: int) -> None:
        """Start process ``p`` on machine ``m`` at ``t``."""
        self.state[p] = "running"
        self.machine_of[p] = m
        self.tasks_on[m].add(p)
        self.placed_seq[p] = self.next_placement
        self.next_placement += 1
        self.used_cpu[m] += self.cpu[p]
        self.used_memory[m] += self.memory[p]
        if self.policy.preemption:
            for k in range(1, self.band[p] + 1):
                self.used_from_cpu[k][m] += self.cpu[p]
                self.used_from_memory[k][m] += self.memory[p]
                self.running_from[k][m] += 1
        if self.policy.offers:
            f = self.band[p]
            self.share_cpu[f] += self.cpu[p]
            self.share_memory[f] += self.memory[p]
            self.share_count[f] += 1
        if self.schedule[p] == NULL_INT:
            self.schedule[p] = t
            self.first_machine[p] = m
        if self.kills[p] > 0:
            self.kill_log.append((p, t, PLACED_AGAIN))
        if self.end[p] != NULL_INT:
            done = self.end[p]
        elif self.duration[p] == -1 or t + self.duration[p] > 2**63 - 1:
            done = None
        else:
            done = t + self.duration[p]
        self.completion[p] = done
        if done is not None:
            self.at(done, "completion", p)
        self.totals["placements"] += 1

    def decide_privately(self, members: list[int]) -> None:
        """Choose machines for a batch on a copy of the state; restore it."""
        saved = []
        for p in members:
            if self.state[p] != "intake":
                continue
            m = self.choose(p)
            self.tentative[p] = m
            if m is None:
                continue
            saved.append((m, self.used_cpu[m], self.used_memory[m]))
            self.used_cpu[m] += self.cpu[p]
            self.used_memory[m] += self.memory[p]
        for m, old_cpu, old_memory in reversed(saved):
            self.used_cpu[m] = old_cpu
            self.used_memory[m] = old_memory

    def scheduling_pass(self, t: int) -> None:
        """Place the pending processes in queue order where they fit."""
        pending = sorted(
            (p for p in self.pending if self.state[p] == "pending"),
            key=self.order_key,
        )
        if self.policy.offers:
            self.offer_round(pending, t)
            self.pending = [p for p in pending if self.state[p] == "pending"]
            return
        still_pending = []
        again = False
        for p in pending:
            m = self.choose(p)
            if m is None and self.policy.preemption and self.band[p] > 0:
                m, sent = self.preempt_for(p, t)
                again = again or sent
            if m is None:
                still_pending.append(p)
                continue
            self.place(p, m, t)
        self.pending = still_pending
        if again:
            self.record("again", None)

    def preempt_for(self, p: int, t: int) -> tuple[int | None, bool]:
        """Evict lower bands for ``p`` on the first machine where that makes room.

        Returns the machine (None if there is none) and whether a victim went to
        the intake.
        """
        b = self.band[p]
        target = None
        for m in range(self.machines):
            if not self.is_open(m):
                continue
            room_cpu = self.place_cpu[m] - self.used_from_cpu[b][m]
            room_memory = self.place_memory[m] - self.used_from_memory[b][m]
            if room_cpu >= self.cpu[p] and room_memory >= self.memory[p]:
                target = m
                break
        if target is None:
            return None, False
        victims = sorted(
            (v for v in self.tasks_on[target] if self.band[v] < b),
            key=lambda v: (self.band[v], -self.placed_seq[v]),
        )
        sent = False
        for v in victims:
            if self.fits(target, p):
                break
            self.take_off(v, target)
            self.completion[v] = None
            self.machine_of[v] = None
            self.kills[v] += 1
            self.preemptions[v] += 1
            self.totals["evictions"] += 1
            self.totals["preemptions"] += 1
            self.kill_log.append((v, t, PREEMPTED))
            sent = self.resubmit(v, t) or sent
        return target, sent

    def offer_round(self, pending: list[int], t: int) -> None:
        """Offer each framework with pending processes the machines of its pool."""
        order = sorted(
            range(self.frameworks),
            key=lambda f: (max(self.share_cpu[f], self.share_memory[f]), f),
        )
        for f in order:
            mine = [p for p in pending if self.band[p] == f]
            offered = [
                m
                for m in range(self.machines)
                if self.declined_until[f][m] is None and self.is_open(m)
            ]
            if not mine or not offered:
                continue
            used = set()
            for p in mine:
                m = self.choose(p, offered, self.rules[f])
                if m is not None:
                    self.place(p, m, t)
                    used.add(m)
            for m in offered:
                self.offer_counts[f][0] += 1
                if m in used:
                    self.offer_counts[f][1] += 1
                    continue
                self.offer_counts[f][2] += 1
                until = t + round(self.policy.refuse_s * 1e6)
                self.declined_until[f][m] = until
                event = self.env.timeout(until - t)
                event.callbacks.append(lambda _, f=f, m=m: self.return_offer(f, m))

    def run(self) -> ReplayOutput:
        """Run the simulation to the horizon and return its outputs."""
        self.env.process(self.arrivals())
        self.env.process(self.machine_events())
        horizon = int(self.inputs.horizon_us)
        if horizon >= 2**63 - 1:
            self.env.run()
        else:
            self.env.run(until=horizon + 1)
        while len(self.samples) < len(self.grid):
            self.sample()
        totals = self.totals
        for p in range(self.n):
            if self.state[p] in WAITING:
                totals["pending_at_end"] += 1
                if self.schedule[p] == NULL_INT:
                    totals["unschedulable"] += 1
            elif self.state[p] == "running":
                totals["running_at_end"] += 1
        totals["instants"] = None
        totals["passes"] = None
        for name, column in (
            ("offers", 0),
            ("offers_accepted", 1),
            ("offers_declined", 2),
        ):
            totals[name] = sum(row[column] for row in self.offer_counts)
        columns = list(zip(*self.samples, strict=True)) if self.samples else [()] * 5
        return ReplayOutput(
            schedule_time_us=np.array(self.schedule, np.int64),
            machine=np.array(self.first_machine, np.int64),
            kills=np.array(self.kills, np.int64),
            running=np.array(columns[0], np.int64),
            cpu_in_use=np.array(columns[1], np.float64),
            memory_in_use=np.array(columns[2], np.float64),
            cpu_capacity=np.array(columns[3], np.float64),
            memory_capacity=np.array(columns[4], np.float64),
            totals=totals,
            preemptions=np.array(self.preemptions, np.int64),
            framework_bands=np.array(self.band_values, np.int64),
            offer_counts=np.array(self.offer_counts, np.int64).reshape(
                self.frameworks, 3
            ),
            kill_log=canonical_kill_log(
                np.array(self.kill_log, np.int64).T.reshape(3, -1)
            ),
        )


def replay_simpy(
    inputs: ReplayInput, policy: SchedulerPolicy | None = None
) -> ReplayOutput:
    """Replay ``inputs`` with the SimPy implementation of the model."""
    return SimpyReplay(inputs, policy).run()
