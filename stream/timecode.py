"""SMPTE timecodes, HH:MM:SS:FF (';' before the frames for drop-frame), as MOV, MP4, MXF and
Matroska carry a film's: moved by the frames -ss cuts, so that the first frame written keeps its
own (ffmpeg copies the file's unchanged), or set with -timecode."""

from __future__ import annotations

import argparse
import re
from fractions import Fraction

TIMECODE = re.compile(r"(\d{2}):(\d{2}):(\d{2})([:;.,])(\d{2})")


def timecode(text: str) -> str:
    """An argparse type: a timecode as ffmpeg's -timecode takes it, checked."""
    match = TIMECODE.fullmatch(text)
    if not match or int(match[2]) > 59 or int(match[3]) > 59:
        raise argparse.ArgumentTypeError(f"'{text}' is not a timecode (use 01:00:00:00, or 01:00:00;00 for "
                                         "drop-frame)")
    return text


def shifted(text: str, frames: int, rate: Fraction) -> str:
    """``text`` moved on by ``frames`` frames of a video at ``rate``; drop-frame (29.97 and 59.94
    with ';') leaves out the first 2 or 4 frame numbers of each minute but every tenth, as SMPTE's
    does. Unchanged if it is no timecode; around the clock past 24 hours."""
    match = TIMECODE.fullmatch(text.strip())
    if not match:
        return text
    hours, minutes, seconds, separator, frame = match.groups()
    fps = round(rate)
    drop = fps // 15 if separator != ":" and fps in (30, 60) else 0
    whole_minutes = 60 * int(hours) + int(minutes)
    number = (whole_minutes * 60 + int(seconds)) * fps + int(frame) - drop * (whole_minutes - whole_minutes // 10)
    number = (number + frames) % (24 * 3600 * fps - drop * 24 * 54)
    if drop:
        tens, rest = divmod(number, 600 * fps - 9 * drop)
        number += 9 * drop * tens + (drop * ((rest - drop) // (60 * fps - drop)) if rest > drop else 0)
    seconds_total, frame_number = divmod(number, fps)
    return (f"{seconds_total // 3600:02d}:{seconds_total // 60 % 60:02d}:{seconds_total % 60:02d}"
            f"{separator}{frame_number:02d}")
