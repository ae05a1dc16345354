"""Interlaced video made progressive with FFmpeg's filters: bwdif on the frames interlaced (as idet
finds them), or, asked for, film's 3:2 pulldown undone (fieldmatch, decimate)."""

from __future__ import annotations

from collections import Counter, deque
from fractions import Fraction

import av

from .errors import DfstreamError

BWDIF = ("bwdif", "mode=send_frame:parity=auto:deint=interlaced")  # one frame per frame, progressive untouched
CHAINS = {
    # idet marks frames anew (interlaced, or progressive where both fields show one instant, as a film
    # on a PAL DVD coded interlaced: those are left whole) and counts the fields a pulldown repeats
    "auto": [("idet", ""), BWDIF],
    # each frame's fields matched with its neighbours', what stays combed deinterlaced, then the
    # one repeated frame of every five dropped: ffmpeg's own recipe for telecined film
    "ivtc": [("fieldmatch", "order=auto:combmatch=full"), BWDIF, ("decimate", "")],
}
KEPT = {"auto": Fraction(1), "ivtc": Fraction(4, 5)}  # frames out per frame in
REPEATED = 0.3  # share of frames with a field repeated from the frame before, from which video looks
# telecined (a 3:2 pulldown repeats one in 2 of every 5 frames)
SEEN = 20  # frames idet must have seen for that
DONE, WHOLE = "deinterlaced", "whole"  # a frame deinterlaced; marked interlaced, but progressive to idet


class Deinterlacer:
    """``ffmpeg -vf`` the chain of ``mode``, before frames are turned upright: fields are rows of
    the coded picture. Processed and written progressive, fields left as they came would show as
    combs on every moving edge, and the flows would follow them. ``auto`` starts at the first frame
    marked interlaced (TV recordings, DVDs) and keeps every frame's time; ``ivtc`` takes every
    frame and re-times the four of five it keeps evenly, as decimate does. The filters hold frames
    back; ``flush`` at the end."""

    def __init__(self, mode: str, time_base: Fraction, rate: Fraction) -> None:
        self.mode, self.time_base, self.rate = mode, time_base, rate  # the frames' pts and rate
        self.graph: av.filter.Graph | None = None
        self.shape: tuple[str, int, int] | None = None
        self.marks: deque[bool] = deque()  # auto: whether each frame in the filters came marked interlaced
        self.seen = self.repeated = 0  # auto: frames idet saw, and those with a field repeated

    def push(self, frame: av.VideoFrame, pts: int) -> list[tuple[av.VideoFrame, int, str]]:
        """(frame, pts, what was done: ``DONE``, ``WHOLE`` or "") ready for ``frame`` of presentation
        time ``pts``, in order."""
        ready = []
        if self.graph is not None and (frame.format.name, frame.width, frame.height) != self.shape:
            ready = self.flush()  # another size or format midway: the filters start again, as ffmpeg's do
        if self.graph is None:
            if self.mode == "auto" and not frame.interlaced_frame:
                return [*ready, (frame, pts, "")]
            self._start(frame)
        if self.mode == "auto":
            self.marks.append(frame.interlaced_frame)
        frame.pts = pts
        self.graph.vpush(frame)
        return ready + self._pulled()

    def flush(self) -> list[tuple[av.VideoFrame, int, str]]:
        """The frames the filters still hold; the next frame starts them again."""
        if self.graph is None:
            return []
        self.graph.vpush(None)
        ready, self.graph = self._pulled(), None
        return ready

    def notes(self, name: str, fields: Counter[str], rate: Fraction) -> list[str]:
        """What was done to input ``name``, whose kept frames ``fields`` counts by what was done to
        them, now at ``rate``; and whether it looks like telecined film (``ivtc`` would undo it)."""
        done, whole, notes = fields[DONE], fields[WHOLE], []
        if done and self.mode == "ivtc":
            notes.append(f"undid the 3:2 pulldown of '{name}' (fieldmatch, decimate): {done} frames at "
                         f"{float(rate):.3f} fps")
        elif done:
            notes.append(f"deinterlaced {done} interlaced frames of '{name}' (bwdif; --deinterlace off keeps "
                         "the fields)")
        if whole:
            notes.append(f"left {whole} frames of '{name}' whole: marked interlaced, but both their fields show "
                         "one instant (FFmpeg's idet), as a film coded so")
        if self.mode == "auto" and self.seen >= SEEN and self.repeated >= REPEATED * self.seen:
            notes.append(f"'{name}' looks like film telecined to {float(rate):.2f} fps (a field repeated in "
                         f"{self.repeated} of {self.seen} frames): --deinterlace ivtc brings back its film frames")
        return notes

    def _start(self, frame: av.VideoFrame) -> None:
        self.shape = frame.format.name, frame.width, frame.height
        self.graph = av.filter.Graph()
        last = self.graph.add("buffer", f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:"
                                        f"time_base={self.time_base}:frame_rate={self.rate}:pixel_aspect=1/1")
        for name, args in CHAINS[self.mode]:
            try:
                step = self.graph.add(name, args)
            except ValueError:  # an FFmpeg built without it
                raise DfstreamError(f"this FFmpeg has no {name} filter to deinterlace with",
                                    "pass --deinterlace off, or install PyAV with a full FFmpeg") from None
            last.link_to(step)
            last = step
        last.link_to(self.graph.add("buffersink"))
        self.graph.configure()

    def _pulled(self) -> list[tuple[av.VideoFrame, int, str]]:
        out = []
        while True:
            try:
                frame = self.graph.vpull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
            pts = round(frame.pts * frame.time_base / self.time_base)  # the filters' own time bases
            if self.mode != "auto":
                out.append((frame, pts, DONE))
                continue
            marked = self.marks.popleft()
            found = frame.metadata.get("lavfi.idet.multiple.current_frame")  # idet marks frames anew
            done = found in ("tff", "bff") or (found != "progressive" and marked)
            self.seen += 1
            self.repeated += frame.metadata.get("lavfi.idet.repeated.current_frame") in ("top", "bottom")
            out.append((frame, pts, DONE if done else WHOLE if marked else ""))
