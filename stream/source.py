"""Input: open anything FFmpeg reads, demux, decode video in threads, repair timestamps, trim.

A ``Source`` yields, in demux order, decoded video frames (``VideoItem``) and
the audio and subtitle packets that travel untouched to the sink.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator

import av

from .colour import FALLBACK_LAYOUT, LAYOUTS, Colour, PixelLayout
from .errors import DfstreamError
from .timestamps import Timestamps

PASSTHROUGH_TYPES = ("audio", "subtitle")


@dataclass
class VideoItem:
    """One decoded frame in a planar layout, with its repaired timestamp (stream time base)."""

    frame: av.VideoFrame
    pts: int
    arrival: float = field(default_factory=time.perf_counter)  # when it left the decoder


def is_url(name: str) -> bool:
    return "://" in name or name.startswith("pipe:")


def describe_av_error(err: Exception) -> str:
    """FFmpeg's own words for an error, without PyAV's errno prefix."""
    return getattr(err, "strerror", None) or str(err)


def hardware_decoder(kind: str | None):
    """PyAV's settings for decoding on a device (``--hwaccel cuda``: NVDEC), or None."""
    if not kind:
        return None
    from av.codec.hwaccel import HWAccel, hwdevices_available

    if kind not in hwdevices_available():
        raise DfstreamError(f"this FFmpeg cannot decode on '{kind}' devices",
                            f"use one of {', '.join(hwdevices_available()) or 'none'}, or drop --hwaccel")
    return HWAccel(kind, allow_software_fallback=True)


def open_input(name: str, input_format: str | None = None, options: dict | None = None,
               hwaccel: str | None = None):
    """Open an input container; every failure becomes a one-line DfstreamError."""
    url = "pipe:0" if name == "-" else name
    if name != "-" and not input_format and not is_url(name):
        if not os.path.exists(name):
            raise DfstreamError(f"input '{name}' does not exist", "check the path")
        if os.path.isdir(name):
            raise DfstreamError(f"input '{name}' is a directory", "give a video file")
    decoder = hardware_decoder(hwaccel)
    try:
        container = av.open(url, "r", format=input_format, options=options or {}, timeout=(20.0, 20.0),
                            **({"hwaccel": decoder} if decoder else {}))
    except av.error.InvalidDataError:
        raise DfstreamError(
            f"cannot read '{name}': not a media file FFmpeg can read, or it is corrupt",
            "check the file plays in another player, or pass --input-format",
        ) from None
    except ValueError as err:  # unknown --input-format
        raise DfstreamError(f"cannot open '{name}': {err}", "see 'ffmpeg -formats' for names") from None
    except (av.error.FFmpegError, PermissionError) as err:
        if decoder:
            raise DfstreamError(f"cannot start the {hwaccel} hardware decoder for '{name}': "
                                f"{describe_av_error(err)}",
                                "drop --hwaccel, or check the GPU and its driver ('nvidia-smi')") from None
        raise DfstreamError(f"cannot open '{name}': {describe_av_error(err)}",
                            "check the path, URL or device and --input-format") from None
    if container.format.name == "tty" and not input_format:  # FFmpeg renders any text as video
        container.close()
        raise DfstreamError(f"cannot read '{name}': it is a text file, not a video",
                            "give a video file, or pass --input-format tty to render the text")
    return container


