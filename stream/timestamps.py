"""Presentation timestamps for decoded frames, repaired the way players expect.

Decoders emit frames in presentation order, but some containers (AVI, raw
elementary streams) carry no real presentation timestamps: the values that
come out are decode-order guesses or missing. ``Timestamps`` holds back a few
frames and hands out the smallest pending timestamp to the oldest frame, which
restores a strictly increasing sequence without changing correct input.
"""

from __future__ import annotations

import heapq
from collections import deque
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
