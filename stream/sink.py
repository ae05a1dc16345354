"""Output: encode video on the fly, copy audio and subtitle packets, write safely.

Files are written beside the target under a temporary name and renamed when
complete; an interrupted run keeps a playable ``NAME.partial.EXT``; a failed
run leaves nothing under the target name. ``-`` writes to standard output.
"""

from __future__ import annotations

import contextlib
import glob
import io
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from fractions import Fraction

import av
import av.logging

from .colour import LAYOUTS, UNSPECIFIED, Colour, PixelLayout, Tags
from .encoder_ranges import FULL, colour_ranges
from .errors import DfstreamError, UsageError
from .mapping import Specifier
from .palette import Palettes
from .planes import ACCURATE
from .source import NUMBERED, Source, describe_av_error, is_url
from .summary import counted
from .timecode import shifted

# Containers that can only be written front to back need fragments when not seekable.
FRAGMENTED = {"mp4", "mov", "ipod", "ismv", "3gp"}
# delay_moov: the header waits for the first fragment, so its edit list can start the video at the
# input's first timestamp despite the B-frame delay; live runs (--latency low, no B-frames) start at once
FRAGMENT_FLAGS = "frag_keyframe+delay_moov+default_base_moof"
LIVE_FRAGMENT_FLAGS = "frag_keyframe+empty_moov+default_base_moof"
PIPE_FORMATS = "nut, matroska or mpegts"
NETWORK_FORMATS = {"udp": "mpegts", "srt": "mpegts", "tcp": "mpegts", "rtp": "rtp_mpegts",
                   "rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp"}
TS_NONSTRICT = 0x20000  # AVFMT_TS_NONSTRICT: the format allows equal decode times in a stream
ENCODING_TAGS = {"DURATION", "BPS", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "_STATISTICS_WRITING_APP",
                 "_STATISTICS_WRITING_DATE_UTC", "_STATISTICS_TAGS", "ENCODER", "MAJOR_BRAND", "MINOR_VERSION",
                 "COMPATIBLE_BRANDS", "SOFTWARE"}  # SOFTWARE: AVI's writing application (ISFT)
TEXT_SUBTITLES = ("mov_text", "subrip", "webvtt", "ass")  # text encoders, in the order one is chosen
CARRIED = {"mpegts": {"aac", "aac_latm", "mp2", "mp3", "ac3", "eac3", "dts", "truehd", "opus", "dvb_subtitle",
                      "dvb_teletext"}}  # what MPEG-TS carries: PyAV's list holds only its defaults (MP2)
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}  # by count
# containers that store an encoder's negative decode times as they are, where FFmpeg would shift every
# timestamp by the B-frame delay instead; nut refuses negative presentation times (an AAC stream's
# priming samples): where there are some, FFmpeg's shift stays (``Sink.mux``)
KEEPS_NEGATIVE_TIMESTAMPS = {"mpegts", "ts", "nut"}
STILLS = {".png": "png", ".jpg": "mjpeg", ".jpeg": "mjpeg", ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff",
          ".webp": "libwebp", ".dpx": "dpx"}  # the encoder of a still, by its name, as ffmpeg picks it
RGB_ENCODERS = {"png", "apng", "tiff", "bmp", "dpx", "gif"}  # written in R'G'B' (GIF's quantized to palettes):
# the frames turned to it from Y'CbCr 4:4:4
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")  # x264's and x265's, which print their own error on any other before FFmpeg's
RGB_FORMATS = ("rgb48le", "rgb48be", "gbrp16le", "gbrp16be", "gbrp12le", "gbrp10le", "rgb24", "bgr24", "gbrp", "bgr0",
               "rgb0", "rgba", "bgra", "argb", "abgr")  # the R'G'B' ones written (theirs, -pix_fmt), deepest first
UNCOMPRESSED = {"rawvideo", "wrapped_avframe"}  # the own encoders of raw, hash and null outputs: frames as they are
PROGRAM_STREAMS = {"mpeg", "vob", "svcd", "vcd", "dvd"}  # MPEG program streams: MPEG-1/2 video, as players expect
FRAME_RATE_TIME_BASE = {"mpeg1video", "mpeg2video"}  # MPEG-1 and -2 count time in frames of a standard rate
QSCALE_ENCODERS = {"mjpeg", "mpeg4", "mpeg2video", "mpeg1video", "msmpeg4", "msmpeg4v2", "h263", "h263p", "flv",
                   "wmv1", "wmv2"}  # FFmpeg's own MPEG family, which -q:v drives
NO_NEGATIVE_PRESENTATION = {"nut"}
AUDIO_QUALITY = ("libmp3lame", "libvorbis", "aac")  # the audio encoders -q:a drives (variable bitrate)
LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: -q:a Q is a global quality of Q times it
GENERIC_BIT_RATE = 200_000  # FFmpeg's default -b:v for encoders without their own, which PyAV's add_stream leaves unset
RGB = 0  # AVCOL_SPC_RGB: the matrix of R'G'B' streams (libx264rgb's GBR, not Y'CbCr)


