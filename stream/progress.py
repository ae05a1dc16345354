"""Progress on stderr: a bar on a terminal, plain lines in logs, JSON lines for programs; and
ffmpeg's -progress report (key=value blocks) to a pipe or a file, for programs that read ffmpeg's."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from .errors import DfstreamError, UsageError

MODES = ("auto", "bar", "plain", "json", "none")
REPORT_PERIOD = 0.5  # seconds between -progress blocks, ffmpeg's -stats_period
STANDARD_OUTPUT = ("pipe:", "pipe:1", "-")  # -progress's names for it


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


def open_report(url: str) -> TextIO:
    """Where ffmpeg's -progress URL writes: pipe:1 (or -) standard output, pipe:2 standard error,
    else a file (file:NAME too), made anew."""
    if url in STANDARD_OUTPUT:
        return sys.stdout
    if url == "pipe:2":
        return sys.stderr
    if "://" in url:
        raise UsageError(f"-progress {url}: dfstream writes its report to a pipe or a file",
                         "give pipe:1, pipe:2 or a file name")
    try:
        return open(url.removeprefix("file:"), "w")
    except OSError as err:
        raise DfstreamError(f"cannot write -progress to '{url}': {err.strerror}", "give a file that can be written") from None


def _clock_us(seconds: float) -> str:
    us = round(seconds * 1e6)
    h, rest = divmod(us, 3600 * 10**6)
    m, rest = divmod(rest, 60 * 10**6)
    return f"{h:02d}:{m:02d}:{rest // 10**6:02d}.{rest % 10**6:06d}"


class Progress:
    """Reports frames done, fps and ETA at most every ``interval`` seconds; with ``report`` (a text
    file), ffmpeg's -progress blocks every REPORT_PERIOD seconds and a last one at ``close``."""

    def __init__(self, mode: str = "auto", total: int | None = None, stream=None, report: TextIO | None = None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        self.mode = mode
        self.total = total
        self.interval = {"bar": 0.2, "json": 1.0}.get(mode, 5.0)
        self.started = time.perf_counter()
        self._last = 0.0
        self.frames = 0
        self.report, self._reported, self.media_time = report, 0.0, 0.0

    def update(self, frames: int, media_time: float | None = None) -> None:
        self.frames = frames
        if self.total is not None and frames > self.total:  # the guess fell short (a still looped with -loop 1):
            self.total = None                                # no total rather than a wrong one
        self.media_time = media_time if media_time is not None else self.media_time
        now = time.perf_counter()
        if self.report and now - self._reported >= REPORT_PERIOD:
            self._reported = now
            self._write_report(now - self.started, "continue")
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

    def _write_report(self, elapsed: float, state: str) -> None:
        """One block as ffmpeg writes it (whose out_time_ms is in microseconds too); the time is the
        last frame written's."""
        fps = self.frames / elapsed if elapsed > 0 else 0.0
        us = round(self.media_time * 1e6)
        speed = f"{self.media_time / elapsed:.3g}x" if elapsed > 0 and self.media_time else "N/A"
        self.report.write(f"frame={self.frames}\nfps={fps:.2f}\nout_time_us={us}\nout_time_ms={us}\n"
                          f"out_time={_clock_us(self.media_time)}\nspeed={speed}\nprogress={state}\n")
        self.report.flush()

    def close(self) -> None:
        """Final report line (the bar is finished with a newline); -progress's last block."""
        if self.mode in ("bar", "json"):
            self._emit(time.perf_counter() - self.started, None, end="\n" if self.mode == "bar" else "")
        if self.report:
            self._write_report(time.perf_counter() - self.started, "end")
            if self.report not in (sys.stdout, sys.stderr):
                self.report.close()
