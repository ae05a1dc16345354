"""Keeping a live run on the source's clock: lower the work size first, then drop frames.

The lag of a frame is how long it has waited since it left the decoder. While
frames wait longer than ``budget``, the work size steps down (to 75%, then
50%); at the smallest size, frames that waited more than the budget are
dropped, never the first frame of a scene. When the lag has stayed low for a
while, the work size steps back up.
"""

from __future__ import annotations

import time

SCALES = (1.0, 0.75, 0.5)


class Realtime:
    def __init__(self, budget: float = 0.15, hold: float = 1.0):
        self.budget = budget
        self.hold = hold  # seconds between two changes of the work size
        self.level = 0
        self.dropped = 0
        self.kept = 0
        self.lowest = 1.0
        self._changed = 0.0

    @property
    def scale(self) -> float:
        return SCALES[self.level]

    def plan(self, lags: list[float], cuts: list[bool], now: float | None = None) -> list[bool]:
        """Which frames of a batch to process, given their lags (s) and scene-cut flags."""
        now = time.perf_counter() if now is None else now
        worst = max(lags)
        if now - self._changed >= self.hold:
            if worst > self.budget and self.level < len(SCALES) - 1:
                self.level, self._changed = self.level + 1, now
            elif worst < self.budget / 4 and self.level > 0 and now - self._changed >= 3 * self.hold:
                self.level, self._changed = self.level - 1, now
        self.lowest = min(self.lowest, self.scale)
        at_bottom = self.level == len(SCALES) - 1
        keep = [cut or not at_bottom or lag <= self.budget for lag, cut in zip(lags, cuts)]
        self.dropped += keep.count(False)
        self.kept += keep.count(True)
        return keep

    def report(self) -> str:
        total = self.dropped + self.kept
        share = f" ({100 * self.dropped / total:.1f}%)" if total else ""
        size = f"; work size lowered to {self.lowest:.0%} at times" if self.lowest < 1 else ""
        return f"realtime: dropped {self.dropped} of {total} frames{share}{size}"