@dataclass
class EncoderSettings:
    """Video encoder options, named as in ffmpeg. No ``codec``: the output container's own choice
    (``for_target``), as ffmpeg picks one when no -c:v is given. ``audio_codec`` (-c:a): the encoder
    of every audio stream kept, at ``audio_bitrate`` (-b:a); None: copied packet for packet."""

    codec: str | None = None
    crf: float | None = None
    bitrate: str | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    audio_codec: str | None = None
    audio_bitrate: str | None = None
    audio_channels: int | None = None  # of re-encoded audio (-ac): the usual layout of the count, mixed down or up
    audio_rate: int | None = None  # of re-encoded audio (-ar), resampled
    movflags: str | None = None  # MP4 and MOV muxer flags, as ffmpeg's -movflags (+faststart)
    start_number: int = 1  # the first image's number in a sequence written, as ffmpeg's -start_number
    qscale: float | None = None  # fixed quantizer, as ffmpeg's -q:v (JPEG, MPEG-4 Part 2: 2 best, 31 worst)
    subtitle_codec: str | None = None  # every text subtitle stream converted to this (-c:s); None: copied
    log_level: str = "warning"  # x265's own lines on standard error: none, error, warning, info or debug
    video_tag: str | None = None  # the video stream's four-character code, as ffmpeg's -tag:v (hvc1, avc1, DX50)
    audio_quality: float | None = None  # of re-encoded audio, as ffmpeg's -q:a (MP3: 0 best, 9 worst; VBR)
    strict: str | None = None  # how strictly the encoders keep to the standards, as ffmpeg's -strict (-2: experimental)
    color_range: str | None = None  # "limited" or "full": the output's, converted to, as ffmpeg's -color_range
    colorspace: str | None = None  # the output's Y'CbCr matrix (colour.MATRICES), converted to, as ffmpeg's -colorspace

    def __post_init__(self):
        if self.codec and (named := encoder(self.codec)) and named.type == "video":
            self.codec = named.name  # ffmpeg's -c:v h264 is the encoder FFmpeg picks for it, libx264
        if self.audio_codec == "copy":
            self.audio_codec = None
        if self.subtitle_codec == "copy":
            self.subtitle_codec = None
        if self.subtitle_codec and not getattr(encoder(self.subtitle_codec), "text_sub", False):
            raise UsageError(f"'{self.subtitle_codec}' is no text subtitle encoder FFmpeg has here",
                             "pass -c:s srt, ass, mov_text, webvtt ... or copy (dfstream converts text subtitles)")
        if self.audio_codec:
            if getattr(encoder(self.audio_codec), "type", None) != "audio":
                raise UsageError(f"'{self.audio_codec}' is no audio encoder FFmpeg has here",
                                 "pass -c:a aac, libopus, flac, ... or copy")
        for given, what in ((self.audio_bitrate, "-b:a sets the bitrate"), (self.audio_quality, "-q:a sets the quality"),
                            (self.audio_channels, "-ac sets the channels"), (self.audio_rate, "-ar sets the sample rate")):
            if given is not None and not self.audio_codec:
                raise UsageError(f"{what} of re-encoded audio, and the audio is copied", "add -c:a, e.g. -c:a aac")
        if self.audio_quality is not None and self.audio_codec not in AUDIO_QUALITY:
            raise UsageError(f"-q:a sets the quality of the {', '.join(AUDIO_QUALITY)} encoders, "
                             f"not of {self.audio_codec}", "give -b:a for it")
        if self.audio_bitrate:
            parse_bitrate(self.audio_bitrate)
        if self.audio_channels and self.audio_channels not in DEFAULT_LAYOUTS:
            raise UsageError(f"-ac {self.audio_channels}: no usual layout of that many channels",
                             f"give 1 to {max(DEFAULT_LAYOUTS)} (1 mono, 2 stereo, 6 5.1)")

    def for_target(self, target: str | None, fmt: str | None = None) -> EncoderSettings:
        """These settings with the encoder ``default_codec`` picks for ``target`` where none is named."""
        return self if self.codec else replace(self, codec=default_codec(target, fmt))

    def low_latency(self) -> EncoderSettings:
        """The same settings tuned to emit each frame at once (no look-ahead, no B-frames)."""
        options = dict(self.options)
        if self.codec in ("libx264", "libx265"):
            options.setdefault("tune", "zerolatency")
        return replace(self, preset=self.preset or "veryfast", options=options)

    def even_keyframes(self) -> EncoderSettings:
        """The same settings with keyframes no sharper than the frames around them (x264's and x265's
        look-ahead tree and I/P ratio make them sharper): for segments of one film, each of which
        starts with a keyframe where a single run has none, so that the seams do not show."""
        name = {"libx264": "x264-params", "libx265": "x265-params"}.get(self.codec)
        if name is None or name in self.options or "qp" in self.options:
            return self
        tree = "mbtree" if self.codec == "libx264" else "cutree"
        return replace(self, options={**self.options, name: f"{tree}=0:ipratio=1.0"})

    def codec_options(self) -> dict[str, str]:
        opts = dict(self.options)
        if self.preset and self.codec in ("libx264", "libx265") and self.preset not in X264_PRESETS:
            raise UsageError(f"{self.codec} has no preset '{self.preset}'", f"give one of {', '.join(X264_PRESETS)}")
        if self.qscale is not None:
            if self.codec not in QSCALE_ENCODERS:
                raise UsageError(f"-q:v sets the quantizer of JPEG and MPEG encoders, not of {self.codec}",
                                 "pass -crf or -b:v for it")
            opts["qmin"] = opts["qmax"] = f"{self.qscale:g}"
        if self.preset:
            opts["preset"] = self.preset
        if self.strict:
            opts["strict"] = self.strict
        if self.crf is not None:
            opts["crf"] = f"{self.crf:g}"
        elif self.bitrate is None and "qp" not in opts and self.codec in ("libx264", "libx265"):
            opts.setdefault("crf", "18")
        if self.codec == "libx265" and "log-level" not in opts.get("x265-params", ""):
            opts["x265-params"] = ":".join(filter(None, (opts.get("x265-params"), f"log-level={self.log_level}")))
        return opts


def encoder(name: str) -> av.codec.Codec | None:
    """FFmpeg's encoder of that name here, or None."""
    try:
        return av.codec.Codec(name, "w")
    except ValueError:
        return None


def is_still(target: str | None) -> bool:
    """An image name with no sequence pattern: one still, the first frame (of -ss on)."""
    return bool(target) and os.path.splitext(target)[1].lower() in STILLS and not NUMBERED.search(target)


def is_sequence(target: str | None) -> bool:
    """An image name with FFmpeg's number pattern (frame%05d.png): one image per frame, from 1 on."""
    return bool(target) and os.path.splitext(target)[1].lower() in STILLS and bool(NUMBERED.search(target))


def numbered(pattern: str, n: int) -> str:
    """The name of image ``n`` of a sequence, as FFmpeg's image2 muxer numbers it."""
    return NUMBERED.sub(lambda match: match[0] % n, pattern)


def still_frames(target: str | None, frames: int | None) -> int | None:
    """-frames:v for ``target``: a still holds one frame; more is refused."""
    if not is_still(target):
        return frames
    if frames not in (None, 1):
        raise UsageError(f"'{target}' is one still: -frames:v {frames} asks for more frames",
                         "drop -frames:v, or write a video (.mkv)")
    return 1


def default_codec(target: str | None, fmt: str | None = None) -> str:
    """The video encoder when none is asked for, as ffmpeg picks one: a still's by its name (PNG,
    JPEG, TIFF, ...), an MPEG program stream's own (.mpg: MPEG-1, .vob: MPEG-2, which its players
    expect), frames as they are where that is the format's own (-f rawvideo, null, framemd5),
    libx264 where the output container can start a file of H.264, else the container's own (WebM:
    libvpx-vp9, Ogg: VP8)."""
    if fmt in (None, "image2") and (is_still(target) or is_sequence(target)):  # the name's, as image2 picks it
        return STILLS[os.path.splitext(target)[1].lower()]
    if not fmt and (not target or target == "-" or is_url(target)):
        return "libx264"
    fmt = container_name(target or "-", fmt)
    if fmt is None:
        return "libx264"  # an unknown format: the sink says so
    container = av.open(os.devnull, "w", format=fmt)
    if fmt in PROGRAM_STREAMS or container.default_video_codec in UNCOMPRESSED:
        own = container.default_video_codec
        container.close()
        return own
    try:  # a header to nowhere: Ogg takes an H.264 stream and refuses it only there
        stream = container.add_stream("libx264")
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
        return "libx264"
    except (ValueError, av.error.FFmpegError):  # WebM, GIF, .ogv: their own encoder, if FFmpeg has one
        try:
            return av.codec.Codec(container.default_video_codec, "w").name
        except ValueError:  # none (Ogg's Theora here): the sink's error asks for a --codec
            return "libx264"
    finally:
        try:
            container.close()
        except av.error.FFmpegError:  # a trailer some formats cannot write with no packets (MXF)
            pass


def parse_bitrate(text: str) -> int:
    """'2500k', '8M' or '800000' -> bits per second."""
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise UsageError(f"bitrate '{text}' is not a number", "write it as 2500k or 8M") from None
    if value <= 0:
        raise UsageError(f"bitrate '{text}' must be positive", "write it as 2500k or 8M")
    return value


