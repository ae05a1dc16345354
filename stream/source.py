"""Input: open anything FFmpeg reads, demux, decode video in threads, repair timestamps, trim.

A ``Source`` yields, in demux order, decoded video frames (``VideoItem``) and
the audio and subtitle packets that travel untouched to the sink.
"""

from __future__ import annotations

import glob
import math
import os
import re
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator

import av

import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from .colour import LAYOUTS, Colour, PixelLayout, Tags, nearest_layout
from .deinterlace import KEPT, Deinterlacer
from .errors import DfstreamError
from .mapping import Selection
from .planes import RGBReader, copied
from .realtime import ReadRate
from .timestamps import Retimer, Timestamps

PASSTHROUGH_TYPES = ("audio", "subtitle")  # copied packet for packet
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dpx"}  # frames FFmpeg reads (DPX: scans)
UPRIGHT = (False, False, False)  # no transpose, no flips: as the frames are coded
NUMBERED = re.compile(r"%0?\d*d")  # FFmpeg's image sequence pattern: frame%05d.png
VOB_PART = re.compile(r"VTS_(\d\d)_[1-9]\.VOB", re.I)  # a part of a DVD's title set (0: its menu)
M2TS = re.compile(r"\d{5}\.m2ts", re.I)  # a Blu-ray's stream file
PROTOCOL = re.compile(r"[a-z][a-z0-9+.-]+:", re.I)  # FFmpeg's concat:A|B (a DVD's VOB files), ..., for FFmpeg


@dataclass
class VideoItem:
    """One decoded frame with its repaired timestamp (stream time base) and, when asked for,
    its R'G'B' as libswscale reads it (converted in the decode thread)."""

    frame: av.VideoFrame
    pts: int
    rgb: np.ndarray | None = None
    arrival: float = field(default_factory=time.perf_counter)  # when it left the decoder
    warmup: bool = False  # decoded before a segment's first frame: processed, not written
    beyond: bool = False  # decoded after a segment's end for a stage that looks ahead: processed, not written


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


def orientation(name: str, input_format: str | None, options: dict | None, index: int) -> tuple[bool, bool, bool]:
    """How to bring a file's video upright, as its display matrix says (a phone's portrait video, a
    mirrored camera): (transpose, flip rows, flip columns), applied in that order, decided as
    ffmpeg's autorotation decides (``display_orientation``); read from the first frame of stream
    ``index``. Nothing for pipes, URLs and devices."""
    if name == "-" or is_url(name) or input_format or not os.path.isfile(name):
        return UPRIGHT
    try:
        with av.open(name, options=options or {}) as container:
            frame = next(container.decode(container.streams[index]), None)
    except (av.error.FFmpegError, StopIteration):
        return UPRIGHT
    sides = frame.side_data if frame is not None else ()
    matrix = next((bytes(d) for d in sides if d.type == SideDataType.DISPLAYMATRIX), b"")
    return display_orientation(struct.unpack("<9i", matrix)) if len(matrix) == 36 else UPRIGHT


def display_orientation(matrix: tuple[int, ...]) -> tuple[bool, bool, bool]:
    """(transpose, flip rows, flip columns) for a display matrix, as ffmpeg's autorotation: a turn
    clockwise of 90 or 270 degrees is a transpose (``transpose=clock``, ``cclock`` or their
    flipped forms), 180 a flip of either or both axes, none a flip of rows where the matrix says
    so. Turns by other angles are not applied (ffmpeg rotates the picture inside black corners)."""
    a, b, _, c, d = matrix[:5]
    if not (math.hypot(a, c) and math.hypot(b, d)):
        return UPRIGHT  # no rotation can be read from it
    theta = round(math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c))))  # clockwise
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if theta == 90:
        return (True, False, False) if c > 0 else (True, False, True)
    if theta == 180:
        return False, d < 0, a < 0
    if theta == 270:
        return (True, True, True) if c < 0 else (True, True, False)
    return False, theta == 0 and d < 0, False


