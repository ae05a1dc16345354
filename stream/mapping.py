"""Which streams of the input are read and written: ffmpeg's ``-map``, ``-an`` and ``-sn``.

Without ``-map`` every audio and subtitle stream and every attachment is kept (more than
ffmpeg's default of one each: nothing of a film is lost), and of the video streams the one
ffmpeg maps by default is processed. With ``-map`` only the streams mapped are kept, in the order
mapped, as ffmpeg does; of the video streams mapped, dfstream processes one, the one ffmpeg would
pick among them. Stream specifiers, as ffmpeg's, for the one input (0):

    0               every stream
    0:v  0:a  0:s  0:t  0:d   every stream of a type (V: video that is not cover art)
    0:a:1           the second audio stream
    0:3             stream #3
    0:m:language:eng, 0:a:m:language:fra   streams with that tag (of that type)
    -0:a:1          leave out what earlier maps matched
    0:s?            a map that may match nothing
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import av

from .errors import DfstreamError, UsageError

TYPES = {"v": "video", "V": "video", "a": "audio", "s": "subtitle", "d": "data", "t": "attachment"}
SPECIFIER = re.compile(r"(?P<leave>-)?(?P<input>\d+)(?::(?P<type>[vVasdt])(?=:|\??$))?"
                       r"(?::(?:(?P<index>\d+)|m:(?P<key>[^:?]+)(?::(?P<value>[^?]*))?))?(?P<optional>\?)?")
EXAMPLES = "0, 0:a, 0:a:1, 0:3, 0:m:language:eng, -0:s, 0:s? (ffmpeg's stream specifiers)"


@dataclass(frozen=True)
class Specifier:
    text: str
    leave: bool  # -0:...: leave out what earlier maps matched
    type: str | None  # a letter of TYPES
    index: int | None  # among the streams of ``type``, or among all
    tag: tuple[str, str | None] | None  # (key, value): streams with that tag (of any value)
    optional: bool  # 0:s?: may match nothing

    @classmethod
    def parse(cls, text: str, given: str | None = None) -> Specifier:
        """``text`` as a specifier; ``given``: the option as the user wrote it, for errors."""
        given = given or f"-map '{text}'"
        match = SPECIFIER.fullmatch(text)
        if not match:
            raise UsageError(f"{given} is not a stream specifier", f"give one like {EXAMPLES}")
        if match["input"] != "0":
            rest = text[len(match["input"]) + bool(match["leave"]):]
            raise UsageError(f"{given} names input {match['input']}, and dfstream reads one",
                             f"number its streams from input 0: -map 0{rest}")
        return cls(text, bool(match["leave"]), match["type"], None if match["index"] is None else int(match["index"]),
                   (match["key"], match["value"]) if match["key"] else None, bool(match["optional"]))

    def matches(self, streams: list[av.stream.Stream]) -> list[av.stream.Stream]:
        """The streams of the input (in its order) this specifier names."""
        found = [s for s in streams if self._fits(s)]
        if self.index is not None:
            ordered = found if self.type else streams
            found = ordered[self.index : self.index + 1]
        return found

    def _fits(self, stream: av.stream.Stream) -> bool:
        if self.type and (stream.type != TYPES[self.type]
                          or self.type == "V" and stream.disposition & av.stream.Disposition.attached_pic):
            return False
        if self.tag:
            key, value = self.tag
            return key in stream.metadata and value in (None, stream.metadata[key])
        return True


@dataclass(frozen=True)
class Selection:
    """``-map`` specifiers (in order; none: every stream) and ``-an``/``-sn``."""

    maps: tuple[str, ...] = ()
    audio: bool = True
    subtitles: bool = True
    specifiers: tuple[Specifier, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):  # a bad map is refused before anything is opened
        object.__setattr__(self, "specifiers", tuple(map(Specifier.parse, self.maps)))

    def streams(self, container: av.container.InputContainer, name: str) -> list[av.stream.Stream]:
        """The input's streams that are kept, in the order they are written."""
        streams = list(container.streams)
        chosen = streams if not self.maps else []
        for spec in self.specifiers:
            found = spec.matches(streams)
            if spec.leave:
                chosen = [s for s in chosen if s not in found]
            elif found:
                chosen += [s for s in found if s not in chosen]
            elif not spec.optional:
                raise DfstreamError(f"-map '{spec.text}' matches no stream of '{name}'",
                                    f"'dfstream info {name}' lists its streams; or add '?' to allow none: "
                                    f"-map '{spec.text}?'")
        return [s for s in chosen if (self.audio or s.type != "audio") and (self.subtitles or s.type != "subtitle")]

    @staticmethod
    def video(kept: list[av.stream.Stream], name: str) -> tuple[av.VideoStream, list]:
        """Of the streams ``kept`` (``streams``) of input ``name``, the video stream processed and
        the other video streams (ignored)."""
        videos = [s for s in kept if s.type == "video"]
        if not videos:
            raise DfstreamError(f"-map selects no video stream of '{name}'", "map one too: -map 0:v")
        video = main_video(videos)
        return video, [s for s in videos if s is not video]


def main_video(videos: list[av.VideoStream]) -> av.VideoStream:
    """The video stream ffmpeg maps by default: the largest picture, one marked default ahead by
    5,000,000 pixels; cover art (an attached picture) only if nothing else."""
    def score(stream: av.VideoStream) -> int:
        if stream.disposition & av.stream.Disposition.attached_pic:
            return 1
        ctx = stream.codec_context
        default = bool(stream.disposition & av.stream.Disposition.default)
        return (ctx.width * ctx.height if ctx else 0) + 5_000_000 * default
    return max(videos, key=score)
