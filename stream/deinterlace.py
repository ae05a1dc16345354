"""Interlaced video made progressive: FFmpeg's bwdif on the frames marked interlaced."""

from __future__ import annotations

from collections import deque

import av

FILTER = "mode=send_frame:parity=auto:deint=interlaced"  # one frame per frame, progressive ones untouched


class Deinterlacer:
    """``ffmpeg -vf bwdif=deint=interlaced``, started at the first frame marked interlaced (TV
    recordings, DVDs), before frames are turned upright: fields are rows of the coded picture.
    Processed and written progressive, fields left as they came would show as combs on every
    moving edge, and the flows would follow them. bwdif holds one frame back; ``flush`` at the end."""

    def __init__(self, time_base) -> None:
        self.time_base = time_base  # of the frames' pts
        self.graph: av.filter.Graph | None = None
        self.shape: tuple[str, int, int] | None = None
        self.held: deque[tuple[int, bool]] = deque()  # pts (bwdif halves the time base) and mark, in order

    def push(self, frame: av.VideoFrame, pts: int) -> list[tuple[av.VideoFrame, int, bool]]:
        """(frame, pts, whether it came marked interlaced) ready for ``frame`` of presentation time
        ``pts``, in order."""
        if self.graph is None:
            if not frame.interlaced_frame:
                return [(frame, pts, False)]
            self._start(frame)
        if (frame.format.name, frame.width, frame.height) != self.shape:  # a new size midway: to the first's
            frame = frame.reformat(self.shape[1], self.shape[2], self.shape[0])
        self.held.append((pts, frame.interlaced_frame))
        self.graph.vpush(frame)
        return self._pulled()

    def flush(self) -> list[tuple[av.VideoFrame, int, bool]]:
        if self.graph is None:
            return []
        self.graph.vpush(None)
        return self._pulled()

    def _start(self, frame: av.VideoFrame) -> None:
        self.shape = frame.format.name, frame.width, frame.height
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                       time_base=self.time_base)
        bwdif = self.graph.add("bwdif", FILTER)
        source.link_to(bwdif)
        bwdif.link_to(self.graph.add("buffersink"))
        self.graph.configure()

    def _pulled(self) -> list[tuple[av.VideoFrame, int, bool]]:
        out = []
        while True:
            try:
                frame = self.graph.vpull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
            out.append((frame, *self.held.popleft()))