def output_layout(settings: EncoderSettings, source: PixelLayout, processed: bool,
                  size: tuple[int, int], notes: list[str] | None = None) -> PixelLayout:
    """The encoder's pixel format: asked for, else the source's when the encoder takes it.

    Processed video is colour, so a grey source then goes out as 4:2:0 of its depth;
    4:2:0 cannot hold odd sizes, so those go out as 4:4:4 (with a note). An encoder that takes
    none of that gets the format it takes that loses least, as ffmpeg picks one: depth first (a
    note), then chroma, then range, then the smallest (ProRes from 8-bit 4:2:0: yuv422p10le).
    """
    if settings.codec == "copy":
        raise UsageError("-c:v copy: dfstream encodes the frames it writes, processed or not (--stages none)",
                         "pass a video encoder (libx264, libx265, ffv1, ...); to copy the video unchanged, "
                         "ffmpeg -c copy does it")
    try:
        codec = av.codec.Codec(settings.codec, "w")
    except Exception:
        raise UsageError(f"unknown video encoder '{settings.codec}'",
                         "pass --codec with an encoder FFmpeg has, e.g. libx264") from None
    if codec.type != "video":
        raise UsageError(f"'{settings.codec}' is not a video encoder", "pass --codec libx264")
    supported = [f.name for f in codec.video_formats or []]
    if colour_ranges(codec.name) == {FULL}:  # JPEG: Y'CbCr in full range alone (yuvj), as FFmpeg says
        supported = [f for f in supported if f.startswith("yuvj")]
    if settings.pix_fmt:
        if settings.pix_fmt not in LAYOUTS and settings.pix_fmt not in RGB_FORMATS:
            raise UsageError(f"pixel format '{settings.pix_fmt}' is not supported",
                             f"choose one of {', '.join([*LAYOUTS, *RGB_FORMATS])}")
        if supported and settings.pix_fmt not in supported:
            raise UsageError(f"{settings.codec} cannot encode {settings.pix_fmt}",
                             f"choose one of {', '.join(f for f in supported if f in LAYOUTS or f in RGB_FORMATS)}")
        return LAYOUTS["yuv444p12le" if settings.pix_fmt in RGB_FORMATS else settings.pix_fmt]  # R'G'B': as below
    depth = "" if source.bits == 8 else f"{source.bits}le"
    wanted = "yuv420p" if source.interleaved else source.name  # NV12 in, the usual planar 4:2:0 out
    if processed and source.gray:
        wanted = f"yuv420p{depth}"
    height, width = size
    odd = (width % 2 and LAYOUTS[wanted].sub_x > 1) or (height % 2 and LAYOUTS[wanted].sub_y > 1)
    if odd:
        wanted = f"yuv444p{depth}"
    like = LAYOUTS[wanted]
    if in_rgb(settings.codec, supported) and not like.gray:  # the sink turns it to the encoder's R'G'B', from 12 bits
        return LAYOUTS["yuv444p12le"]                    # so that 8-bit R'G'B' comes within a code of the frame

    def loss(layout: PixelLayout) -> tuple:  # as ffmpeg picks: depth lost, chroma lost, range, the smallest
        chroma = (0 if like.gray else 99 if layout.gray
                  else max(0, layout.sub_x - like.sub_x) + max(0, layout.sub_y - like.sub_y))
        size = layout.bits * (1 if layout.gray else 1 + 2 / (layout.sub_x * layout.sub_y))
        return max(0, source.bits - layout.bits), chroma, layout.full_range != like.full_range, size

    fits = [LAYOUTS[n] for n in supported if n in LAYOUTS and not LAYOUTS[n].interleaved
            and not (odd and LAYOUTS[n].sub_x * LAYOUTS[n].sub_y > 1) and not (LAYOUTS[n].gray and not like.gray)]
    if supported and wanted not in supported and not fits:
        raise UsageError(f"{settings.codec} takes none of the pixel formats dfstream writes",
                         "pass --codec libx264")
    best = like if not supported or wanted in supported else min(fits, key=loss)
    if notes is not None:
        if odd:
            notes.append(f"writing {best.name}: {width}x{height} is odd and 4:2:0 needs even sides")
        if loss(best)[0]:
            notes.append(f"writing {best.name}: {settings.codec} takes no {source.bits}-bit "
                         f"{wanted.removesuffix(depth)}")
        elif best.bits > like.bits or best.sub_x * best.sub_y < like.sub_x * like.sub_y:  # more than asked
            notes.append(f"writing {best.name}: {settings.codec} takes no {wanted}")
    return best


def readable_colour(settings: EncoderSettings, layout: PixelLayout, container: str | None,
                    size: tuple[int, int], colour: Colour) -> Colour:
    """The range and matrix to write ``colour`` in so that this output reads back as written.

    Full range: an encoder that declares it to FFmpeg (x264, x265, VP9, AV1) keeps it in its stream.
    Otherwise, and for a matrix other than the one players take at that height (BT.601 below 720
    lines, BT.709 from 720), one frame so tagged is encoded and muxed in memory and decoded again:
    ProRes's and MPEG-2's decoders read video range whatever the file says, NUT and AVI have no
    place for the range or the matrix, FFV1 keeps both in Matroska. What does not read back is
    written as players will take it: video range, their matrix. Where the trial cannot be made,
    the encoder's word on the range (DNxHD: video range alone) and the matrix as asked. Grey,
    R'G'B' and yuvj are written as they are."""
    codec = av.codec.Codec(settings.codec, "w")
    height, width = size
    assumed = "bt601" if height < 720 else "bt709"
    declared = colour_ranges(codec.name)
    ranged = colour.full_range and not (declared and FULL in declared)
    if container is None or not (ranged or colour.matrix != assumed) or layout.gray or layout.full_range \
            or rgb_format(settings, [f.name for f in codec.video_formats or []], layout, False):
        return colour
    for trial_height, trial_width in ((288, 352), *([size] if codec.intra_only else [])):  # CIF, quick and taken
        try:                                                        # by H.263; the real size for DV's set ones
            back = _read_back(settings, layout.name, container, trial_width, trial_height, colour)
            break
        except (ValueError, StopIteration, av.error.FFmpegError):
            continue
    else:
        return Colour(colour.matrix, colour.full_range and (not ranged or declared is None))
    full = colour.full_range and (not ranged or back.color_range == FULL)
    return Colour(colour.matrix if back.colorspace != UNSPECIFIED else assumed, full)


def _read_back(settings: EncoderSettings, pix_fmt: str, container: str, width: int, height: int,
               colour: Colour) -> av.VideoFrame:
    """One frame tagged with ``colour``, encoded with the run's settings into ``container`` in
    memory, decoded again."""
    written = io.BytesIO()
    with av.open(written, "w", format=container) as out:
        stream = out.add_stream(settings.codec, rate=25, options=settings.codec_options())
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        ctx = stream.codec_context
        ctx.color_range, ctx.colorspace = colour.avcol_range, colour.avcol_spc
        frame = av.VideoFrame(width, height, pix_fmt)
        frame.pts, frame.color_range, frame.colorspace = 0, colour.avcol_range, colour.avcol_spc
        out.mux(stream.encode(frame) + stream.encode(None))
    written.seek(0)
    with av.open(written) as back:
        return next(back.decode(video=0))


