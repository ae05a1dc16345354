"""The ``dfstream`` command: ``dfstream run IN OUT``, ``dfstream IN OUT`` and ``dfstream info``."""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
from fractions import Fraction

from dfstream.engines.registry import BACKENDS, STRENGTH

from .errors import DfstreamError, UsageError
from .progress import MODES
from .timecode import timecode
from .train import add_parsers as add_training_parsers

COMMANDS = ("run", "batch", "info", "eval", "demo", "models", "bench", "export", "data", "train")


ENGINE_FLAGS = {"colorize": "--colorizer", "stabilize": "--stabilizer", "cartoonize": "--cartoonizer"}
LISTED = "the stage's engines"  # stands for the list the Formatter makes


class Formatter(argparse.HelpFormatter):
    """Lists the engines only when help is printed: listing them loads them, and torch."""

    def _get_help_string(self, action):
        if action.help is LISTED:
            from dfstream.engines import engines

            return f"{action.dest} engine: {', '.join(engines(action.dest))} (default auto: the best installed)"
        return action.help


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, formatter_class=Formatter, **kwargs)

    def error(self, message: str):
        unknown = message.removeprefix("unrecognized arguments: ").split()
        if message.startswith("unrecognized arguments: ") and unknown[0].startswith("-"):  # an ffmpeg option it lacks
            raise UsageError(f"dfstream has no option {unknown[0]}", f"see '{self.prog} --help' for those it has")
        raise UsageError(message, f"see '{self.prog} --help'")

    def _get_option_tuples(self, option_string: str):
        """ffmpeg's options are whole words: -tune is not -t une, -ac not an abbreviation of -acodec
        (argparse reads single-dash words both ways; --long ones may still be abbreviated)."""
        if option_string[:1] == "-" and option_string[1:2] != "-":
            return []
        return super()._get_option_tuples(option_string)


TIME = re.compile(r"(-?)(?:(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)|(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?)")
UNITS = {None: 1, "s": 1, "ms": 1e-3, "us": 1e-6}
LOG_LEVELS = {"quiet": -8, "panic": 0, "fatal": 8, "error": 16, "warning": 24, "info": 32, "verbose": 40,
              "debug": 48, "trace": 56}
WARNING, INFO = LOG_LEVELS["warning"], LOG_LEVELS["info"]


def parse_time(text: str) -> float:
    """Seconds in ffmpeg's time duration syntax: '12.5', '1500ms', 'MM:SS' or 'HH:MM:SS.ms'."""
    match = TIME.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a time (use 12.5, 1500ms or 00:01:02.5)")
    sign, hours, minutes, seconds, plain, unit = match.groups()
    if sign:
        raise argparse.ArgumentTypeError(f"time '{text}' is negative")
    if plain is not None:
        return float(plain) * UNITS[unit]
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def before_end(text: str) -> float:
    """ffmpeg's -sseof: a time before the end, negative (-30, -00:01:00) or 0, as seconds (0 or less)."""
    if text.startswith("-"):
        return -parse_time(text[1:])
    if parse_time(text) != 0:
        raise argparse.ArgumentTypeError(f"-sseof '{text}' lies after the end: give a negative time, -30 for the last 30 s")
    return 0.0


def mapped(text: str) -> bool:
    """ffmpeg's -map_metadata and -map_chapters for one input: 0 copies (True), -1 does not."""
    if text not in ("0", "-1"):
        raise argparse.ArgumentTypeError(f"'{text}' names no input: dfstream reads one (0), or -1 for none")
    return text == "0"


def log_level(text: str) -> int:
    """ffmpeg's -loglevel: a name (quiet, error, warning, info, ...) or its number."""
    if text in LOG_LEVELS:
        return LOG_LEVELS[text]
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a log level ({', '.join(LOG_LEVELS)})") from None


def encoder_logs(level: int) -> str:
    """The encoders that print to standard error themselves, set to ffmpeg's -loglevel ``level``:
    x265's log-level, returned for its x265-params, and SVT-AV1's (read once per process from
    SVT_LOG, set here unless given). At info their banners and statistics stay quiet: the summary
    says what matters; verbose shows them."""
    names = ((LOG_LEVELS["error"], "none", "-1"), (WARNING, "error", "1"), (LOG_LEVELS["verbose"], "warning", "2"),
             (LOG_LEVELS["debug"], "info", "3"))
    x265, svt = next(((x, s) for limit, x, s in names if level < limit), ("debug", "4"))
    os.environ.setdefault("SVT_LOG", svt)
    return x265


def talk(args, level: int = INFO):
    """A printer to standard error for lines of an ffmpeg log level (notes at WARNING; progress and
    summaries at INFO), silent under -q or a lower -loglevel."""
    if args.quiet or args.loglevel < level:
        return lambda line: None
    return lambda line: print(line, file=sys.stderr)


COLOR_RANGES = {"tv": "limited", "mpeg": "limited", "limited": "limited", "pc": "full", "jpeg": "full", "full": "full"}
COLOR_SPACES = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt601": "bt601", "bt2020nc": "bt2020",
                "bt2020_ncl": "bt2020", "fcc": "fcc", "smpte240m": "smpte240m"}  # ffmpeg's names: dfstream's


def choice(names: dict[str, str]):
    """An argument type that takes ffmpeg's names for a setting and gives dfstream's."""
    def named(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"'{text}' is none of {', '.join(names)}")
        return names[text]
    return named


