"""Keeping a live run on the source's clock: lower the work size first, then drop frames; and
reading a file at its own pace (ffmpeg's -re), as a live source hands its frames.

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


class ReadRate:
    """ffmpeg's -re and -readrate: frames handed on no sooner than their time in the video, divided
    by ``speed``, after the first (which goes at once), so that a file streams as a live source
    would. ``clock`` and ``sleep`` are time's, or a test's."""

    def __init__(self, speed: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        self.speed, self.clock, self.sleep = speed, clock, sleep
        self.origin: tuple[float, float] | None = None  # (clock, video time) of the first frame

    def wait(self, media_time: float) -> None:
        now = self.clock()
        if self.origin is None:
            self.origin = now, media_time
            return
        due = self.origin[0] + (media_time - self.origin[1]) / self.speed
        if due > now:
            self.sleep(due - now)
