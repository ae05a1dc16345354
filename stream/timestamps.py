"""Presentation timestamps for decoded frames, repaired the way players expect.

Decoders emit frames in presentation order, but some containers (AVI, raw
elementary streams) carry no real presentation timestamps: the values that
come out are decode-order guesses or missing. ``Timestamps`` holds back a few
frames and hands out the smallest pending timestamp to the oldest frame, which
restores a strictly increasing sequence without changing correct input.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from fractions import Fraction
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class Timestamps(Generic[T]):
    """Reorder window over (item, pts, dts) producing (item, pts) with strictly increasing pts.

    ``window`` is how many frames may be held back (0 for live, lowest latency).
    A missing pts falls back to dts, then to the previous timestamp plus ``step``.
    """

    def __init__(self, window: int = 8, step: int = 1):
        self.window = window
        self.step = max(1, step)
        self._items: deque[T] = deque()
        self._heap: list[int] = []
        self._last: int | None = None
        self._top: int | None = None

    def push(self, item: T, pts: int | None, dts: int | None) -> Iterator[tuple[T, int]]:
        ts = pts if pts is not None else dts
        if ts is None:
            ts = 0 if self._top is None else self._top + self.step
        self._top = ts if self._top is None else max(self._top, ts)
        self._items.append(item)
        heapq.heappush(self._heap, ts)
        while len(self._items) > self.window:
            yield self._pop()

    def flush(self) -> Iterator[tuple[T, int]]:
        while self._items:
            yield self._pop()

    def _pop(self) -> tuple[T, int]:
        ts = heapq.heappop(self._heap)
        if self._last is not None and ts <= self._last:
            ts = self._last + 1
        self._last = ts
        return self._items.popleft(), ts


class Retimer(Generic[T]):
    """ffmpeg's -r on the output: frames at a constant ``rate``, as FFmpeg's fps filter makes them.
    Each tick n / rate shows the last frame whose time rounds to it or before: frames that round to
    a tick already shown are dropped, and a frame fills every tick up to the next one's (repeated),
    the last up to its end, ``step`` after it. Ticks are whole multiples of 1 / rate, as in the fps
    filter's time base. Pushes (item, pts) in increasing pts (``time_base``); gives (item, pts,
    repeated) at the ticks, one frame late (the next tells how often), ``repeated`` from its second;
    counts the frames ``repeated`` and ``dropped``, as ffmpeg's dup and drop."""

    def __init__(self, rate: Fraction, time_base: Fraction, step: int):
        self.rate, self.time_base, self.step = rate, time_base, step
        self._held: tuple[T, int] | None = None  # the latest item and its pts
        self._next = 0  # the first tick not shown yet
        self.repeated = self.dropped = 0  # frames shown again, frames not shown

    def push(self, item: T, pts: int) -> Iterator[tuple[T, int, bool]]:
        tick = self._tick(pts)
        if self._held is None:
            self._next = tick
        else:
            yield from self._fill(tick)
        self._held = item, pts

    def flush(self) -> Iterator[tuple[T, int, bool]]:
        if self._held is not None:
            yield from self._fill(self._tick(self._held[1] + self.step))
            self._held = None

    def _fill(self, until: int) -> Iterator[tuple[T, int, bool]]:
        """The held item at each tick from the next up to ``until`` (none if it rounds past them)."""
        self.repeated += max(0, until - self._next - 1)
        self.dropped += until <= self._next
        for n in range(self._next, until):
            yield self._held[0], round(n / (self.rate * self.time_base)), n > self._next
        self._next = max(self._next, until)

    def _tick(self, pts: int) -> int:
        return math.floor(pts * self.time_base * self.rate + Fraction(1, 2))