def turned(frame: av.VideoFrame, how: tuple[bool, bool, bool]) -> av.VideoFrame:
    """``frame`` brought upright (``orientation``: transpose, flip rows, flip columns), plane by
    plane, as ffmpeg's autorotation does. A packed format whose planes mix sizes (YUYV) is made
    planar first, and chroma halved across but not down (4:2:2) is made 4:4:4 to be transposed; a
    palette stays as it is."""
    transpose, rows, columns = how
    fmt, sizes = frame.format, {}
    for c in fmt.components:
        sizes.setdefault(c.plane, set()).add((c.width, c.height))
    lopsided = transpose and fmt.chroma_width(16) != fmt.chroma_height(16)
    if lopsided or any(len(s) > 1 for s in sizes.values()):
        name = nearest_layout(fmt).name
        frame = frame.reformat(format=name.replace("422", "444") if lopsided else name)
        fmt = frame.format
    size = (frame.height, frame.width) if transpose else (frame.width, frame.height)
    out = av.VideoFrame(*size, fmt.name)
    depth = {}  # bytes per pixel of each plane
    for c in fmt.components:
        depth[c.plane] = depth.get(c.plane, 0) + (c.bits + 7) // 8
    for i, (src, dst) in enumerate(zip(frame.planes, out.planes)):
        if i not in depth:  # a palette, not a picture
            memoryview(dst)[:] = memoryview(src)
            continue
        pixels = np.frombuffer(src, np.uint8).reshape(src.height, src.line_size)
        pixels = pixels[:, : src.width * depth[i]].reshape(src.height, src.width, depth[i])
        pixels = pixels.transpose(1, 0, 2) if transpose else pixels
        pixels = pixels[::-1 if rows else 1, ::-1 if columns else 1]
        target = np.frombuffer(memoryview(dst), np.uint8).reshape(dst.height, dst.line_size)
        target[:, : dst.width * depth[i]] = pixels.reshape(dst.height, -1)
    out.pts, out.time_base = frame.pts, frame.time_base
    out.colorspace, out.color_range = frame.colorspace, frame.color_range
    return out


def disc_title(folder: str) -> tuple[str, list[str]] | None:
    """A disc's film in its folder, as most rippers pick it -> (kind, its files), or None where the
    folder holds no disc. A DVD (the disc's root, or its VIDEO_TS): VTS_NN_1.VOB, VTS_NN_2.VOB, ...
    of the title set NN whose parts are largest (not the menus, VIDEO_TS.VOB and VTS_NN_0.VOB). A
    Blu-ray (the root, BDMV or BDMV/STREAM): its largest .m2ts."""
    for kind, inner, pattern in (("DVD", ("VIDEO_TS",), VOB_PART), ("Blu-ray", ("BDMV", "STREAM"), M2TS)):
        for depth in range(len(inner), -1, -1):
            place = os.path.join(folder, *inner[len(inner) - depth:]) if depth else folder
            if not os.path.isdir(place):
                continue
            sets: dict[str, list[str]] = {}
            for name in sorted(os.listdir(place)):
                if found := pattern.match(name):
                    sets.setdefault(found[1] if kind == "DVD" else name, []).append(os.path.join(place, name))
            if sets:
                return kind, max(sets.values(), key=lambda parts: sum(map(os.path.getsize, parts)))
    return None


def read_as_images(name: str) -> bool:
    """Whether ``name`` is read as a sequence of images: a folder of them (not a disc's), or FFmpeg's
    number pattern (frame%05d.png)."""
    if os.path.isdir(name):
        return not disc_title(name)
    return bool(NUMBERED.search(name)) and os.path.splitext(name)[1].lower() in IMAGE_TYPES


def image_folder(folder: str) -> str:
    """The FFmpeg glob pattern of a folder's frames (one image type, read in name order)."""
    types = {ext for ext in (os.path.splitext(f)[1] for f in os.listdir(folder)) if ext.lower() in IMAGE_TYPES}
    if not types:
        raise DfstreamError(f"input '{folder}' is a folder with no images",
                            "give a video, or a folder of frames")
    if len(types) > 1:
        raise DfstreamError(f"folder '{folder}' mixes {' and '.join(sorted(types))} frames",
                            "keep the frames of one video, of one image type, in a folder of their own")
    return os.path.join(glob.escape(folder), "*" + types.pop())


def silent(stream: av.stream.Stream) -> bool:
    """An audio stream the probe found no audio in (a recording's PID that carries nothing): no
    rate or no channels, which no muxer can write a header for."""
    ctx = stream.codec_context
    return stream.type == "audio" and (ctx is None or not ctx.sample_rate or not ctx.channels)