def container_name(target: str, fmt: str | None = None) -> str | None:
    """The muxer FFmpeg picks for ``target`` (or -f ``fmt``), None where it knows none; nothing is
    written until a header is, so this only asks which format the name means."""
    fmt = fmt or (NETWORK_FORMATS.get(target.split("://")[0]) if "://" in target else None)
    if not fmt and (target == "-" or is_url(target)):
        return None
    try:
        with av.open(os.devnull if fmt else target, "w", format=fmt) as named:
            return named.format.name
    except (ValueError, av.error.FFmpegError):
        return None


def in_rgb(codec: str, formats: list[str]) -> bool:
    """Whether frames go to ``codec`` in R'G'B', turned from Y'CbCr 4:4:4 by the sink: PNG, TIFF, GIF
    (quantized) and the like, and any encoder that takes R'G'B' and no colour Y'CbCr of dfstream's
    (QuickTime Animation, Cinepak)."""
    colour = [f for f in formats if f in LAYOUTS and not LAYOUTS[f].gray]
    return codec in RGB_ENCODERS or (not colour and any(f in RGB_FORMATS for f in formats))


def rgb_format(settings: EncoderSettings, formats: list[str], layout: PixelLayout, deep: bool) -> str | None:
    """The R'G'B' format frames go to the encoder in (None: Y'CbCr), turned from Y'CbCr 4:4:4 by
    the sink: the one asked for (-pix_fmt rgb24 for raw frames), else, where ``in_rgb`` and the
    ``layout`` is not grey (PNG takes grey as it is), the encoder's first in RGB_FORMATS, of 8 bits
    unless the input is ``deep`` or it takes no 8-bit one (GIF takes none: rgb24, quantized)."""
    if settings.pix_fmt in RGB_FORMATS:
        return settings.pix_fmt
    if layout.gray or not in_rgb(settings.codec, formats):
        return None
    theirs = [f for f in RGB_FORMATS if f in formats]
    eight = [f for f in theirs if av.VideoFormat(f).components[0].bits == 8]
    return ((theirs if deep else eight or theirs) or ["rgb24"])[0]


def check_target(target: str, source_name: str, overwrite: bool, original: str | None = None,
                 first: int = 1) -> None:
    """Refuse before any work: same file as the input or the --original, existing without -y,
    unwritable place."""
    if target == "-" or is_url(target):
        return
    for what, name in (("the input", source_name), ("the --original", original)):
        if name and name != "-" and not is_url(name) and os.path.exists(name) and (
                os.path.abspath(target) == os.path.abspath(name)
                or os.path.exists(target) and os.path.samefile(target, name)):
            raise DfstreamError(f"output '{target}' is {what}", "choose another output name")
    if os.path.isdir(target):
        raise DfstreamError(f"output '{target}' is a directory", "give a file name")
    if is_device(target):
        return  # /dev/null, a FIFO: nothing there to lose
    written = numbered(target, first) if is_sequence(target) else target  # a sequence: its first image
    if os.path.exists(written) and not overwrite:
        raise DfstreamError(f"output '{written}' exists", "pass -y to overwrite it")
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise DfstreamError(f"cannot write '{target}': folder '{folder}' does not exist",
                            "create it or choose another output")
    try:  # as ffmpeg opens its output before any work: a folder may look writable and not be
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise DfstreamError(f"cannot write '{target}': {err.strerror} in '{folder}'",
                            "choose a writable folder") from None


def is_device(target: str) -> bool:
    """An existing output that is not a regular file (/dev/null, a named pipe): written in place."""
    return os.path.exists(target) and not os.path.isfile(target) and not os.path.isdir(target)


def partial_name(target: str) -> str:
    stem, ext = os.path.splitext(target)
    return f"{stem}.partial{ext}"


