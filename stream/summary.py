"""What a run produces: its batches of frames on their way to the encoder, the frames the API
yields, and the summary of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import av
import numpy as np


@dataclass
class Summary:
    """What a run did, for the final report and for API callers."""

    frames: int = 0
    seconds: float = 0.0
    output: str | None = None
    interrupted: str | None = None  # 'SIGINT' or 'SIGTERM'
    partial: str | None = None
    pipe_closed: bool = False
    size_limited: bool = False  # -fs's size reached: the frames after it left out
    stage_seconds: dict[str, float] = field(default_factory=dict)
    decode_seconds: float = 0.0
    encode_seconds: float = 0.0
    upload_seconds: float = 0.0  # on a GPU: host to device copies (CUDA events)
    download_seconds: float = 0.0
    latency: tuple[float, float] | None = None  # ms from decoder to encoder: median, p95
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        parts = [f"decode {self.decode_seconds:.1f}s"]
        if self.upload_seconds:
            parts.append(f"upload {self.upload_seconds:.1f}s")
        parts += [f"{name} {1000 * s / max(1, self.frames):.1f} ms/frame" for name, s in self.stage_seconds.items()]
        if self.download_seconds:
            parts.append(f"download {self.download_seconds:.1f}s")
        parts.append(f"encode {self.encode_seconds:.1f}s")
        lines = [f"{counted(self.frames, 'frame')} in {self.seconds:.1f}s ({self.fps:.1f} fps): {', '.join(parts)}"]
        if self.latency:
            lines.append(f"latency from frame in to frame out: median {self.latency[0]:.0f} ms, "
                         f"p95 {self.latency[1]:.0f} ms")
        return lines


@dataclass
class Batch:
    """Processed frames with the source frames they came from and when those left the decoder.
    ``pending``: output frames still on their way from the device, made by ``ready()``;
    ``skip``: leading frames that only warmed the stages up (a segment's overlap), ``beyond``:
    trailing ones decoded after a segment's end for a stage's look-ahead: neither is written."""

    outputs: list[av.VideoFrame] = field(default_factory=list)
    inputs: list[av.VideoFrame] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    pending: list[Callable[[], list[av.VideoFrame]]] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    time_base: Fraction | None = None
    skip: int = 0
    beyond: int = 0

    def ready(self) -> Batch:
        """Wait for this batch's downloads (only them) and make its output frames."""
        if self.pending:
            self.outputs, self.pending = [f for make in self.pending for f in make()], []
        if self.skip or self.beyond:
            kept = slice(self.skip, len(self.pts) - self.beyond)
            self.skip = self.beyond = 0
            self.outputs, self.inputs, self.arrivals, self.pts = (self.outputs[kept], self.inputs[kept],
                                                                   self.arrivals[kept], self.pts[kept])
        for frame, pts in zip(self.outputs, self.pts):
            frame.pts, frame.time_base = pts, self.time_base
        return self


@dataclass
class OutputFrame:
    """A processed frame from ``frames()``: time in seconds, pts in the stream's time base, RGB."""

    time: float
    pts: int
    image: np.ndarray


def counted(n: int, thing: str) -> str:
    """'1 frame', '2 frames'."""
    return f"{n} {thing}{'s' * (n != 1)}"