def spec_flags(text: str) -> tuple[str, str]:
    """'a:1=default' -> ('a:1', 'default'): a stream specifier (none: every stream) and flags."""
    spec, _, flags = text.partition("=")
    if not flags:
        raise argparse.ArgumentTypeError(f"'{text}' gives no flags: write -disposition:a:1 default")
    return spec, flags


SIZE_UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "ki": 2**10, "Ki": 2**10, "Mi": 2**20,
              "Gi": 2**30}  # as ffmpeg reads sizes


def byte_size(text: str) -> int:
    """A size in bytes as ffmpeg reads -fs: 10M, 700000k, 1Gi."""
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)([kKMG]i?)?", text.strip())
    size = int(float(match[1]) * SIZE_UNITS[match[2] or ""]) if match else 0
    if size <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size: write 10M, 700000k or 1Gi")
    return size


def four_characters(text: str) -> str:
    """A four-character code (-tag:v hvc1)."""
    if len(text) != 4 or not text.isascii():
        raise argparse.ArgumentTypeError(f"'{text}' is no four-character code (hvc1, avc1, DX50)")
    return text


def parse_ratio(text: str) -> Fraction:
    """A picture's shape as ffmpeg's -aspect takes it: '16:9', '2.35:1' or '1.85'."""
    try:
        width, _, height = text.partition(":")
        ratio = Fraction(width) / Fraction(height or 1)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"'{text}' is not an aspect ratio (use 16:9 or 1.85)") from None
    if ratio <= 0:
        raise argparse.ArgumentTypeError(f"aspect ratio '{text}' must be positive")
    return ratio


SIZES = {"ntsc": (720, 480), "pal": (720, 576), "qvga": (320, 240), "vga": (640, 480), "svga": (800, 600),
         "xga": (1024, 768), "hd480": (852, 480), "hd720": (1280, 720), "hd1080": (1920, 1080),
         "2k": (2048, 1080), "4k": (4096, 2160), "uhd2160": (3840, 2160)}  # FFmpeg's names of sizes


def frame_size(text: str) -> tuple[int, int]:
    """A picture's size as ffmpeg's -s takes it: '640x360' or a name of FFmpeg's (hd720, vga, ...)."""
    if text in SIZES:
        return SIZES[text]
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match or min(map(int, match.groups())) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a frame size (use 640x360, or {', '.join(SIZES)})")
    return int(match[1]), int(match[2])


def frame_rate(text: str) -> str:
    """A frame rate as FFmpeg takes it, '24', '23.976' or '24000/1001', checked."""
    try:
        valid = Fraction(text) > 0
    except (ValueError, ZeroDivisionError):
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"'{text}' is not a frame rate (use 24, 23.976 or 24000/1001)")
    return text


def parse_duration(text: str) -> float:
    """``parse_time``, more than 0: a window with no time holds no frame."""
    seconds = parse_time(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration '{text}' holds no time: give more than 0")
    return seconds


def _number(cast, what: str, valid, rule: str):
    """An argparse type: ``cast`` the text, then check ``valid``; errors name the rule."""

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"'{text}' must be {rule}")
        return value

    return parse


positive_int = _number(int, "a whole number", lambda v: v >= 1, "1 or more")
whole = _number(int, "a whole number", lambda v: v >= 0, "0 or more")
positive_float = _number(float, "a number", lambda v: 0 < v < math.inf, "above 0")
fraction = _number(float, "a number", lambda v: 0 <= v < 1, "at least 0 and below 1")
unit_range = _number(float, "a number", lambda v: 0 <= v <= 1, "from 0 to 1")
seconds = _number(float, "a number of seconds", math.isfinite, "finite")
quality = _number(float, "a number", lambda v: 0 <= v < math.inf, "0 or more")


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    return key, value


def _engine_arguments(parser) -> argparse._ArgumentGroup:
    """Engine choices and settings, shared by run and bench."""
    eng = parser.add_argument_group("engines")
    for stage, flag in ENGINE_FLAGS.items():
        eng.add_argument(flag, dest=stage, default="auto", metavar="NAME[:VARIANT]", help=LISTED)
    eng.add_argument("--reference", action="append", default=[], metavar="IMAGE",
                     help="colour still(s) for the reference colorizer (repeatable: a still of each scene, "
                          "or keyframes of a shot; each scene takes its colours from the stills it matches)")
    eng.add_argument("--strength", type=fraction, default=STRENGTH,
                     help="stabilizer strength: weight of the previous output where the flow is trusted, "
                          f"0-0.99 (default {STRENGTH}); lowered where the flicker is large")
    eng.add_argument("--render-factor", type=positive_int, metavar="R",
                     help="DeOldify: the network sees a 16*R pixel square (default 21 video, 35 stable/artistic)")
    eng.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                     help="network precision (default auto: fp32 on CPU, fp16 on CUDA)")
    eng.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="how networks run (default auto: the fastest that works here)")
    return eng


def _engine_options(args):
    from dfstream.engines import EngineOptions

    return EngineOptions(args.reference, args.strength, precision=args.precision,
                         render_factor=args.render_factor, backend=args.backend)


def _stream_arguments(parser) -> None:
    """Which streams of the input are kept, shared by run, batch and info."""
    parser.add_argument("-map", dest="maps", action="append", default=[], metavar="SPEC",
                        help="keep these streams, in this order, as ffmpeg's -map: 0:a:1, 0:m:language:eng, "
                             "-0:s (leave out), 0:s? (may match none); repeatable (default: every stream)")
    parser.add_argument("-an", dest="audio", action="store_false", help="no audio, as ffmpeg's -an")
    parser.add_argument("-sn", dest="subtitles", action="store_false", help="no subtitles, as ffmpeg's -sn")