class Sink:
    """An output container with one encoded video stream and the copied passthrough streams;
    ``copy_video``: a stream of encoded video to copy packets of instead (joining segments)."""

    def __init__(self, target: str, source: Source, settings: EncoderSettings, layout: PixelLayout | None,
                 tags: Tags | None, fmt: str | None = None, overwrite: bool = False,
                 notes: list[str] | None = None, low_latency: bool = False, copy_video: av.VideoStream | None = None,
                 metadata: dict[str, str] | None = None, stream_metadata=(), dispositions=(), input_tags: bool = True,
                 chapters: bool = True, threads: int | None = None, size_limit: int | None = None):
        self.target = target
        self.size_limit, self.written = size_limit, 0  # ffmpeg's -fs: bytes of packets after which none is written
        self.pictures = 0  # video packets written
        self.settings = settings
        self.threads = threads  # the video encoder's (-threads); None: FFmpeg's choice
        self.layout = layout
        self.tags = tags
        self.notes = notes if notes is not None else []
        self.to_file = target != "-" and not is_url(target) and not is_device(target)
        self.path = self._temporary_name(target) if self.to_file else None
        if target == "-" and not fmt:
            raise UsageError("writing to standard output needs a container format",
                             f"pass -f with {PIPE_FORMATS}")
        url = "pipe:1" if target == "-" else self.path or target
        fmt = fmt or (NETWORK_FORMATS.get(target.split("://")[0]) if "://" in target else None)
        container_options = {"flush_packets": "1"} if low_latency and not self.to_file else {}
        kind = fmt or os.path.splitext(target)[1].lstrip(".")
        if not self.to_file and kind in FRAGMENTED:
            container_options["movflags"] = LIVE_FRAGMENT_FLAGS if low_latency else FRAGMENT_FLAGS
        if kind in KEEPS_NEGATIVE_TIMESTAMPS:
            container_options["avoid_negative_ts"] = "disabled"  # no shift: start where the input starts
        if is_sequence(target):
            container_options["start_number"] = str(settings.start_number)
        elif settings.start_number != 1:
            raise UsageError(f"-start_number numbers a sequence of images, and '{target}' is none",
                             "name the output with a number pattern, f%05d.dpx, or drop -start_number")
        self._held: list[av.Packet] | None = [] if kind in NO_NEGATIVE_PRESENTATION else None
        try:
            self.container = av.open(url, "w", format=fmt, container_options=container_options)
        except ValueError as err:
            raise UsageError(f"cannot write format for '{target}': {err}",
                             "use a known extension (.mp4, .mkv, .mov, .nut, .ts) or -f FORMAT") from None
        except av.error.FFmpegError as err:
            self._remove_temporary()
            raise DfstreamError(f"cannot write '{target}': {describe_av_error(err)}",
                                "check the path, and -f for standard output or URLs") from None
        try:
            if self.container.default_video_codec in ("none", "png") and self.container.default_audio_codec != "none":
                raise UsageError(f"'{target}' is {self.container.format.long_name}, a container for sound (a cover "
                                 "picture at most), and dfstream writes video",
                                 "name a video file (.mkv, .mp4); for the sound alone: ffmpeg -i IN -vn -c:a copy OUT")
            if low_latency:
                settings = settings.low_latency()
            self._rgb: str | None = None  # the R'G'B' format frames are turned to (stills, GIF, APNG)
            self._palettes: Palettes | None = None  # GIF's, which quantize that R'G'B' frame by frame
            self.copying = copy_video is not None
            self.video = (self.container.add_stream_from_template(copy_video) if self.copying
                          else self._add_video(source, settings, low_latency))
            if settings.movflags:
                self._set_movflags(settings.movflags)
            pictures = is_still(target) or is_sequence(target)  # images: no sound, subtitles or attachments asked for
            self.streams = {s.index: out for s in source.passthrough if not pictures and (out := self._add_copy(s))}
            self._add_attachments([] if pictures else source.attachments)
            self._copy_tags(source, metadata or {}, stream_metadata, input_tags, chapters)
            self._set_dispositions(dispositions)
        except Exception:
            self.abort()
            raise
        self.frames = 0
        self._started = False  # the header written
        self._last_dts: dict[int, tuple[int, Fraction]] = {}  # per output stream: the last one muxed
        self._moved = 0  # packets whose decode time went back, moved on
        self._refused = 0  # damaged packets the muxer refused, left out

    def _set_movflags(self, given: str) -> None:
        """ffmpeg's -movflags: "+flag" adds to what a pipe needs (fragments), "flag" replaces it."""
        if self.container.format.name not in FRAGMENTED:
            raise UsageError(f"-movflags is an option of MP4 and MOV output, not of {self.container.format.name}",
                             "drop it, or write .mp4 or .mov")
        options = self.container.container_options
        options["movflags"] = options.get("movflags", "") + given if given[0] in "+-" else given
        fmt = self.container.format.name
        if err := refused(fmt, self.video, {"movflags": options["movflags"]}):  # a flag the muxer lacks
            raise UsageError(f"{fmt} refused -movflags {given}: {describe_av_error(err)}",
                             f"give flags of FFmpeg's {fmt} muxer, e.g. +faststart ('ffmpeg -h muxer={fmt}')")

    def _copy_tags(self, source: Source, metadata: dict[str, str], stream_metadata, input_tags: bool,
                   chapters: bool) -> None:
        """As ffmpeg copies them: the file's tags (title, date) and each stream's (language, title),
        unless not ``input_tags`` (-map_metadata -1), each stream's disposition (default, forced),
        and the chapters within the trimmed window, unless not ``chapters`` (-map_chapters -1); then
        the tags given, an empty one removed: the file's (-metadata) and, per (output stream
        specifier, key, value), the streams' (-metadata:s:a:0 language=eng)."""
        given = {k.lower() for k in metadata}  # Matroska's TITLE is -metadata title's
        tags = {k: v for k, v in (carried_tags(source.container.metadata, source) if input_tags else {}).items()
                if k.lower() not in given} | metadata
        self.container.metadata.update({k: v for k, v in tags.items() if v})
        outputs = {source.video.index: self.video}
        outputs |= {i: out if isinstance(out, av.stream.Stream) else out.stream for i, out in self.streams.items()}
        for stream in [source.video, *source.passthrough]:
            if stream.index in outputs:
                outputs[stream.index].metadata.update(carried_tags(stream.metadata, source) if input_tags else {})
                outputs[stream.index].disposition = stream.disposition & ~av.stream.Disposition.attached_pic
                # the video written moves, even made from cover art alone (which MP4 then refuses)
        for spec, key, value in stream_metadata:
            for stream in self._named(spec, f"-metadata:s:{spec}", "s:v, s:a:0, s:s:1"):
                for same in [k for k in stream.metadata if k.lower() == key.lower()]:  # Matroska's TITLE is title
                    stream.metadata.pop(same)
                if value:
                    stream.metadata[key] = value
        start = source.start + source.zero if source.trimmed else 0.0  # where the video's time 0 was
        ends = [t for t in (source.duration, source.frames and source.frames / source.rate) if t is not None]
        kept = trimmed_chapters(source.container.chapters(), start, min(ends, default=None)) if chapters else []
        if kept:
            self.container.set_chapters(kept)

    def _set_dispositions(self, given) -> None:
        """ffmpeg's -disposition:SPEC FLAGS per (output stream specifier, flags): 'default+forced'
        sets them, '+forced' adds, '-default' takes away, '0' clears; no SPEC: every stream."""
        for spec, flags in given:
            for stream in self._named(spec, f"-disposition:{spec}", "v, a:0, s:1"):
                stream.disposition = disposition(flags, stream.disposition)

    def _named(self, spec: str, option: str, examples: str) -> list[av.stream.Stream]:
        """The output streams an ``option``'s specifier names as written (none: every stream); one
        that names none is refused, unless it ends in '?'."""
        named = Specifier.parse(f"0:{spec}" if spec else "0", option)
        found = named.matches(list(self.container.streams))
        if not found and not named.optional:
            raise UsageError(f"{option} matches no stream of the output",
                             f"number the streams as written: {examples}, ...")
        return found

    def _add_attachments(self, attachments: list[av.stream.AttachmentStream]) -> None:
        """The input's attachments (a Matroska's fonts for its subtitles, its cover images), as ffmpeg's
        ``-map 0 -c copy`` keeps them: Matroska alone holds them (WebM drops them, others refuse them)."""
        fmt = self.container.format.name
        kept = [a for a in attachments if a.name and fmt == "matroska"]
        for a in kept:
            out = self.container.add_attachment(a.name, a.mimetype or "application/octet-stream", bytes(a.data))
            out.metadata.update({k: v for k, v in a.metadata.items() if k not in ("filename", "mimetype")})
        if dropped := [a.name or f"#{a.index}" for a in attachments if a not in kept]:
            reason = f"{fmt} cannot hold attachments; write .mkv to keep them" if fmt != "matroska" else "no file name"
            self.notes.append(f"dropping {counted(len(dropped), 'attachment')} ({', '.join(dropped)}): {reason}")

    def _converted_subtitles(self, stream: av.SubtitleStream, codec: str, target: str, supported: set[str]):
        """A text subtitle stream converted to ``target`` (-c:s), where the container holds it."""
        writer, fmt = av.codec.Codec(target, "w"), self.container.format.name
        if not av.codec.Codec(codec, "r").text_sub:
            raise UsageError(f"-c:s {target}: subtitle stream #{stream.index} ({codec}) is pictures, not text",
                             f"drop -c:s to copy it as it is, or leave it out with -map -0:{stream.index}")
        if supported and not {writer.name, writer.canonical_name} & supported:
            raise UsageError(f"{fmt} cannot hold {writer.canonical_name} subtitles (-c:s {target})",
                             f"pass a -c:s that {fmt} holds (its own: {text_subtitle_codec(self.container)}), "
                             "or write .mkv")
        return SubtitleTranscode(self.container, stream, target, self.mux)

    @staticmethod
    def _temporary_name(target: str) -> str:
        return temporary_name(target, str(os.getpid()))

    def _add_video(self, source: Source, settings: EncoderSettings, low_latency: bool) -> av.VideoStream:
        rate = source.rate if source.rate and source.rate < 1000 else Fraction(25)
        options = settings.codec_options()
        if self.tags.chroma_location != "unspecified" and (self.layout.sub_x > 1 or self.layout.sub_y > 1):
            options.setdefault("chroma_sample_location", self.tags.chroma_location)  # container and stream
        try:
            stream = self.container.add_stream(settings.codec, rate=rate, options=options)
        except (ValueError, av.error.FFmpegError) as err:
            raise UsageError(f"cannot use encoder '{settings.codec}': {err}",
                             f"pass a --codec that {self.container.format.name} holds, or another -f") from None
        stream.width, stream.height = source.width, source.height
        formats = [f.name for f in stream.codec_context.codec.video_formats or []]
        self._rgb = rgb_format(settings, formats, self.layout, source.layout.bits > 8)
        if self._rgb and formats and self._rgb not in formats:  # GIF: a palette of 256 colours for each frame
            self._palettes = Palettes(source.width, source.height, source.time_base)
        stream.pix_fmt = "pal8" if self._palettes else self._rgb or self.layout.name
        if not low_latency:
            stream.thread_type = "AUTO"  # frame threads as well as slices; --latency low keeps slices only
        if self.threads:
            stream.codec_context.thread_count = self.threads
        ctx = stream.codec_context
        ctx.time_base = 1 / Fraction(rate) if settings.codec in FRAME_RATE_TIME_BASE else source.time_base
        if settings.bitrate:
            ctx.bit_rate = parse_bitrate(settings.bitrate)
        elif (own := av.codec.CodecContext.create(settings.codec, "w").bit_rate) and own != GENERIC_BIT_RATE:
            ctx.bit_rate = own  # an encoder's own default, which PyAV drops: VC-2 refuses every frame without it
        if settings.qscale is not None:  # a fixed quantizer: the frames ask for none, so each takes qmin
            ctx.qscale = True
        if source.sample_aspect_ratio:  # anamorphic video (DVD) keeps its shape on screen
            ctx.sample_aspect_ratio = source.sample_aspect_ratio
        ctx.colorspace, ctx.color_range = (RGB, FULL) if self._rgb else (self.tags.colorspace, self.tags.color_range)
        ctx.color_primaries, ctx.color_trc = self.tags.primaries, self.tags.trc
        if settings.video_tag:
            ctx.codec_tag = settings.video_tag
        elif self.container.format.name in ("mp4", "mov") and settings.codec in ("libx265", "hevc"):
            ctx.codec_tag = "hvc1"  # as Apple's players want it
        self._open_encoder(ctx, settings.codec, options)
        if settings.video_tag and (err := refused(self.container.format.name, stream, tag=settings.video_tag)):
            raise UsageError(f"{self.container.format.name} refused -tag:v {settings.video_tag} for {settings.codec}: "
                             f"{describe_av_error(err)}", "give a tag it takes for that codec, or leave -tag:v out")
        return stream

    @staticmethod
    def _open_encoder(ctx: av.CodecContext, codec: str, options: dict[str, str]) -> None:
        """Open the encoder now, so that an option it does not have (FFmpeg leaves those over) or a
        value it refuses is an error before any work, not a setting silently ignored."""
        fix = f"check --encoder-option, --crf and --preset ('ffmpeg -h encoder={codec}' lists its options)"
        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logs:
                ctx.open()
        except (ValueError, av.error.FFmpegError) as err:
            given = f" ({', '.join(f'{k}={v}' for k, v in options.items())})" if options else ""
            said = " ".join(" ".join(line.split()) for _, _, line in logs  # FFmpeg's reason: a DV size, ...
                            if not line.startswith("ff_"))  # not its internal calls that failed with it
            raise UsageError(f"encoder '{codec}' refused its settings{given}: {said or describe_av_error(err)}",
                             fix + ", -s, or another -c:v") from None
        finally:
            av.logging.set_level(level)
        if ctx.options:
            unknown = ", ".join(f"'{k}'" for k in ctx.options)
            raise UsageError(f"encoder '{codec}' has no option {unknown}", fix)

    def _add_copy(self, stream: av.stream.Stream):
        """Copy a stream packet for packet; re-encode audio the container cannot hold, or all audio
        with an audio encoder set (-c:a)."""
        codec = stream.codec_context.codec.canonical_name if stream.codec_context else None  # mp3, not mp3float
        supported = self.container.supported_codecs | CARRIED.get(self.container.format.name, set())
        if stream.type == "audio" and codec and (target := self.settings.audio_codec):
            writer = av.codec.Codec(target, "w")
            if supported and not {writer.name, writer.canonical_name} & supported:
                fmt = self.container.format.name
                raise UsageError(f"{fmt} cannot hold {writer.canonical_name} audio (-c:a {target})",
                                 f"pass a -c:a that {fmt} holds (its own: {self.container.default_audio_codec}), "
                                 "or write .mkv")
            return AudioTranscode(self.container, stream, target, self.mux, self.settings)
        if stream.type == "subtitle" and codec and (target := self.settings.subtitle_codec):
            return self._converted_subtitles(stream, codec, target, supported)
        if codec and (not supported or codec in supported) and not refused(self.container.format.name, stream):
            return copy_of(self.container, stream)  # (an empty list: the muxer takes anything)
        what = f"{stream.type} stream #{stream.index} ({codec or 'unknown codec'})"
        fmt = self.container.format.name
        if stream.type == "audio" and codec:
            target = self.container.default_audio_codec
            if target and target != "none":
                self.notes.append(f"re-encoding {what} to {target}: {fmt} cannot hold {codec}")
                return AudioTranscode(self.container, stream, target, self.mux)
        if stream.type == "subtitle" and codec and av.codec.Codec(codec, "r").text_sub:
            target = text_subtitle_codec(self.container)
            if target:
                self.notes.append(f"converting {what} to {target}: {fmt} cannot hold {codec}")
                return SubtitleTranscode(self.container, stream, target, self.mux)
        self.notes.append(f"dropping {what}: {fmt} cannot hold it; write .mkv to keep it")
        return None

    def mux(self, packet: av.Packet) -> None:
        """Write a packet; where presentation times cannot be negative (nut), packets wait for the
        first video packet: if one among them has a negative time (an AAC stream's priming samples),
        FFmpeg shifts every stream (by the B-frame delay too), else none is shifted."""
        if self._held is None:
            self._write(packet)
            return
        self._held.append(packet)
        if packet.stream.type == "video":
            self._release()

    @property
    def full(self) -> bool:
        """Whether -fs's size is reached: no further packet is written."""
        return self.size_limit is not None and self.written >= self.size_limit

    def _release(self) -> None:
        held, self._held = self._held or [], None
        times = [float(p.pts * p.time_base) for p in held if p.pts is not None]
        if times and min(times) < 0:
            self.container.container_options["avoid_negative_ts"] = "auto"
        for packet in held:
            self._write(packet)

    def _write(self, packet: av.Packet | None = None) -> None:
        """Mux ``packet`` (None: write the trailer); a failed write of a file (a full disk, a
        folder gone) is one line. A closed pipe is left to the caller."""
        try:
            if packet is None:
                self.container.close()
            elif self.full:
                return
            else:
                self._in_order(packet)
                self.container.mux(packet)
                self.written += packet.size
                self.pictures += packet.stream.type == "video"
                self._started = True
                if packet.dts is not None:
                    self._last_dts[packet.stream.index] = (packet.dts, packet.time_base)
        except (BrokenPipeError, av.error.BrokenPipeError):
            raise
        except OSError as err:  # FFmpeg's errors included
            raise DfstreamError(f"writing '{self.target}' failed: {describe_av_error(err)}",
                                "free space on the disk, or write the output elsewhere") from None
        except av.error.FFmpegError as err:
            if self._started and packet is not None and packet.stream.type != "video":
                self._refused += 1  # a damaged copied packet its muxer or its filter refuses (AAC's ADTS header)
                return
            if self._started:
                raise
            fmt = self.container.format.name
            codecs = ", ".join(s.codec_context.name for s in self.container.streams)
            raise DfstreamError(f"{fmt} cannot start a file of {codecs}: {describe_av_error(err)}",
                                f"pass a --codec that {fmt} holds, or write .mkv") from None

    def _in_order(self, packet: av.Packet) -> None:
        """ffmpeg's mending of audio and video decode times that go back (a damaged file), which
        muxers refuse, in the output stream's time base: a packet decoded after it is shown gets
        the median of the two and the earliest allowed; one that goes back is moved to the earliest
        allowed (just after the last, or at it where the format allows equal times)."""
        last = self._last_dts.get(packet.stream.index)
        if packet.dts is None or last is None or packet.stream.type not in ("audio", "video"):
            return
        tb = packet.stream.time_base  # final once the header is written, as it is after a first packet
        if tb is None:  # PyAV held the first packets back, header unwritten: nothing to compare yet
            return
        dts, pts = (None if t is None else nearest(t * packet.time_base / tb) for t in (packet.dts, packet.pts))
        least = nearest(last[0] * last[1] / tb) + (0 if self.container.format.flags & TS_NONSTRICT else 1)
        moved = pts is not None and dts > pts
        if moved:
            pts = dts = sorted((pts, dts, least))[1]
        if dts < least:
            pts, dts, moved = max(pts, least) if pts is not None else None, least, True
        if moved:
            duration = nearest(packet.duration * packet.time_base / tb) if packet.duration else packet.duration
            packet.time_base, packet.pts, packet.dts, packet.duration = tb, pts, dts, duration
            self._moved += 1

    def write_frame(self, frame: av.VideoFrame) -> None:
        if self._rgb:  # R'G'B' (PNG, TIFF, GIF): libswscale turns the frame to it, by its tags
            frame = frame.reformat(format=self._rgb, interpolation=ACCURATE)
        self._encode(self._palettes.push(frame) if self._palettes else [frame])
        self.frames += 1

    def _encode(self, frames: list[av.VideoFrame | None]) -> None:
        for frame in frames:
            if frame is not None:
                frame.pict_type = av.video.frame.PictureType.NONE
            try:
                packets = self.video.encode(frame)
            except av.error.FFmpegError as err:  # a setting it took when opened but cannot code a frame at
                codec = self.settings.codec
                raise DfstreamError(f"encoder '{codec}' refused frame {self.frames + 1}: {describe_av_error(err)}",
                                    f"check -b:v, -s and --encoder-option ('ffmpeg -h encoder={codec}' lists its "
                                    "options), or pass another -c:v") from None
            for packet in packets:
                self.mux(packet)

    def write_video_packet(self, packet: av.Packet) -> None:
        packet.stream = self.video
        self.mux(packet)

    def write_packet(self, packet: av.Packet) -> None:
        out = self.streams.get(packet.stream.index)
        if out is None:
            return
        if isinstance(out, av.stream.Stream):
            packet.stream = out
            self.mux(packet)
        else:
            out.write(packet)

    def _close(self) -> None:
        """Flush the encoders and write the trailer."""
        if not self.copying:
            self._encode([*(self._palettes.push(None) if self._palettes else []), None])
        for out in self.streams.values():
            if isinstance(out, AudioTranscode):
                out.flush()
            if isinstance(out, Transcode) and out.damaged:
                self.notes.append(f"skipped {out.damaged} damaged packets of stream #{out.index} in re-encoding it")
        if self._refused:
            self.notes.append(f"left out {self._refused} damaged audio or subtitle packets the muxer refused")
        if self._moved:
            self.notes.append(f"moved {self._moved} packets whose decode times went back (a damaged input) "
                              "to just after the ones before, as ffmpeg does")
        self._release()
        self._write(None)

    def finish(self) -> None:
        """Complete the output and move it to its name (a sequence: each image to its own)."""
        self._close()
        if self.path and is_sequence(self.target):
            first = self.settings.start_number
            for n in range(first, first + self.frames):
                os.replace(numbered(self.path, n), numbered(self.target, n))
            if os.path.exists(after := numbered(self.target, first + self.frames)):
                self.notes.append(f"'{after}' and the images after it are an earlier run's: this sequence ends at "
                                  f"'{numbered(self.target, first + self.frames - 1)}'")
        elif self.path:
            os.replace(self.path, self.target)

    def finish_partial(self) -> str | None:
        """After an interrupt: finalise a playable file under NAME.partial.EXT, return its name."""
        try:
            self._close()
        except (OSError, av.error.FFmpegError, DfstreamError):  # a closed pipe, a full disk
            self.abort()
            return None
        if not self.path:
            return None
        if is_sequence(self.target):  # each image written is whole
            self.finish()
            return self.target
        name = partial_name(self.target)
        os.replace(self.path, name)
        return name

    def abort(self) -> None:
        """Close without caring about errors and remove the temporary file."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the stream may be broken; we only clean up
            pass
        self._remove_temporary()

    def _remove_temporary(self) -> None:
        if self.path and is_sequence(self.target):
            for name in glob.glob(NUMBERED.sub("*", glob.escape(self.path))):
                os.remove(name)
        elif self.path and os.path.exists(self.path):
            os.remove(self.path)


def temporary_name(target: str, pid: str) -> str:
    """Where a run writes ``target`` until it is complete (``pid``: the writing process, or a glob)."""
    folder, name = os.path.split(os.path.abspath(target))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.dfstream-{pid}{ext}")


def nearest(x: Fraction) -> int:
    """x rounded to the nearest integer, halves away from zero, as FFmpeg's av_rescale_q."""
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def refused(fmt: str, stream: av.stream.Stream, options: dict[str, str] | None = None,
            tag: str | None = None) -> Exception | None:
    """Why FFmpeg's ``fmt`` muxer, with ``options``, will not start a file with a copy of ``stream``
    (tagged ``tag``) (None: it will), from a header written to memory: checked before any work,
    where the real header is written only with the first packet."""
    probe = av.open(io.BytesIO(), "w", format=fmt, container_options=options or {})
    try:
        copy = copy_of(probe, stream)
        if tag:
            copy.codec_context.codec_tag = tag
        probe.start_encoding()
        return None
    except (ValueError, av.error.FFmpegError) as err:
        return err
    finally:
        with contextlib.suppress(av.error.FFmpegError):  # a trailer with no packets (+faststart's second pass)
            probe.close()


