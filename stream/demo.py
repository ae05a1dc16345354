"""``dfstream demo``: the whole weights-free job on a clip FFmpeg generates, no files needed.

A colour test clip from FFmpeg's ``testsrc2`` source is made black and white,
coloured again by the ``reference`` colorizer from its first colour frame,
stabilized by the ``flow`` stabilizer, and measured against the true colours.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .errors import DfstreamError
from .evaluate import evaluate, table
from .pipeline import frames, process
from .sink import EncoderSettings

SOURCE = "testsrc2=size={size}:rate=25"


def _save(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise DfstreamError(f"cannot write image '{path}'", "check the folder is writable")


def _labelled(rgb: np.ndarray, text: str) -> np.ndarray:
    out = rgb.copy()
    cv2.putText(out, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def run_demo(folder: str, seconds: float = 4.0, size: str = "640x360", say=print) -> dict:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    lossless = EncoderSettings(preset="veryfast", options={"qp": "0"})
    colour, grey = out / "colour.mkv", out / "black_and_white.mkv"
    reference, result = out / "reference.png", out / "colorized.mp4"
    say(f"1/5 generating {seconds:g} s of FFmpeg's {SOURCE.format(size=size)} -> {colour}")
    process(SOURCE.format(size=size), str(colour), input_format="lavfi", duration=seconds,
            encoder=lossless, overwrite=True)
    say(f"2/5 making it black and white -> {grey}")
    process(str(colour), str(grey), stages="gray", encoder=lossless, overwrite=True)
    first = next(frames(str(colour)))
    _save(reference, first.image)
    say(f"3/5 colorizing (reference: its first colour frame) and stabilizing -> {result}")
    summary = process(str(grey), str(result), stages="colorize,stabilize", references=[str(reference)],
                      overwrite=True)
    say(f"    {summary.lines()[0]}")
    say("4/5 measuring against the true colours")
    report = evaluate(str(result), original=str(grey), against=str(colour))
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    for line in table(report):
        say("    " + line)
    say(f"5/5 side-by-side picture -> {out / 'side_by_side.png'}")
    middle = summary.frames // 2
    picks = [next(f for i, f in enumerate(frames(str(p))) if i == middle).image
             for p in (colour, grey, result)]
    _save(out / "side_by_side.png", np.concatenate(
        [_labelled(a, t) for a, t in zip(picks, ("true colour", "black and white", "dfstream"))], 1))
    return report