def tag_seconds(text: str) -> float | None:
    """A Matroska DURATION tag ('00:00:02.000000000') in seconds, None if it is not one."""
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def demuxed(container: av.container.InputContainer, *streams: av.stream.Stream) -> Iterator[av.Packet]:
    """``container.demux(*streams)``, ended where PyAV's flush at the end of the file reads past
    its list of streams because one appeared midway (a damaged MPEG-TS): the streams asked for
    were flushed before it."""
    try:
        yield from container.demux(*streams)
    except IndexError:
        return


def seek(container: av.container.InputContainer, video: av.VideoStream, at: int) -> None:
    """Seek so that decoding ``video`` starts at or before pts ``at``. Some demuxers (MPEG program
    streams: a DVD's VOB; MPEG-TS) land on a packet past ``at`` that is no keyframe, and the decoder
    starts at the next keyframe, up to a GOP later, or at none: there the seek is tried again a
    second earlier, then two, four, ..., as far as the video's start."""
    back, second, lowest = 0, max(1, round(1 / (video.time_base or Fraction(1, 90000)))), video.start_time or 0
    while True:
        container.seek(at - back, stream=video, backward=True)
        first = None
        for packet in container.demux(video):
            try:
                first = next((f.pts for f in packet.decode() if f.pts is not None), None)
            except av.error.InvalidDataError:  # a damaged packet: the next one
                continue
            if first is not None:
                break
        if first is not None and first <= at or at - back < lowest:  # none: no keyframe after it
            break
        back = max(2 * back, second)
    container.seek(at - back, stream=video, backward=True)


