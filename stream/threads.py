"""Torch's CPU threads fitted to the cores that other programs leave free.

Torch splits each operation on the CPU between its threads, and every one must
finish before the next operation starts. When another program keeps a core
busy, the thread on that core runs only in turns with it, and every operation
waits for it: on 2 cores beside one busy program the weights-free chain at
640x360 ran at 10.3 fps on two threads and 23.9 fps on one (README).
So a CPU run measures, every PERIOD seconds, how many cores other programs kept
busy (the machine's busy time, hypervisor steal included, less this process's
own CPU time) and gives torch the whole cores left, at least one and never more
than it had at the start. Linux only (``/proc/stat``); elsewhere, or when the
user set OMP_NUM_THREADS, the thread count is left alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

PERIOD = 1.0  # seconds between measurements
STAT = Path("/proc/stat")


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (user, nice, system, irq, softirq and
    steal time, from /proc/stat's first line)."""
    fields = [int(v) for v in STAT.read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_busy() -> float:
    """CPU seconds this process has used, all its threads."""
    t = os.times()
    return t.user + t.system


class SharedCores:
    """Call ``check`` often (every batch): at most every PERIOD seconds it sets torch's threads to
    the cores other programs left free; ``restore`` gives back the count it started with."""

    def __init__(self, clock=time.monotonic, machine=machine_busy, own=own_busy, cores: int | None = None):
        self.clock, self.machine, self.own = clock, machine, own
        self.cores = cores or os.cpu_count() or 1
        self.most = torch.get_num_threads()
        self.active = self.most > 1 and "OMP_NUM_THREADS" not in os.environ and STAT.is_file()
        self._last = (clock(), machine(), own()) if self.active else None

    def check(self) -> None:
        if not self.active:
            return
        now = self.clock()
        if now - self._last[0] < PERIOD:
            return
        machine, own = self.machine(), self.own()
        others = (machine - self._last[1] - (own - self._last[2])) / (now - self._last[0])
        self._last = (now, machine, own)
        threads = max(1, min(self.most, round(self.cores - others)))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def restore(self) -> None:
        if self.active and torch.get_num_threads() != self.most:
            torch.set_num_threads(self.most)