def disposition(flags: str, current: av.stream.Disposition) -> av.stream.Disposition:
    """ffmpeg's -disposition value on a stream's ``current`` flags: names joined by '+' set them,
    each after '+' or '-' added or taken away, '0' none."""
    result = av.stream.Disposition(0) if flags == "0" or flags[:1] not in "+-" else current
    for sign, name in re.findall(r"([+-]?)([^+-]+)", "" if flags == "0" else flags):
        try:
            bit = av.stream.Disposition[name]
        except KeyError:
            raise UsageError(f"-disposition {flags}: no flag '{name}'",
                             f"give {', '.join(d.name for d in av.stream.Disposition)}, or 0") from None
        result = result & ~bit if sign == "-" else result | bit
    return result


def copy_of(container: av.container.OutputContainer, stream: av.stream.Stream) -> av.stream.Stream:
    """An output stream for ``stream``'s packets; audio whose channels are in no named order (PCM
    from WAV, AVI) labelled as the usual layout of their count, which MP4 needs."""
    out = container.add_stream_from_template(stream)
    if stream.type == "audio":
        out.codec_context.layout = ordered(stream.codec_context.layout)
    return out


def ordered(layout: av.AudioLayout) -> av.AudioLayout:
    """A layout whose channels are in no named order (AVI, WAV) as ffmpeg decodes it: the usual
    layout of their count."""
    if any(c.name == "NONE" for c in layout.channels):
        return DEFAULT_LAYOUTS.get(layout.nb_channels, layout)
    return layout