def open_input(name: str, input_format: str | None = None, options: dict | None = None,
               hwaccel: str | None = None):
    """Open an input container; every failure becomes a one-line DfstreamError. A folder is read as
    its frames in name order, and a name like frame%05d.png as FFmpeg's image sequence (both at 25
    fps unless ``options`` give a ``framerate``)."""
    url = "pipe:0" if name == "-" else name
    if name != "-" and not input_format and not is_url(name):
        numbered = NUMBERED.search(name) and os.path.isdir(os.path.dirname(name) or ".")
        if os.path.isdir(name) and (title := disc_title(name)):
            files = title[1]
            url = "concat:" + "|".join(files) if len(files) > 1 else files[0]  # as ffmpeg reads a DVD's film
        elif os.path.isdir(name):
            url, input_format = image_folder(name), "image2"
            options = {"pattern_type": "glob", **(options or {})}
        elif not (os.path.exists(name) or numbered or PROTOCOL.match(name)):
            raise DfstreamError(f"input '{name}' does not exist", "check the path")
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
    """A demuxed input with its video stream (the one ffmpeg maps; ``select``: -map, -an, -sn)
    decoded in threads.

    ``start``/``duration`` (seconds) trim like ffmpeg's ``-ss``/``-t``: frames from ``start``
    (after the file's own start) for ``duration`` seconds of the video's own timeline, at most
    ``frames`` of them (-frames:v); a trimmed output starts at 0 with its first frame. ``window``
    is the timestamp reorder window (frames held back; 0 for live). ``layout``: the planar layout
    written for this input; ``luma_layout``: the decoded layout
    when its Y' plane can be read as it is (else None); ``rgb``: convert frames to R'G'B'.
    ``segment``: only that segment's frames (with its warm-up before them), timestamps kept,
    no pass-through streams. ``rate``: frames at this constant rate (-r), dropped or repeated, before
    the trim (so -frames:v counts them). ``threads``: the decoder's (-threads; None: FFmpeg's choice).
    ``readrate``: frames handed on at this many times their own pace (-re: 1), not as fast as read.
    ``from_end``: ffmpeg's -sseof, a start this many seconds (0 or less) from the end its header gives.
    """

    def __init__(self, name: str, input_format: str | None = None, options: dict | None = None,
                 start: float | None = None, duration: float | None = None, window: int = 8, frames: int | None = None,
                 hwaccel: str | None = None, segment=None, deinterlace: str = "auto", select: Selection = Selection(),
                 delays: dict[str, float] | None = None, rate: Fraction | None = None, threads: int | None = None,
                 readrate: float | None = None, from_end: float | None = None):
        self.name = name
        self.container = open_input(name, input_format, options, hwaccel)
        if not self.container.streams.video:
            self.container.close()
            raise DfstreamError(f"'{name}' has no video stream", "give a file with video")
        try:
            kept = select.streams(self.container, name)
            self.video, self.ignored = select.video(kept, name)  # ffmpeg maps one video too
            kept = [] if segment else kept
        except DfstreamError:
            self.container.close()
            raise
        ctx = self.video.codec_context
        if ctx is None or not ctx.width or not ctx.height:
            self.container.close()
            codec = getattr(ctx, "name", None) or "unknown"
            raise DfstreamError(f"cannot decode the video of '{name}' (codec {codec})",
                                "convert it with ffmpeg first, or check the file is complete")
        self.video.thread_type = "AUTO"
        if threads:
            ctx.thread_count = threads
        self.passthrough = [s for s in kept if s.type in PASSTHROUGH_TYPES and not silent(s)]
        self.silent = [s for s in kept if silent(s)]
        self.attachments = [s for s in kept if s.type == "attachment"]  # fonts, cover images
        self.uncarried = [s for s in kept if s.type not in ("video", "attachment", *PASSTHROUGH_TYPES)]  # data
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90000)
        self.rate: Fraction = self.video.guessed_rate or self.video.average_rate or Fraction(25)
        self.upright = orientation(name, input_format, options, self.video.index)  # autorotation, as ffmpeg's
        self.width, self.height = (ctx.height, ctx.width) if self.upright[0] else (ctx.width, ctx.height)
        self.coded = (self.width, self.height)  # frames of another size are noted when scaled: the first's, upright
        sar = self.video.sample_aspect_ratio or ctx.sample_aspect_ratio  # the container's first, as ffmpeg
        self.sample_aspect_ratio = (1 / sar if self.upright[0] else sar) if sar else None  # transposed: inverse
        self.aspect = float(self.sample_aspect_ratio or 1)  # how many times as wide as high a pixel is shown
        fmt = ctx.pix_fmt or "yuv420p"
        if hwaccel and fmt == "yuv420p":
            fmt = "nv12"  # NVDEC hands 8-bit 4:2:0 back as NV12: read as it comes, no conversion
        self.format = av.VideoFormat(fmt)
        self.layout: PixelLayout = nearest_layout(self.format)
        self.luma_layout: PixelLayout | None = LAYOUTS.get(fmt)
        self.colour = Colour.of_stream(self.format, ctx.colorspace, ctx.color_range, self.height)
        self.tags = Tags.of(ctx)
        self.rgb = False
        self.start = start or 0.0  # after the file's own start, as ffmpeg's -ss counts (an MPEG-TS starts at 1.4 s)
        self.zero = (self.container.start_time or 0) / av.time_base
        self.duration = duration
        self.frames = frames
        self.delays = delays or {}  # per stream type: seconds it is moved later (earlier if negative)
        self.window = window
        self.stop = threading.Event()
        self.corrupt_packets = 0
        self.resized = 0  # frames of another size than the first, scaled to it
        self.segment = segment
        self.beyond = 0  # frames to decode after a segment's end (a stage's look-ahead)
        self.deinterlacer = None if deinterlace == "off" else Deinterlacer(deinterlace, self.time_base, self.rate)
        self.fields: Counter[str] = Counter()  # frames kept by what the deinterlacer did (DONE, WHOLE)
        self.input_rate, self.rate = self.rate, self.rate * KEPT.get(deinterlace, 1)  # ivtc: 4 of 5 kept
        step = max(1, round(1 / (self.rate * self.time_base)))  # a frame as decoded (ivtc: a film frame)
        self.retimer: Retimer | None = Retimer(rate, self.time_base, step) if rate else None
        self.pace = ReadRate(readrate) if readrate else None
        self.rate = rate or self.rate
        tagged = tag_seconds(self.video.metadata.get("DURATION", ""))  # Matroska's, of the video alone
        self.own_length = bool(self.video.duration or tagged)  # declared by the video itself, not the file
        first = float((self.video.start_time or 0) * self.time_base)
        ends = "matroska" in self.container.format.name  # its durations count from 0, as FFmpeg writes them: ends
        if self.video.duration:  # what the header says the video spans, in seconds: (from, for)
            self.declared = (first, float(self.video.duration * self.time_base))
        elif tagged:
            self.declared = (first, tagged - first * ends)
        elif self.container.duration:
            self.declared = (self.zero, self.container.duration / av.time_base - self.zero * ends)
        else:
            self.declared = None
        self.last_pts: int | None = None  # of the last video frame decoded
        self.read_to_end = False  # the demuxer ran out of packets (not stopped, not trimmed)
        if from_end is not None:
            if self.declared is None:
                self.container.close()
                raise DfstreamError(f"-sseof counts from the end of '{name}', whose length its header does not give",
                                    "give -ss instead")
            self.start = start = max(0.0, sum(self.declared) - self.zero + from_end)
        if start or (segment and segment.warm):
            try:
                seek(self.container, self.video, segment.warm if segment else int((start + self.zero) / self.time_base))
            except av.error.FFmpegError as err:
                raise DfstreamError(f"cannot seek '{name}' to {start}s: {describe_av_error(err)}",
                                    "drop -ss, or remux the input to a seekable file") from None

    def scaled_to(self, width: int, height: int) -> None:
        """Frames scaled to ``width`` x ``height`` (ffmpeg's -s), their shape on screen kept: the
        pixels' shape follows, as FFmpeg's scale filter sets it."""
        shown = Fraction(self.width, self.height) * Fraction(self.sample_aspect_ratio or 1)
        self.width, self.height = width, height
        if shown != Fraction(width, height) or self.sample_aspect_ratio:
            self.shown_as(shown)

    def shown_as(self, ratio: Fraction) -> None:
        """The picture shown ``ratio`` times as wide as high (ffmpeg's -aspect): its pixels' shape from it."""
        self.sample_aspect_ratio = (ratio * self.height / self.width).limit_denominator(65535)
        self.aspect = float(self.sample_aspect_ratio)

    def opening_notes(self) -> list[str]:
        """A note for each video stream other than the one processed ('mjpeg 32x32, cover art'),
        each data stream, the transparency of a video that has it, and each audio stream that is
        ``silent``; for a disc's folder, the files read."""
        notes = []
        if os.path.isdir(self.name) and (title := disc_title(self.name)):
            names = [os.path.basename(p) for p in title[1]]
            if title[0] == "DVD":
                notes.append(f"reading the DVD's largest title set, {names[0]}" + (f" to {names[-1]}" if len(names) > 1
                             else "") + ": for another, give its VOB files as concat:VTS_NN_1.VOB|VTS_NN_2.VOB|...")
            else:
                notes.append(f"reading the Blu-ray's largest stream file, {names[0]}: for another, give its .m2ts "
                             "(a film over several, seamless branching, is not joined)")
        for stream in self.ignored:
            ctx = stream.codec_context
            what = f"{ctx.name} {ctx.width}x{ctx.height}" if ctx else "unknown codec"
            what += ", cover art" if stream.disposition & av.stream.Disposition.attached_pic else ""
            notes.append(f"ignoring video stream #{stream.index} ({what}): dfstream processes one, "
                         f"#{self.video.index}, as ffmpeg maps one")
        for stream in self.uncarried:
            if stream.metadata.get("timecode"):  # MOV's timecode track: FFmpeg puts its timecode on the video too
                continue
            notes.append(f"ignoring {stream.type} stream #{stream.index} ({stream.name or 'unknown codec'}): dfstream "
                         "writes video, audio, subtitles and attachments")
        if any(component.is_alpha for component in self.format.components):
            notes.append(f"leaving out the transparency of '{self.name}' ({self.format.name}): dfstream writes the "
                         "picture's colour alone")
        for stream in self.silent:
            notes.append(f"ignoring audio stream #{stream.index} ({stream.codec_context.name}): no audio was found "
                         "in it to learn its rate and channels from, and no container can start a file with it")
        return notes

    @property
    def frame_step(self) -> int:
        """Nominal frame duration in stream time base units."""
        return max(1, round(1 / (self.input_rate * self.time_base)))

    def expected_frames(self) -> int | None:
        """Best guess of how many frames will come out, for progress and ETA."""
        if self.declared is None:
            return self.video.frames or None
        seconds = self.declared[1] - self.start
        if self.duration is not None:
            seconds = min(seconds, self.duration)
        return max(0, min(round(seconds * self.rate), self.frames or math.inf))

    def cut_short(self) -> str | None:
        """A note where the file ends well before the duration its header gives (over half a second
        and 5% early; audio may outlast the video by less): a download or a copy cut short."""
        if not self.read_to_end or self.last_pts is None or self.segment or self.duration is not None or self.frames:
            return None
        if self.declared is None:
            return None
        declared = sum(self.declared)
        reached = float((self.last_pts + self.frame_step) * self.time_base)
        if declared - reached <= max(0.5, 0.05 * declared):
            return None
        return (f"'{self.name}' ends at {reached:.2f} s, its header says {declared:.2f} s: the file may be "
                f"incomplete (a download or copy cut short)")

    @property
    def skipped(self) -> int:
        """Frames -ss leaves out before the first kept, at the input's rate (its timecode moves by them)."""
        return math.ceil(self.start * self.input_rate - 1e-6) if self.start else 0

    @property
    def trimmed(self) -> bool:
        """Whether -ss, -t or -frames:v cut the input: its kept part is then moved to start at 0,
        else the input's timestamps are kept."""
        return bool(self.start or self.duration is not None or self.frames)

    def items(self) -> Iterator[VideoItem | av.Packet]:
        """Decoded frames and pass-through packets in demux order, trimmed and re-timed."""
        stamps: Timestamps[av.VideoFrame] = Timestamps(self.window, self.frame_step)
        step = max(1, round(1 / (self.rate * self.time_base)))  # a frame as it comes out (ivtc: a film frame; -r)
        trim = Trim(self.start + self.zero, self.duration, self.time_base, self.frames, step) if self.trimmed else None
        reader = RGBReader(self.colour) if self.rgb else None
        try:
            for packet in demuxed(self.container, self.video, *self.passthrough):
                if self.stop.is_set():
                    return
                if packet.stream is self.video:
                    for frame in self._decode(packet):
                        if frame.pts is not None:
                            self.last_pts = max(frame.pts, self.last_pts if self.last_pts is not None else frame.pts)
                        yield from self._progressive(stamps.push(frame, frame.pts, frame.dts), trim, reader)
                elif packet.size and (packet := self.delayed(packet)):
                    yield from trim.packets(packet) if trim else (packet,)
            yield from self._progressive(stamps.flush(), trim, reader)
            if self.deinterlacer:
                for frame, pts, done in self.deinterlacer.flush():
                    yield from self._video_item(frame, pts, trim, reader, done)
            if self.retimer and not self.stop.is_set():
                yield from self._retimed(self.retimer.flush(), trim, reader)
            if trim and not trim.ended and not self.stop.is_set():
                yield from trim.rest()
            self.read_to_end = not self.stop.is_set() and not (trim and trim.ended)
        except av.error.FFmpegError as err:
            raise DfstreamError(f"reading '{self.name}' failed: {describe_av_error(err)}",
                                "check the input is complete and readable") from None

    def copied(self) -> Iterator[av.Packet]:
        """The pass-through packets alone, in demux order, moved by their delays (a join's)."""
        for packet in demuxed(self.container, *self.passthrough):
            if packet.size and (packet := self.delayed(packet)):
                yield packet

    def delayed(self, packet: av.Packet) -> av.Packet | None:
        """A pass-through packet, moved by its type's delay (``delays``); None where that puts it
        before the video's first frame (sound of before the film, on an input whose sound was late)."""
        if not (delay := self.delays.get(packet.stream.type)):
            return packet
        shift = round(delay / packet.time_base)
        film = (self.video.start_time or 0) * self.time_base
        if packet.pts is not None and (packet.pts + shift) * packet.time_base < film:
            return None
        packet.pts = None if packet.pts is None else packet.pts + shift
        packet.dts = None if packet.dts is None else packet.dts + shift
        return packet

    def _progressive(self, items, trim: Trim | None, reader: RGBReader | None) -> Iterator[VideoItem | av.Packet]:
        """``_video_item`` of each (frame, pts) in presentation order, through the deinterlacer."""
        for frame, pts in items:
            ready = self.deinterlacer.push(frame, pts) if self.deinterlacer else ((frame, pts, ""),)
            for frame, pts, done in ready:
                yield from self._video_item(frame, pts, trim, reader, done)

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.error.InvalidDataError:
            self.corrupt_packets += 1  # FFmpeg's own tools skip damaged packets too
            return []

    def _video_item(self, frame: av.VideoFrame, pts: int, trim: Trim | None, reader: RGBReader | None,
                    fields: str = "") -> Iterator[VideoItem | av.Packet]:
        segment = self.segment
        ended = segment is not None and segment.end is not None and pts >= segment.end
        if segment and (pts < segment.warm or (ended and not self.beyond)):
            if ended:
                self.stop.set()
            return
        self.beyond -= ended
        if self.retimer:
            yield from self._retimed(self.retimer.push((frame, fields), pts), trim, reader)
        else:
            yield from self._kept(frame, pts, trim, reader, fields, ended)

    def _retimed(self, ticks, trim: Trim | None, reader: RGBReader | None) -> Iterator[VideoItem | av.Packet]:
        """``_kept`` of each tick the Retimer gives."""
        for (frame, fields), pts, repeated in ticks:
            yield from self._kept(frame, pts, trim, reader, fields, repeated=repeated)

    def _kept(self, frame: av.VideoFrame, pts: int, trim: Trim | None, reader: RGBReader | None, fields: str,
              ended: bool = False, repeated: bool = False) -> Iterator[VideoItem | av.Packet]:
        """The item of a frame at ``pts`` (after -r), trimmed, turned upright, at the size written; a
        frame ``repeated`` by -r is another frame object (each written frame takes its own time)."""
        decoded = frame
        if trim:
            kept = trim.frame(pts)
            if kept is None:
                if trim.ended:
                    self.stop.set()
                return
            pts = kept
            yield from trim.released()
        self.fields[fields] += 1
        if self.upright != UPRIGHT:
            frame = turned(frame, self.upright)
        if (frame.format.name, frame.width, frame.height) != (self.format.name, self.width, self.height):
            self.resized += (frame.width, frame.height) != self.coded  # as ffmpeg scales them
            frame = frame.reformat(self.width, self.height, self.format.name, interpolation="BICUBIC")
        if repeated and frame is decoded:  # not made anew by turning or scaling: copied once, here
            frame = copied(frame)
        if self.pace:
            self.pace.wait(float(pts * self.time_base))
        segment = self.segment
        yield VideoItem(frame, pts, reader(frame) if reader else None,
                        warmup=segment is not None and pts < segment.first, beyond=ended)

    def close(self) -> None:
        self.container.close()


