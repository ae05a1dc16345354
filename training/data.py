"""Preparing training images: frames sampled from films, and CartoonGAN's edge-smoothed set.

``sample_frames`` keeps one frame every N seconds, drops black frames and credit
frames (mostly dark with sparse bright text), and resizes and centre-crops to a
square. ``edge_smooth`` is CartoonGAN's edge promotion (MODELS.md): Canny
100/200 on grey, edges dilated 5x5, and only the dilated pixels replaced by a
5x5 Gaussian blur of the image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dfstream.errors import DfstreamError
from dfstream.evaluate import IMAGE_TYPES
from dfstream.source import open_input

DARK, BRIGHT = 40, 160  # grey levels (0-255) below which a pixel is dark, above which bright
LETTERS = 4  # bright shapes on a dark frame that make it a title or credit


def is_black(grey: np.ndarray) -> bool:
    """A frame with nothing to learn from: nearly all pixels dark and no bright detail."""
    return float(np.percentile(grey, 99)) < DARK


def is_credit(grey: np.ndarray) -> bool:
    """Titles and credits: mostly dark, with a little bright area split into several shapes (the
    letters); a lamp or a window in a night scene is one or two shapes."""
    dark = float((grey < DARK).mean())
    bright = grey > BRIGHT
    if dark < 0.8 or not 0.0005 < float(bright.mean()) < 0.15:
        return False
    count, _, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= 3).sum()) >= LETTERS


def square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Scale the short side to ``size`` (area averaging when shrinking) and crop the centre."""
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    image = cv2.resize(rgb, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    top, left = (new[1] - size) // 2, (new[0] - size) // 2
    return image[top: top + size, left: left + size]


def write_image(path: Path, rgb: np.ndarray) -> None:
    """Write atomically: a stopped run never leaves a half-written image."""
    temp = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    if not cv2.imwrite(str(temp), np.ascontiguousarray(rgb[..., ::-1])):
        raise DfstreamError(f"could not write '{path}'", "check the output folder and the free disk space")
    os.replace(temp, path)


@dataclass
class FrameReport:
    kept: list[str] = field(default_factory=list)
    black: list[float] = field(default_factory=list)  # times (s) of dropped frames
    credits: list[float] = field(default_factory=list)


def sample_frames(films: list[str], out: str | Path, every: float = 3.0, size: int = 256,
                  report: FrameReport | None = None) -> FrameReport:
    """One frame every ``every`` seconds of each film, filtered, as ``size``-square PNGs named
    FILM-SECONDS.png in ``out``."""
    if every <= 0 or size < 8:
        raise DfstreamError("--every must be positive and --size at least 8", "e.g. --every 3 --size 256")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = report or FrameReport()
    for film in films:
        with open_input(film) as container:
            if not container.streams.video:
                raise DfstreamError(f"'{film}' has no video stream", "give a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start, k = None, 0  # the k-th sample is the first frame at or after start + k * every
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                start = frame.time if start is None else start
                if frame.time + 1e-6 < start + k * every:
                    continue
                when = frame.time
                k = int((when - start + 1e-6) // every) + 1
                rgb = frame.to_ndarray(format="rgb24")
                grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                if is_black(grey):
                    report.black.append(when)
                elif is_credit(grey):
                    report.credits.append(when)
                else:
                    path = out / f"{Path(film).stem}-{when:08.2f}.png"
                    write_image(path, square(rgb, size))
                    report.kept.append(path.name)
    return report


def edge_smooth(rgb: np.ndarray) -> np.ndarray:
    """CartoonGAN's edge-promoted image: Gaussian blur only where the dilated Canny edges are."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.dilate(cv2.Canny(grey, 100, 200), np.ones((5, 5), np.uint8)) > 0
    blurred = cv2.GaussianBlur(rgb, (5, 5), 0)
    return np.where(edges[..., None], blurred, rgb)


def images_in(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DfstreamError(f"'{folder}' is not a folder", "give a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_TYPES)
    if not files:
        raise DfstreamError(f"'{folder}' holds no images", f"give a folder of {', '.join(sorted(IMAGE_TYPES))} files")
    return files


def read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DfstreamError(f"cannot read the image '{path}'", "remove or replace the damaged file")
    return bgr[..., ::-1]


def edge_smooth_folder(src: str | Path, out: str | Path) -> int:
    """Edge-smooth every image of ``src`` into ``out`` (same names, PNG); returns the count."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = images_in(src)
    for path in files:
        write_image(out / f"{path.stem}.png", edge_smooth(read_image(path)))
    return len(files)