def content_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags less those that describe the input's encoding or container, which would be wrong in
    the output (Matroska's statistics, durations and encoder, MP4's brands)."""
    return {k: v for k, v in tags.items() if k.split("-")[0].upper() not in ENCODING_TAGS}


def carried_tags(tags: dict[str, str], source: Source) -> dict[str, str]:
    """``content_tags``, a timecode moved on by the frames -ss leaves out (the first frame written
    keeps its own)."""
    return {k: shifted(v, source.skipped, source.input_rate) if k.lower() == "timecode" else v
            for k, v in content_tags(tags).items()}


def trimmed_chapters(chapters: list[dict], start: float, duration: float | None) -> list[dict]:
    """Chapters as ffmpeg keeps them after ``-ss start -t duration``: those that overlap the
    window, moved by ``start`` and cut to the window."""
    kept = []
    for chapter in chapters:
        tb = chapter["time_base"]
        offset = round(start / tb)
        end = chapter["end"] - offset
        limit = None if duration is None else round(duration / tb)
        if end <= 0 or (limit is not None and chapter["start"] - offset >= limit):
            continue
        kept.append(chapter | {"start": max(0, chapter["start"] - offset),
                               "end": end if limit is None else min(end, limit)})
    return kept


def text_subtitle_codec(container: av.container.OutputContainer) -> str | None:
    """The text subtitle encoder for ``container``: its default as ffmpeg's (Matroska: ASS, WebM:
    WebVTT), else the first of TEXT_SUBTITLES it holds (MP4 and MOV: mov_text), else None."""
    default = container.default_subtitle_codec
    if default in TEXT_SUBTITLES:
        return default
    return next((c for c in TEXT_SUBTITLES if c in container.supported_codecs), None)


class Transcode:
    """What the audio and subtitle re-encoders share: the input stream's decoder, whose damaged
    packets are skipped and counted, as ffmpeg skips them."""

    def __init__(self, stream: av.stream.Stream, mux):
        self.mux = mux
        self.decoder = stream.codec_context
        self.index = stream.index
        self.damaged = 0

    def _decoded(self, decode, packet: av.Packet):
        try:
            return decode(packet)
        except av.error.FFmpegError:  # AAC's decoder gives EPERM and others besides INVALIDDATA
            self.damaged += 1
            return None


class SubtitleTranscode(Transcode):
    """Decode a text subtitle stream and encode it with a text codec the container holds, each
    subtitle at its packet's time (SubRip in Matroska to mov_text in MP4, and back)."""

    def __init__(self, container: av.container.OutputContainer, stream: av.SubtitleStream, codec: str, mux):
        super().__init__(stream, mux)
        self.decoder.open(strict=False)  # it makes the ASS header that text encoders start from
        self.stream = container.add_stream(codec)
        self.stream.codec_context.subtitle_header = self.decoder.subtitle_header
        self.stream.time_base = stream.time_base

    def write(self, packet: av.Packet) -> None:
        subtitle = self._decoded(self.decoder.decode2, packet)
        if subtitle is None:  # an empty sample (mov_text's gaps), or a damaged one
            return
        out = self.stream.codec_context.encode_subtitle(subtitle)
        out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
        out.stream = self.stream
        self.mux(out)


