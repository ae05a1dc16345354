"""``dfstream eval``: temporal stability as Lai et al. 2018 measure it, fidelity and colourfulness.

Videos or folders of images are read frame for frame in step. The flow for
the warping error is taken on the original input when it is given (as Lai et
al. do), else on the video itself.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterator

import torch

from dfstream.engines.colorize.reference import load_image
from dfstream.engines.flow import DISFlow, FlowEstimator, occlusion
from dfstream.engines.metrics import Mean, colourfulness, frame_warping_error, psnr_of

from .colour import luma
from .errors import DfstreamError
from .geometry import resize
from .pipeline import frames
from .source import IMAGE_TYPES, NUMBERED, disc_title


def numbered(pattern: str) -> list[str]:
    """The files of FFmpeg's numbered pattern (frame%05d.png) as its image2 demuxer finds them: from
    the first of the numbers 0 to 4 that exists, on while they do."""
    start = next((n for n in range(5) if os.path.isfile(pattern % n)), None)
    if start is None:
        return []
    return list(itertools.takewhile(os.path.isfile, (pattern % n for n in itertools.count(start))))


EXACT = IMAGE_TYPES - {".dpx"}  # frames OpenCV reads exactly, as they are stored


def read_frames(path: str) -> Iterator[torch.Tensor]:
    """R'G'B' frames [1,3,H,W] in [0,1] of a video (a disc's folder too), or, read exactly, of images:
    a folder of them in name order or FFmpeg's numbered pattern."""
    files = None
    if os.path.isdir(path) and not disc_title(path):
        files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_TYPES)
    elif NUMBERED.search(path) and not os.path.exists(path):
        files = numbered(path)
    if files is not None and not files:
        what = f"folder '{path}' holds no images" if os.path.isdir(path) else f"no images match '{path}'"
        raise DfstreamError(what, "give a video, a folder of frames or frame%05d.png")
    if files and all(Path(file).suffix.lower() in EXACT for file in files):
        for file in files:
            yield load_image(file)
    else:  # a video, or frames OpenCV does not read (DPX): as dfstream reads them
        for frame in frames(path):
            yield torch.from_numpy(frame.image).permute(2, 0, 1)[None].float() / 255


class Measures:
    """Running sums of the measures for one video against optional references."""

    def __init__(self):
        self.warping = Mean()
        self.colour = Mean()
        self.squared: dict[str, Mean] = {}
        self.frame_psnr: dict[str, Mean] = {}

    def add_psnr(self, name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        mse = float(((a - b) ** 2).mean())
        self.squared.setdefault(name, Mean()).add(mse)
        self.frame_psnr.setdefault(name, Mean()).add(psnr_of(mse))

    def psnr(self, name: str) -> float | None:
        """PSNR of the mean square error over all frames (as FFmpeg's psnr filter averages)."""
        return psnr_of(self.squared[name].value) if name in self.squared else None

    def mean_frame_psnr(self, name: str) -> float | None:
        """The mean of the frames' PSNRs (as the benchmarks average a colorizer's)."""
        return self.frame_psnr[name].value if name in self.frame_psnr else None


def evaluate(video: str, original: str | None = None, processed: str | None = None,
             against: str | None = None, estimator: FlowEstimator | None = None) -> dict:
    """Warping error (of the video, and of the original and processed ones when given),
    PSNR to the processed video (fidelity) and to ground truth, colourfulness."""
    estimator = estimator or DISFlow("medium")
    named = {"video": video, "original": original, "processed": processed, "ground truth": against}
    named = {k: v for k, v in named.items() if v}
    readers = {k: read_frames(v) for k, v in named.items()}
    scores = {k: Measures() for k in ("video", "original", "processed") if k in named}
    previous: dict[str, torch.Tensor] = {}
    count = 0
    sentinel = object()
    while True:
        current = {k: next(r, sentinel) for k, r in readers.items()}
        ended = [k for k, v in current.items() if v is sentinel]
        if ended:
            if len(ended) != len(current):
                raise DfstreamError(f"the {ended[0]} ends after {count} frames but the others go on",
                                    "give videos of the same length")
            break
        if "original" in current:  # only its flow is taken: a tool's output of another size is measured
            current["original"] = resize(current["original"], current["video"].shape[-2:])
        shapes = {tuple(v.shape) for v in current.values()}
        if len(shapes) > 1:
            raise DfstreamError(f"frame {count} differs in size between the inputs ({sorted(shapes)})",
                                "give videos of the same size")
        guide = current.get("original", current["video"])
        if previous:
            prev_guide = previous.get("original", previous["video"])
            forward = estimator(luma(prev_guide, "bt601"), luma(guide, "bt601"))
            backward = estimator(luma(guide, "bt601"), luma(prev_guide, "bt601"))
            mask = 1 - occlusion(forward, backward)  # the same for every video
            for k, m in scores.items():
                m.warping.add(frame_warping_error(previous[k], current[k], forward, backward, mask))
        for k, m in scores.items():
            m.colour.add(colourfulness(current[k]))
        if "processed" in current:
            scores["video"].add_psnr("processed", current["video"], current["processed"])
        if "ground truth" in current:
            for k, m in scores.items():
                m.add_psnr("ground truth", current[k], current["ground truth"])
        previous = current
        count += 1
    return _report(scores, count)


def _report(scores: dict[str, Measures], count: int) -> dict:
    out: dict = {"frames": count}
    for k, m in scores.items():
        row = {"warping_error": m.warping.value, "colourfulness": m.colour.value}
        if "ground truth" in m.squared:
            row["psnr_ground_truth"] = m.psnr("ground truth")
            row["mean_frame_psnr_ground_truth"] = m.mean_frame_psnr("ground truth")
        out[k] = row
    video = out["video"]
    if "processed" in scores:
        video["psnr_processed"] = scores["video"].psnr("processed")
        video["mean_frame_psnr_processed"] = scores["video"].mean_frame_psnr("processed")
        p = out["processed"]
        video["colourfulness_kept"] = video["colourfulness"] / p["colourfulness"] if p["colourfulness"] else None
        if "original" in out and None not in (p["warping_error"], out["original"]["warping_error"]):
            excess_p = p["warping_error"] - out["original"]["warping_error"]
            excess_v = video["warping_error"] - out["original"]["warping_error"]
            video["excess_warping_error_removed"] = 1 - excess_v / excess_p if excess_p > 0 else None
    return out


def table(report: dict) -> list[str]:
    """The report as aligned text lines."""
    columns = [k for k in ("video", "original", "processed") if k in report]
    keys = sorted({key for c in columns for key in report[c]}, key=_order)
    lines = [f"{'':30}" + "".join(f"{c:>16}" for c in columns)]
    for key in keys:
        cells = "".join(f"{_fmt(report[c].get(key)):>16}" for c in columns)
        lines.append(f"{key.replace('_', ' '):30}{cells}")
    lines.append(f"{report['frames']} frames")
    return lines


def _order(key: str) -> int:
    order = ["warping_error", "excess_warping_error_removed", "psnr_processed", "mean_frame_psnr_processed",
             "psnr_ground_truth", "mean_frame_psnr_ground_truth", "colourfulness", "colourfulness_kept"]
    return order.index(key) if key in order else len(order)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (abs(value) < 0.01 and value != 0):
        return f"{value:.6f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