def _input_arguments(parser) -> None:
    """How the input is read, shared by run, batch and info."""
    parser.add_argument("--input-format", help="input format or device (v4l2, lavfi, ...)")
    parser.add_argument("--input-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="demuxer/protocol option, e.g. framerate=30 (repeatable)")
    parser.add_argument("-framerate", type=frame_rate, metavar="RATE",
                        help="frames per second of images read as a video (default 25), as ffmpeg's -framerate; "
                             "short for --input-option framerate=RATE")


def input_options(args) -> dict[str, str]:
    """--input-option and -framerate, as the demuxer's options."""
    return dict(args.input_option) | ({"framerate": args.framerate} if args.framerate else {})


def _run_arguments(parser) -> None:
    """Everything that shapes a run, shared by run and batch."""
    exists = parser.add_mutually_exclusive_group()
    exists.add_argument("-y", "--overwrite", action="store_true", help="overwrite an existing output")
    exists.add_argument("-n", dest="overwrite", action="store_false",
                        help="never overwrite, as ffmpeg's -n: an existing output is an error (the default)")
    parser.add_argument("-f", "--format", help="output container (matroska, nut, mpegts, mp4, ...)")
    _input_arguments(parser)
    parser.add_argument("--hwaccel", metavar="DEVICE",
                        help="decode on a device like ffmpeg's -hwaccel (cuda: NVDEC), falling back to software "
                             "for codecs it lacks")
    begin = parser.add_mutually_exclusive_group()
    begin.add_argument("-ss", "--start", type=parse_time, help="start at this time (12.5, 1500ms, MM:SS or HH:MM:SS.ms)")
    begin.add_argument("-sseof", dest="from_end", type=before_end, metavar="-TIME",
                       help="start this long before the input's end, as ffmpeg's -sseof: -30 keeps the last 30 s")
    until = parser.add_mutually_exclusive_group()
    until.add_argument("-t", "--duration", type=parse_duration, help="stop after this much input time")
    until.add_argument("-to", "--to", type=parse_time, metavar="END",
                       help="stop at this time of the input, as ffmpeg's -to before -i")
    parser.add_argument("-frames:v", "-vframes", "--frames", dest="frames", type=positive_int, metavar="N",
                        help="stop after N video frames, as ffmpeg's -frames:v")
    _stream_arguments(parser)
    parser.add_argument("--audio-delay", type=seconds, default=0.0, metavar="SECONDS",
                        help="move the audio this much later (negative: earlier) to bring it in sync with the "
                             "picture, as ffmpeg's -itsoffset on a second input does")
    parser.add_argument("--subtitle-delay", type=seconds, default=0.0, metavar="SECONDS",
                        help="the same for the subtitles")
    parser.add_argument("-r", dest="rate", type=frame_rate, metavar="RATE",
                        help="frames per second written, as ffmpeg's -r on its output: 24, 25, 30000/1001; frames "
                             "are dropped or repeated to that constant rate, as FFmpeg's fps filter does")
    parser.add_argument("-s", dest="size", type=frame_size, metavar="WxH",
                        help="the size written, as ffmpeg's -s: 1280x720 or hd720 (the frames scaled as they are "
                             "read, and processed at it); the picture's shape on screen is kept, its pixels' follows")
    parser.add_argument("-aspect", type=parse_ratio, metavar="RATIO",
                        help="the picture's shape as shown, as ffmpeg's -aspect: 4:3, 16:9, 1.85 (a film "
                             "whose file says another); the pixels' shape follows")
    parser.add_argument("-metadata", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="set a tag of the output file, as ffmpeg's: title=..., comment=...; KEY= removes it "
                             "(repeatable); -metadata:s:a:0 KEY=VALUE one of its streams' (s:v, s:a, s:s:1, ...)")
    parser.add_argument("-timecode", type=timecode, metavar="HH:MM:SS:FF",
                        help="the first frame's timecode, as ffmpeg's (';' before the frames: drop-frame); by default "
                             "the input's, moved on by the frames -ss leaves out")
    parser.add_argument("--stream-metadata", nargs=2, action="append", default=[], metavar=("SPEC", "KEY=VALUE"),
                        help=argparse.SUPPRESS)  # -metadata:s:SPEC KEY=VALUE, as ``attached`` rewrites it
    parser.add_argument("--disposition", type=spec_flags, action="append", default=[], metavar="SPEC=FLAGS",
                        help="a stream's disposition, as ffmpeg's -disposition:SPEC FLAGS: -disposition:a:1 default, "
                             "-disposition:s:0 +forced (added), -default (taken away), 0 (none); without SPEC, "
                             "every stream's (repeatable)")
    parser.add_argument("-map_metadata", dest="input_tags", type=mapped, default=True, metavar="0|-1",
                        help="-1: none of the input's tags, the file's and its streams' (language, title), as "
                             "ffmpeg's; 0: all (the default)")
    parser.add_argument("-map_chapters", dest="chapters", type=mapped, default=True, metavar="0|-1",
                        help="-1: no chapters, as ffmpeg's; 0: the input's (the default)")
    parser.add_argument("--stages", default="colorize,stabilize",
                        help="comma-separated chain of colorize, stabilize, cartoonize, gray "
                             "(default colorize,stabilize); none = passthrough")
    eng = _engine_arguments(parser)
    eng.add_argument("--original", metavar="VIDEO",
                     help="the unprocessed video IN was made from: flow and scene cuts come from it")
    enc = parser.add_argument_group("encoder")
    enc.add_argument("--codec", "-c:v", "-vcodec", help="video encoder (default libx264, or the container's own "
                                                         "where it holds no H.264: WebM libvpx-vp9)")
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument("--crf", "-crf", type=quality, help="constant quality (x264/x265; default 18; 17.5 works too)")
    rate.add_argument("--bitrate", "-b:v", help="target bitrate, e.g. 2500k or 8M")
    rate.add_argument("-q:v", "-qscale:v", dest="qscale", type=quality, metavar="Q",
                      help="fixed quantizer, as ffmpeg's -q:v, for encoders that take one (JPEG, MPEG-4 Part 2, "
                           "MPEG-2): 2 best, 31 worst")
    enc.add_argument("--preset", "-preset", help="encoder preset (ultrafast ... veryslow)")
    enc.add_argument("--pix-fmt", "-pix_fmt",
                     help="output pixel format (default: the input's, if the encoder takes it); R'G'B' ones too "
                          "where it takes them: -f rawvideo -pix_fmt rgb24 - hands a program raw frames")
    enc.add_argument("--audio-codec", "-c:a", "-acodec", metavar="CODEC",
                     help="re-encode every audio stream with this encoder (aac, libopus, flac, ...); default copy: "
                          "packet for packet, re-encoded only where the container cannot hold it")
    audio_rate = enc.add_mutually_exclusive_group()
    audio_rate.add_argument("--audio-bitrate", "-b:a", "-ab", metavar="BITRATE",
                            help="bitrate of re-encoded audio, e.g. 192k")
    audio_rate.add_argument("-q:a", "-qscale:a", "-aq", dest="audio_quality", type=float, metavar="Q",
                            help="quality of re-encoded audio, as ffmpeg's -q:a, for libmp3lame (0 best, 9 worst), "
                                 "libvorbis (-1 to 10) and aac (0.1 to 2): a variable bitrate")
    enc.add_argument("-strict", metavar="LEVEL", help="how strictly the encoders keep to the standards, as ffmpeg's "
                                                      "-strict: -2 or experimental lets experimental ones run")
    enc.add_argument("--audio-channels", "-ac", type=positive_int, metavar="N",
                     help="channels of re-encoded audio, mixed down or up, as ffmpeg's -ac: 1 mono, 2 stereo, 6 5.1")
    enc.add_argument("--audio-rate", "-ar", type=positive_int, metavar="HZ",
                     help="sample rate of re-encoded audio, resampled, as ffmpeg's -ar")
    enc.add_argument("-c:s", "-scodec", dest="subtitle_codec", metavar="CODEC",
                     help="convert every text subtitle stream with this encoder, as ffmpeg's -c:s: srt, ass, "
                          "mov_text, webvtt; default copy (converted only where the container cannot hold them)")
    enc.add_argument("--encoder-option", type=key_value, action="append", default=[],
                     metavar="KEY=VALUE", help="any encoder option, e.g. qp=0 or tune=film (repeatable); ffmpeg's "
                                               f"{', '.join(ENCODER_OPTIONS)} VALUE are taken as such too")
    for flag, key in ENCODER_OPTIONS.items():
        enc.add_argument(flag, dest="encoder_option", action="append", type=lambda v, k=key: (k, v),
                         help=argparse.SUPPRESS)
    enc.add_argument("-start_number", type=whole, default=1, metavar="N",
                     help="the first image's number in a sequence written (f%%05d.dpx), as ffmpeg's; default 1 "
                          "(before -i: the first read)")
    enc.add_argument("-tag:v", "-vtag", dest="video_tag", type=four_characters, metavar="TAG",
                     help="the video stream's four-character code, as ffmpeg's -tag:v: hvc1 (H.265 in MP4 for Apple's "
                          "players, the default there), hev1, avc1, DX50")
    enc.add_argument("-color_range", type=choice(COLOR_RANGES), metavar="RANGE",
                     help="the output's range, as ffmpeg's -color_range: tv (video range, 16-235) or pc (full); "
                          "converted to, and tagged")
    enc.add_argument("-colorspace", type=choice(COLOR_SPACES), metavar="MATRIX",
                     help="the output's Y'CbCr matrix, as ffmpeg's -colorspace: bt709, bt470bg or smpte170m "
                          "(BT.601), bt2020nc, fcc, smpte240m; converted to, and tagged")
    enc.add_argument("-fs", dest="size_limit", type=byte_size, metavar="SIZE",
                     help="stop once the output holds this many bytes, as ffmpeg's -fs: 10M, 700000k, 1Gi "
                          "(k, M, G: powers of 1000; Ki, Mi, Gi: of 1024)")
    enc.add_argument("-movflags", metavar="FLAGS", help="MP4 and MOV muxer flags, as ffmpeg's: +faststart puts the "
                                                        "index first, so that a web player starts before the file is in")
    work = parser.add_argument_group("processing")
    work.add_argument("--batch", type=positive_int, default=8, help="frames per batch (default 8)")
    work.add_argument("--max-height", type=positive_int, help="process at most this height, output at source size")
    work.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    work.add_argument("-threads", type=positive_int, metavar="N",
                      help="threads of the decoder and the encoder, as ffmpeg's -threads, and of the stages on "
                           "the CPU (torch, OpenCV); default: the cores, torch's fitted to those other programs "
                           "leave free")
    work.add_argument("--deinterlace", choices=("auto", "off", "ivtc"), default="auto",
                      help="auto: interlaced frames (marked so, and found so by FFmpeg's idet) made "
                           "progressive with FFmpeg's bwdif (default); "
                           "off: processed as decoded, fields and all; ivtc: film telecined to 29.97 fps "
                           "(3:2 pulldown) brought back to 23.976 (fieldmatch, decimate)")
    work.add_argument("--scene-threshold", type=unit_range, default=0.12,
                      help="luma change that counts as a scene cut (0-1, default 0.12)")
    parser.add_argument("--progress", choices=MODES, default="auto",
                        help="bar on a terminal, plain lines otherwise; json for programs")
    parser.add_argument("-progress", dest="progress_url", metavar="URL",
                        help="ffmpeg's progress report, key=value blocks every half second (frame, fps, out_time, "
                             "speed, progress=continue, then end), to pipe:1, pipe:2 or a file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary and no notes")
    parser.add_argument("-loglevel", "-v", dest="loglevel", type=log_level, default=INFO, metavar="LEVEL",
                        help="as ffmpeg's: error (or quiet) prints errors alone, warning the notes too, info (the "
                             "default) the progress and summary too")
    parser.add_argument("-nostats", dest="progress", action="store_const", const="none",
                        help="no progress line, as ffmpeg's")
    parser.add_argument("-hide_banner", "-nostdin", "-dn", "-stats", action="store_true",
                        help="taken as ffmpeg takes them, to no effect: dfstream prints no banner, reads "
                             "standard input only for an input named -, writes no data streams, and shows its "
                             "progress unless told not to")
    live = parser.add_argument_group("live")
    live.add_argument("--realtime", action="store_true",
                      help="keep up with the source's clock: lower the work size, then drop frames")
    pace = live.add_mutually_exclusive_group()
    pace.add_argument("-re", dest="readrate", action="store_const", const=1.0,
                      help="read the input at its own pace, as ffmpeg's -re: a file streamed as a live source")
    pace.add_argument("-readrate", type=positive_float, metavar="SPEED",
                      help="read the input at SPEED times its own pace, as ffmpeg's -readrate")
    live.add_argument("--latency", choices=("normal", "low"), default="normal",
                      help="low: no input buffering, zero-latency encoder, packets flushed at once")
    live.add_argument("--preview", nargs="?", const="output", choices=("output", "split"),
                      help="show the output in a window (split: input and output side by side); "
                           "keys: space pause, s split, q quit")


def build_parser() -> Parser:
    parser = Parser(prog="dfstream", description="Streaming video filter: colorize, stabilize, "
                    "cartoonize. 'dfstream IN OUT' is short for 'dfstream run IN OUT'.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    run = parser.run = sub.add_parser("run", help="stream a video through the stages")
    run.add_argument("input", help="file, URL, device, or - for standard input (or as ffmpeg: -i IN)")
    run.add_argument("output", nargs="?",
                     help="file (container from the extension), URL (udp://, srt://, rtmp://), or - for "
                          "standard output; may be left out with --preview")
    _run_arguments(run)
    scale = run.add_argument_group("scale-out (Ray: pip install 'dfstream[ray]')")
    scale.add_argument("--workers", type=positive_int, metavar="N",
                       help="cut the film into N segments at keyframes and process them on Ray workers at once, "
                            "joined by stream copy (.mkv output)")
    scale.add_argument("--ray", metavar="ADDRESS", help="run the segments on an existing Ray cluster "
                       "(default: RAY_ADDRESS, else a local instance); segments: --workers, else the cores here")
    run.set_defaults(func=cmd_run)

    lib = sub.add_parser("batch", help="a library of films, one task per file, on Ray (dfstream[ray])")
    lib.add_argument("inputs", nargs="+", help="files, folders, globs or a .txt list of paths")
    lib.add_argument("-o", "--output-dir", required=True, help="folder for the outputs (same names)")
    lib.add_argument("--ext", default="mkv", help="output container extension (default mkv: keeps every stream)")
    lib.add_argument("--ray", metavar="ADDRESS", help="an existing Ray cluster (default: RAY_ADDRESS, else a "
                     "local instance that dfstream starts)")
    lib.add_argument("--workers", type=positive_int, help="tasks at once on the local instance (default: the cores)")
    _run_arguments(lib)
    lib.set_defaults(func=cmd_batch)

    info = sub.add_parser("info", help="devices, backends, stages and versions; with IN, what a run does with "
                                       "each of its streams")
    info.add_argument("input", nargs="?", help="a video: its streams, and which a run processes, keeps or leaves")
    _input_arguments(info)
    _stream_arguments(info)
    info.set_defaults(func=cmd_info)

    ev = sub.add_parser("eval", help="warping error, fidelity and colourfulness of a video")
    ev.add_argument("video", help="the video to measure (file or folder of frames)")
    ev.add_argument("--original", help="the unprocessed input: flow is taken on it (Lai et al.)")
    ev.add_argument("--processed", help="the video before stabilization: fidelity (PSNR) to it")
    ev.add_argument("--against", metavar="GROUND_TRUTH", help="true colour frames: PSNR to them")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.set_defaults(func=cmd_eval)

    demo = sub.add_parser("demo", help="colorize and stabilize a generated clip, no files needed")
    demo.add_argument("folder", nargs="?", default="dfstream-demo", help="where to write (default dfstream-demo)")
    demo.add_argument("--seconds", type=positive_float, default=4.0, help="clip length (default 4)")
    demo.add_argument("--size", default="640x360", help="clip size (default 640x360)")
    demo.set_defaults(func=cmd_demo)
    bench = sub.add_parser("bench", help="throughput of each stage and the whole chain on this machine")
    bench.add_argument("--stages", default="colorize,stabilize", help="the chain to measure (default colorize,stabilize)")
    _engine_arguments(bench)
    bench.add_argument("--sizes", default="360p,720p", help="comma-separated: 360p, 480p, 720p, 1080p (default 360p,720p)")
    bench.add_argument("--frames", type=positive_int, default=24, help="measured frames per row (default 24)")
    bench.add_argument("--warmup", type=int, default=2, help="batches run first and not counted (default 2)")
    bench.add_argument("--batch", type=positive_int, default=4, help="frames per batch (default 4)")
    bench.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    bench.add_argument("--input", help="a video to take frames from (default: a synthetic moving texture)")
    bench.add_argument("--no-end-to-end", action="store_true", help="skip the decode-to-encode pipeline row")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.set_defaults(func=cmd_bench)

    export = sub.add_parser("export", help="ONNX graphs of the networks and the engine cache")
    esub = export.add_subparsers(dest="action", parser_class=Parser, required=True)
    onnx = esub.add_parser("onnx", help="write a stored model as an ONNX graph (dynamic sizes)")
    onnx.add_argument("name", help="model name (see 'dfstream models list')")
    onnx.add_argument("-o", "--output", help="the .onnx file (default NAME[-fp16].onnx)")
    onnx.add_argument("--fp16", action="store_true", help="a half-precision graph (for GPU runtimes)")
    aot = esub.add_parser("aoti", help="compile a stored model ahead of time (AOTInductor) for --backend compile")
    aot.add_argument("name", help="model name (see 'dfstream models list')")
    aot.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    aot.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    esub.add_parser("list", help="engines built so far, with their keys")
    esub.add_parser("clear", help="remove every cached engine")
    export.set_defaults(func=cmd_export)

    models = sub.add_parser("models", help="network weights: list, import, download, verify")
    msub = models.add_subparsers(dest="action", parser_class=Parser, required=True)
    msub.add_parser("list", help="known models, where each file is, present and verified")
    imp = msub.add_parser("import", help="read a published checkpoint into the store")
    imp.add_argument("name", help="model name (see 'dfstream models list')")
    imp.add_argument("file", help="the checkpoint (.pth/.pt)")
    down = msub.add_parser("download", help="fetch a model's published file and import it")
    down.add_argument("name", help="model name (see 'dfstream models list')")
    down.add_argument("--url", help="a mirror to use instead of the known URLs")
    ver = msub.add_parser("verify", help="check stored weights against their manifests")
    ver.add_argument("name", nargs="*", help="models to check (default: every installed one)")
    models.set_defaults(func=cmd_models)
    add_training_parsers(sub, Parser, positive_int, positive_float)
    return parser


def cmd_bench(args) -> int:
    import json

    from dfstream.engines import parse_stages

    from .bench import HEADER, as_dicts, bench, parse_sizes

    if not args.json:
        print(HEADER)
    rows = bench(parse_stages(args.stages), {s: getattr(args, s) for s in ("colorize", "stabilize", "cartoonize")},
                 parse_sizes(args.sizes), _engine_options(args), args.device, args.frames, args.warmup,
                 args.batch, args.input, not args.no_end_to_end, say=(lambda line: None) if args.json else print)
    if args.json:
        print(json.dumps(as_dicts(rows), indent=2))
    return 0


def cmd_export(args) -> int:
    from dfstream.export import cache

    if args.action == "onnx":
        from dfstream.export.onnx import export_model

        path = args.output or f"{args.name}{'-fp16' if args.fp16 else ''}.onnx"
        record = export_model(args.name, path, "fp16" if args.fp16 else "fp32")
        print(f"{path}: opset {record['opset']}, inputs {', '.join(record['inputs'])}, "
              f"outputs {', '.join(record['outputs'])} (manifest {path.removesuffix('.onnx')}.json)")
    elif args.action == "aoti":
        path = build_aoti(args.name, args.precision, args.device)
        print(f"{args.name}: {path} (used by --backend compile)")
    elif args.action == "list":
        print(f"engine cache: {cache.root()}")
        for folder, key, size in cache.entries():
            print(f"  {folder.name}  {key['backend']} {key['backend_version']}, {key['precision']}, "
                  f"{key['device']}{' ' + key['gpu']['name'] if key['gpu'] else ''}, {size / 1e6:.1f} MB")
    else:
        print(f"removed {cache.clear()} cached engine(s) from {cache.root()}")
    return 0


def build_aoti(name: str, precision: str, device_name: str):
    """The AOTInductor package of a stored model, built into the engine cache."""
    from dfstream.engines.backends import aoti_entry
    from dfstream.engines.placed import PRECISIONS
    from dfstream.export import aoti, cache
    from dfstream.export.onnx import graph_module

    from .device import resolve_device

    device = resolve_device(device_name)
    module, dtype = graph_module(name), PRECISIONS[precision]
    path, key = aoti_entry(module, dtype, device)
    if not path.exists():
        aoti.export_aoti(module, path, dtype, device)
        cache.record(path.parent, key)
    return path


def cmd_models(args) -> int:
    from .models import command

    return command(args)


def run_options(args):
    """The Options of a run from its command line."""
    from .pipeline import Options
    from .sink import EncoderSettings, still_frames

    target = args.output if hasattr(args, "output") else f"x.{args.ext}"  # batch: its outputs' type
    return Options(
        stages=args.stages, batch=args.batch, references=args.reference, strength=args.strength,
        original=args.original, precision=args.precision, backend=args.backend, render_factor=args.render_factor, realtime=args.realtime, readrate=args.readrate, latency=args.latency, preview=args.preview,
        engines={s: getattr(args, s) for s in ("colorize", "stabilize", "cartoonize")}, max_height=args.max_height, device=args.device, threads=args.threads,
        input_format=args.input_format, hwaccel=args.hwaccel, input_options=input_options(args),
        deinterlace=args.deinterlace,
        start=args.start, from_end=args.from_end, duration=duration(args), frames=still_frames(target, args.frames), rate=args.rate and Fraction(args.rate), size=args.size, aspect=args.aspect,
        audio_delay=args.audio_delay, subtitle_delay=args.subtitle_delay,
        maps=tuple(args.maps), audio=args.audio, subtitles=args.subtitles,
        metadata=dict(args.metadata) | ({"timecode": args.timecode} if args.timecode else {}),
        stream_metadata=stream_tags(args.stream_metadata) + ((("v:0", "timecode", args.timecode),) if args.timecode else ()),
        input_tags=args.input_tags, chapters=args.chapters, dispositions=tuple(args.disposition),
        size_limit=args.size_limit,
        format=args.format, overwrite=args.overwrite,
        scene_threshold=args.scene_threshold,
        progress="none" if args.quiet or args.loglevel < INFO else args.progress, progress_url=args.progress_url,
        encoder=EncoderSettings(args.codec, args.crf, args.bitrate, args.preset, args.pix_fmt,
                                dict(args.encoder_option), args.audio_codec, args.audio_bitrate, args.audio_channels,
                                args.audio_rate, movflags=args.movflags, start_number=args.start_number,
                                qscale=args.qscale, subtitle_codec=args.subtitle_codec, video_tag=args.video_tag,
                                audio_quality=args.audio_quality, strict=args.strict,
                                color_range=args.color_range, colorspace=args.colorspace,
                                log_level=encoder_logs(LOG_LEVELS["error"] if args.quiet else args.loglevel),
                                ).for_target(target, args.format),
    )


def duration(args) -> float | None:
    """-t, or -to less -ss."""
    if args.to is None:
        return args.duration
    if args.from_end is not None:
        raise UsageError("-to counts from the input's start, and -sseof from its end", "give -t for a duration")
    if args.to <= (args.start or 0):
        raise UsageError(f"-to {args.to:g} is not after -ss {args.start or 0:g}: it leaves no time",
                         "give a -to later than -ss, or -t for a duration")
    return args.to - (args.start or 0)


def cmd_batch(args) -> int:
    from .batch import command

    return command(args, run_options(args))


def cmd_run(args) -> int:
    from .pipeline import Pipeline

    options = run_options(args)
    say = talk(args)
    if args.workers or args.ray:
        from .segments import run_segments
        from .summary import counted

        frames = run_segments(args.input, args.output, options, args.workers, args.ray, say)
        say(f"{counted(frames, 'frame')} -> {args.output}")
        return 0
    pipeline = Pipeline(args.input, options)

    def opened():  # the engines said once the output is set up: what it refuses is said alone
        if pipeline.choices:
            say("engines: " + ", ".join(pipeline.choices))

    summary = pipeline.run(args.output, opened=opened)
    note = talk(args, WARNING)
    for line in summary.notes:
        note(f"note: {line}")
    if summary.pipe_closed:
        return 0
    for line in summary.lines():
        say(line)
    if summary.interrupted:
        where = f"; the playable partial output is {summary.partial}" if summary.partial else ""
        print(f"dfstream: interrupted after {summary.frames} frames{where}", file=sys.stderr)
        return 143 if summary.interrupted == "SIGTERM" else 130
    return 0


def cmd_info(args) -> int:
    from .info import report, streams
    from .mapping import Selection

    if args.input:
        selection = Selection(tuple(args.maps), args.audio, args.subtitles)
        print("\n".join(streams(args.input, selection, args.input_format, input_options(args))))
    else:
        print("\n".join(report()))
    return 0


def cmd_eval(args) -> int:
    import json

    from .evaluate import evaluate, table

    report = evaluate(args.video, args.original, args.processed, args.against)
    print(json.dumps(report, indent=2) if args.json else "\n".join(table(report)))
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.folder, args.seconds, args.size)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM outside a run, raised like Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def attached(argv: list[str]) -> list[str]:
    """``-map SPEC`` as ``-map=SPEC`` and ``-sseof -TIME`` as ``-sseof=-TIME`` (argparse takes
    ffmpeg's negative maps, -map -0:s, and times, -00:01:00, for options); ffmpeg's per-stream
    ``-metadata:s:SPEC`` as ``--stream-metadata SPEC``, its global ``-metadata:g`` as
    ``-metadata``, ``-disposition:SPEC FLAGS`` as ``--disposition=SPEC=FLAGS``."""
    out, words = [], iter(argv)
    for word in words:
        if word in ("-map", "-sseof"):  # their values start with '-', as options do
            following = next(words, None)
            out.append(word if following is None else f"{word}={following}")
        elif word in ("-metadata:s", "-metadata:g") or word.startswith("-metadata:s:"):
            out += ["-metadata"] if word == "-metadata:g" else ["--stream-metadata", word[len("-metadata:s:"):]]
        elif word == "-disposition" or word.startswith("-disposition:"):  # its value may start with '-'
            out.append(f"--disposition={word[len('-disposition:'):]}={next(words, '')}")
        else:
            out.append(word)
    return out


def stream_tags(given: list[list[str]]) -> tuple[tuple[str, str, str], ...]:
    """(specifier, key, value) of each -metadata:s:SPEC KEY=VALUE."""
    try:
        return tuple((spec, *key_value(pair)) for spec, pair in given)
    except argparse.ArgumentTypeError as err:
        raise UsageError(f"-metadata:s: {err}", "write -metadata:s:a:0 language=eng") from None


def input_first(words: list[str], known) -> list[str]:
    """ffmpeg's ``-i IN`` as the input: IN moved ahead of the other words, where argparse reads IN.
    Before -i, as ffmpeg reads them: -f is the input's format, -r the rate of frames read as images
    (-framerate), and an option dfstream does not have (``known``: those it has) the demuxer's or
    protocol's: -safe 0, -rtsp_transport tcp, -video_size 1280x720 (--input-option)."""
    if "-i" not in words:
        return words
    at = words.index("-i")
    if at + 1 == len(words):
        raise UsageError("-i names no input", "write -i IN")
    name, before, after = words[at + 1], [], words[at + 2 :]
    if "-i" in after:
        raise UsageError("dfstream reads one input, and -i is given twice",
                         "give one; the video a processed one was made from is --original")
    k = 0
    while k < len(words[:at]):
        word, value = words[k], words[k + 1] if k + 1 < at else None
        if word == "-r" and value is not None:
            from .source import read_as_images

            if not read_as_images(name):
                raise UsageError(f"-r {value} before -i forces the input's frame rate, and dfstream reads a video "
                                 "at its own times", f"to write {value} fps, give -r after -i")
            before += ["-framerate", value]
        elif word == "-f" and value is not None:
            before += ["--input-format", value]
        elif word == "-start_number" and value is not None:  # the first image read, not written
            before += ["--input-option", f"start_number={value}"]
        elif (word[:1] == "-" and word[1:2].isalpha() and word not in known and value is not None
              and value[:1] != "-"):
            before += ["--input-option", f"{word[1:]}={value}"]
        else:
            before.append(word)
            k -= 1
        k += 2
    return [name, *before, *after]


ENCODER_OPTIONS = {"-tune": "tune", "-profile:v": "profile", "-level": "level", "-g": "g", "-bf": "bf",
                   "-keyint_min": "keyint_min", "-sc_threshold": "sc_threshold", "-refs": "refs",
                   "-maxrate": "maxrate", "-minrate": "minrate", "-bufsize": "bufsize",
                   "-x264-params": "x264-params", "-x264opts": "x264opts",
                   "-x265-params": "x265-params"}  # ffmpeg's own words for them
FILTERS = ("-vf", "-af", "-filter:v", "-filter:a", "-filter_complex", "-lavfi")  # ffmpeg's, which dfstream lacks
REFUSED = {**{word: (f"{word}: dfstream runs its stages, not FFmpeg's filters",
                     f"filter with ffmpeg before or after it: ffmpeg -i IN {word} ... -f nut - | dfstream - OUT")
              for word in FILTERS},
           "-c": ("-c sets every stream's codec at once, and dfstream encodes the video it processes",
                  "give -c:v for the video, -c:a for the audio and -c:s for the subtitles (copied by default)"),
           "-vn": ("-vn leaves the video out, and dfstream processes the video",
                   "for the sound alone: ffmpeg -i IN -vn -c:a copy OUT"),
           "-shortest": ("-shortest: dfstream reads one input, whose sound and subtitles it keeps as long as "
                         "they run, as ffmpeg does without -shortest", "cut them all with -t at the video's length")}


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line; for ``run``, options may come before, between and after IN and OUT (as with
    ffmpeg), which argparse's subcommands cannot do, so ``run``'s own parser reads it intermixed."""
    if given := next((word for word in argv if word in REFUSED), None):
        raise UsageError(*REFUSED[given])
    parser = build_parser()
    argv = attached(argv)
    words = [a for a in argv if a != "--debug"]
    if words and words[0] not in COMMANDS and words[0] not in ("-h", "--help"):
        words.insert(0, "run")  # 'dfstream IN OUT' is short for 'dfstream run IN OUT'
        argv = ["run", *argv]
    if words[:1] == ["run"] and not {"-h", "--help"} & set(words):
        args = parser.run.parse_intermixed_args(input_first(words[1:], parser.run._option_string_actions))
        args.debug, args.command = "--debug" in argv, "run"
        return args
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args = parse(argv)
        if not getattr(args, "func", None):
            build_parser().print_help(sys.stderr)
            return 2
        return args.func(args)
    except DfstreamError as err:
        if debug:
            raise
        print(f"dfstream: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        print("dfstream: interrupted", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback
        if debug:
            raise
        print(f"dfstream: error: {type(err).__name__}: {err} (run with --debug for details)",
              file=sys.stderr)
        return 1
