"""Preemption in the replay kernel: the room lower bands hold on each machine.

Bands are dense codes, 0 the least important. A process of band ``b`` may evict
running processes of bands ``0 .. b-1``. The room it can make on machine ``m`` is
``capacity - used_from[b, m]``, where ``used_from[b, m]`` is the sum of the requests
of the processes of band ``b`` or higher running there. Both implementations of the
model (the kernel and its references) add and subtract those sums in the same order,
and reset a sum to 0 when no process of those bands is left on the machine, so the
same floats come out.

One placement tree per band ``b >= 1`` (:mod:`muosm_perf.kernels.placement`) has that
room at its leaves, so the lowest-index machine where preemption makes room is found
in ``O(log M)``. The room changes only when processes of band ``b`` or higher start
or stop on the machine, or its capacity changes: starting lower-band processes
leaves it unchanged.
"""

from __future__ import annotations

import numpy as np

from muosm_perf.kernels._numba import njit
from muosm_perf.kernels.placement import set_leaf


@njit
def add_use(b, m, cpu, memory, used_from_cpu, used_from_memory, running_from):
    """Count a process of band ``b`` starting on machine ``m``."""
    for k in range(1, b + 1):
        used_from_cpu[k, m] += cpu
        used_from_memory[k, m] += memory
        running_from[k, m] += 1


@njit
def remove_use(b, m, cpu, memory, used_from_cpu, used_from_memory, running_from):
    """Count a process of band ``b`` leaving machine ``m``."""
    for k in range(1, b + 1):
        used_from_cpu[k, m] -= cpu
        used_from_memory[k, m] -= memory
        running_from[k, m] -= 1
        if running_from[k, m] == 0:
            used_from_cpu[k, m] = 0.0
            used_from_memory[k, m] = 0.0


@njit
def clear_machine(m, used_from_cpu, used_from_memory, running_from):
    """Forget every process on machine ``m`` (it was removed)."""
    for k in range(used_from_cpu.shape[0]):
        used_from_cpu[k, m] = 0.0
        used_from_memory[k, m] = 0.0
        running_from[k, m] = 0


@njit
def refresh_room(
    m,
    open_machine,
    place_cpu,
    place_memory,
    used_from_cpu,
    used_from_memory,
    room_cpu,
    room_memory,
    size,
):
    """Set machine ``m``'s leaves in the room trees of bands 1 and higher."""
    for k in range(1, room_cpu.shape[0]):
        if open_machine:
            set_leaf(
                room_cpu[k],
                room_memory[k],
                size,
                m,
                place_cpu[m] - used_from_cpu[k, m],
                place_memory[m] - used_from_memory[k, m],
            )
        else:
            set_leaf(room_cpu[k], room_memory[k], size, m, -np.inf, -np.inf)
