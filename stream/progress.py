"""Progress on stderr: a bar on a terminal, plain lines in logs, JSON lines for programs."""

from __future__ import annotations

import json
import sys
import time

MODES = ("auto", "bar", "plain", "json", "none")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Reports frames done, fps and ETA at most every ``interval`` seconds."""

    def __init__(self, mode: str = "auto", total: int | None = None, stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        self.mode = mode
        self.total = total
        self.interval = {"bar": 0.2, "json": 1.0}.get(mode, 5.0)
        self.started = time.perf_counter()
        self._last = 0.0
        self.frames = 0

    def update(self, frames: int, media_time: float | None = None) -> None:
        self.frames = frames
        now = time.perf_counter()
        if self.mode == "none" or now - self._last < self.interval:
            return
        self._last = now
        self._emit(now - self.started, media_time)

    def _emit(self, elapsed: float, media_time: float | None, end: str = "") -> None:
        fps = self.frames / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.frames) / fps if self.total and fps > 0 else None
        if self.mode == "json":
            record = {"frames": self.frames, "total": self.total, "fps": round(fps, 2),
                      "elapsed": round(elapsed, 3), "eta": None if eta is None else round(eta, 1),
                      "time": media_time}
            self.stream.write(json.dumps(record) + "\n")
        elif self.mode == "bar":
            if self.total:
                share = min(1.0, self.frames / self.total)
                bar = "#" * int(share * 30)
                head = f"[{bar:<30}] {share * 100:5.1f}% {self.frames}/{self.total}"
            else:
                head = f"{self.frames} frames"
            self.stream.write(f"\r{head}  {fps:6.1f} fps  ETA {_clock(eta)}\x1b[K{end}")
        else:
            of = f"/{self.total}" if self.total else ""
            self.stream.write(f"frames {self.frames}{of}  fps {fps:.1f}  elapsed {_clock(elapsed)}"
                              f"  eta {_clock(eta)}\n")
        self.stream.flush()

    def close(self) -> None:
        """Final report line (the bar is finished with a newline)."""
        if self.mode in ("bar", "json"):
            self._emit(time.perf_counter() - self.started, None, end="\n" if self.mode == "bar" else "")