class AudioTranscode(Transcode):
    """Decode an audio stream and encode it with a codec the container holds."""

    def __init__(self, container: av.container.OutputContainer, stream: av.AudioStream, codec: str, mux,
                 settings: EncoderSettings | None = None):
        """``settings``: -b:a, -ac and -ar, where given."""
        super().__init__(stream, mux)
        asked = settings or EncoderSettings()
        rate, rates = asked.audio_rate or stream.codec_context.sample_rate, av.codec.Codec(codec, "w").audio_rates
        if rates and rate not in rates:
            if asked.audio_rate:
                raise UsageError(f"-ar {rate}: {codec} takes {', '.join(map(str, rates))} Hz", "pass one of them")
            rate = min(rates, key=lambda r: abs(r - rate))  # as ffmpeg resamples: to the nearest the encoder takes
        self.stream = container.add_stream(codec, rate=rate, options={"strict": asked.strict} if asked.strict else {})
        channels = asked.audio_channels
        self.stream.layout = DEFAULT_LAYOUTS[channels] if channels else ordered(stream.codec_context.layout)
        if asked.audio_bitrate:
            self.stream.bit_rate = parse_bitrate(asked.audio_bitrate)
        if asked.audio_quality is not None:  # as ffmpeg's -q:a: a fixed quality, the rate as it comes
            self.stream.codec_context.qscale = True
            self.stream.codec_context.global_quality = round(asked.audio_quality * LAMBDA)
        self.resampler = None

    def write(self, packet: av.Packet) -> None:
        for frame in self._decoded(self.decoder.decode, packet) or ():
            self._encode(frame)

    def _encode(self, frame) -> None:
        if self.resampler is None:
            fmt = self.stream.codec_context.codec.audio_formats[0].name
            self.resampler = av.AudioResampler(format=fmt, layout=self.stream.layout,
                                               rate=self.stream.rate,
                                               frame_size=self.stream.codec_context.frame_size or None)
        for out in self.resampler.resample(frame):
            for packet in self.stream.encode(out):
                self.mux(packet)

    def flush(self) -> None:
        for frame in self.decoder.decode(None):
            self._encode(frame)
        if self.resampler is not None:
            for out in self.resampler.resample(None):
                for packet in self.stream.encode(out):
                    self.mux(packet)
        for packet in self.stream.encode(None):
            self.mux(packet)