class Source:
    """A demuxed input with its first video stream decoded in threads.

    ``start``/``duration`` (seconds) trim like ffmpeg's input ``-ss``/``-t``:
    output timestamps are shifted so the kept part starts at ``start``'s frame.
    ``window`` is the timestamp reorder window (frames held back; 0 for live).
    """

    def __init__(self, name: str, input_format: str | None = None, options: dict | None = None,
                 start: float | None = None, duration: float | None = None, window: int = 8,
                 hwaccel: str | None = None):
        self.name = name
        self.container = open_input(name, input_format, options, hwaccel)
        if not self.container.streams.video:
            self.container.close()
            raise DfstreamError(f"'{name}' has no video stream", "give a file with video")
        self.video = self.container.streams.video[0]
        ctx = self.video.codec_context
        if ctx is None or not ctx.width or not ctx.height:
            self.container.close()
            codec = getattr(ctx, "name", None) or "unknown"
            raise DfstreamError(f"cannot decode the video of '{name}' (codec {codec})",
                                "convert it with ffmpeg first, or check the file is complete")
        self.video.thread_type = "AUTO"
        self.passthrough = [s for s in self.container.streams if s.type in PASSTHROUGH_TYPES]
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90000)
        self.rate: Fraction = self.video.guessed_rate or self.video.average_rate or Fraction(25)
        self.width, self.height = ctx.width, ctx.height
        fmt = ctx.pix_fmt or "yuv420p"
        if hwaccel and fmt == "yuv420p":
            fmt = "nv12"  # NVDEC hands 8-bit 4:2:0 back as NV12: read as it comes, no conversion
        self.layout: PixelLayout = LAYOUTS.get(fmt) or LAYOUTS[FALLBACK_LAYOUT.get(fmt, "yuv444p")]
        self.colour = Colour.of_frame(ctx.colorspace, ctx.color_range, self.layout, self.height)
        self.start = start or 0.0
        self.end = None if duration is None else self.start + duration
        self.window = window
        self.stop = threading.Event()
        self.corrupt_packets = 0
        if start:
            try:
                self.container.seek(int(start / self.time_base), stream=self.video, backward=True)
            except av.error.FFmpegError as err:
                raise DfstreamError(f"cannot seek '{name}' to {start}s: {describe_av_error(err)}",
                                    "drop -ss, or remux the input to a seekable file") from None

    @property
    def frame_step(self) -> int:
        """Nominal frame duration in stream time base units."""
        return max(1, round(1 / (self.rate * self.time_base)))

    def expected_frames(self) -> int | None:
        """Best guess of how many frames will come out, for progress and ETA."""
        seconds = None
        if self.video.duration:
            seconds = float(self.video.duration * self.time_base)
        elif self.container.duration:
            seconds = self.container.duration / av.time_base
        if seconds is None:
            return self.video.frames or None
        if self.end is not None:
            seconds = min(seconds, self.end)
        seconds -= self.start
        return max(0, round(seconds * self.rate))

    def items(self) -> Iterator[VideoItem | av.Packet]:
        """Decoded frames and pass-through packets in demux order, trimmed and re-timed."""
        stamps: Timestamps[av.VideoFrame] = Timestamps(self.window, self.frame_step)
        start_pts = round(self.start / self.time_base)
        end_pts = None if self.end is None else round(self.end / self.time_base)
        try:
            for packet in self.container.demux(self.video, *self.passthrough):
                if self.stop.is_set():
                    return
                if packet.stream is self.video:
                    for frame in self._decode(packet):
                        for item in stamps.push(frame, frame.pts, frame.dts):
                            yield from self._video_item(*item, start_pts, end_pts)
                elif packet.size and (kept := self._trim_packet(packet)) is not None:
                    yield kept
            for item in stamps.flush():
                yield from self._video_item(*item, start_pts, end_pts)
        except av.error.FFmpegError as err:
            raise DfstreamError(f"reading '{self.name}' failed: {describe_av_error(err)}",
                                "check the input is complete and readable") from None

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.error.InvalidDataError:
            self.corrupt_packets += 1  # FFmpeg's own tools skip damaged packets too
            return []

    def _video_item(self, frame: av.VideoFrame, pts: int, start_pts: int,
                    end_pts: int | None) -> Iterator[VideoItem]:
        if pts < start_pts:
            return
        if end_pts is not None and pts >= end_pts:
            self.stop.set()
            return
        if frame.format.name != self.layout.name:  # non-planar, or changed mid-stream
            frame = frame.reformat(format=self.layout.name)
        yield VideoItem(frame, pts - start_pts if self.start else pts)

    def _trim_packet(self, packet: av.Packet) -> av.Packet | None:
        if not self.start and self.end is None:
            return packet
        tb = packet.time_base
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None:
            return packet
        t = float(pts * tb)
        if t + float((packet.duration or 0) * tb) <= self.start or (self.end is not None and t >= self.end):
            return None
        if self.start:
            shift = round(self.start / tb)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
        return packet

    def close(self) -> None:
        self.container.close()