class Trim:
    """``-ss``/``-t`` on the video's own timeline: frames from ``start`` for ``duration`` seconds,
    at most ``frames`` of them (the window then closes at the end of the last, ``step`` long),
    re-timed so the first kept frame is at 0; pass-through packets are held until that frame is
    known, then cut to the same window and shifted by the same time (sync kept). With ``frames``
    they are also held while they lie past the frames kept so far, as the window's end is not known
    before the last frame."""

    def __init__(self, start: float, duration: float | None, time_base: Fraction, frames: int | None = None,
                 step: int = 1):
        self.time_base = time_base
        self.start_pts = round(start / time_base)
        self.length = None if duration is None else round(duration / time_base)
        self.frames, self.step, self.kept = frames, step, 0
        self.origin: int | None = None  # pts of the first kept frame
        self.reached = 0  # with ``frames``: the end of the frames kept so far, after the origin
        self.ended = False
        self._held: list[av.Packet] = []

    def frame(self, pts: int) -> int | None:
        """The output pts of a frame, or None if it is cut (``ended`` once past the window)."""
        if pts < self.start_pts:
            return None
        if self.origin is None:
            self.origin = pts
        if self.kept == self.frames or self.length is not None and pts - self.origin >= self.length:
            self.ended = True
            return None
        self.kept += 1
        self.reached = max(self.reached, pts - self.origin + self.step)
        if self.kept == self.frames:
            self.length = min(pts - self.origin + self.step, math.inf if self.length is None else self.length)
        return pts - self.origin

    def released(self) -> list[av.Packet]:
        """Held packets that fall in the window, once the first frame has fixed the origin (and, with
        ``frames``, those the frames kept have reached)."""
        held, self._held = self._held, []
        return [p for packet in held for p in self.packets(packet)]

    def rest(self) -> list[av.Packet]:
        """At the end of the input, with fewer than ``frames`` frames: the packets held, in the window."""
        self.frames = None
        return self.released() if self.origin is not None else []

    def packets(self, packet: av.Packet) -> list[av.Packet]:
        if self.origin is None:
            self._held.append(packet)
            return []
        tb = packet.time_base
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None:
            return [packet]
        origin = self.origin * self.time_base
        t = pts * tb
        if t < origin or (self.length is not None and t >= origin + self.length * self.time_base):
            return []
        if self.frames and t >= origin + self.reached * self.time_base:  # the frames may not get there
            self._held.append(packet)
            return []
        shift = round(origin / tb)
        packet.pts = None if packet.pts is None else packet.pts - shift
        packet.dts = None if packet.dts is None else packet.dts - shift
        return [packet]
