"""Scene-cut detection on luma, so stateful stages never carry state across a cut.

A frame starts a new scene when its small luma thumbnail differs from the
previous frame's by more than ``threshold`` (mean absolute difference in
[0, 1]) or when its timestamp jumps by more than ``max_gap`` seconds.
The first frame always starts a scene.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from .geometry import area

THUMB_WIDTH = 64


def subsample(plane: torch.Tensor) -> torch.Tensor:
    """Every k-th pixel of a plane [N,h,w], still 4x wider than the thumbnail: cheap to convert."""
    step = max(1, plane.shape[-1] // (4 * THUMB_WIDTH))
    return plane[..., ::step, ::step]


class SceneCuts:
    def __init__(self, threshold: float = 0.12, max_gap: float = 1.0):
        self.threshold = threshold
        self.max_gap = max_gap
        self._thumb: torch.Tensor | None = None
        self._pts: int | None = None

    def reset(self) -> None:
        self._thumb = None
        self._pts = None

    def detect(self, luma: torch.Tensor, pts: list[int], time_base: Fraction) -> list[bool]:
        """luma [N,1,H,W] in [0,1] and the frames' pts -> cut flag per frame."""
        n, _, h, w = luma.shape
        size = (max(1, round(h * THUMB_WIDTH / w)), THUMB_WIDTH) if w > THUMB_WIDTH else (h, w)
        thumbs = area(luma.float(), size)
        if self._thumb is None:
            current, previous, diffs = thumbs[1:], thumbs[:-1], [float("inf")]
        else:
            current, previous, diffs = thumbs, torch.cat((self._thumb, thumbs[:-1])), []
        diffs += (current - previous).abs().mean(dim=(1, 2, 3)).tolist()
        gaps = [float("inf") if self._pts is None else (pts[0] - self._pts) * time_base]
        gaps += [(b - a) * time_base for a, b in zip(pts, pts[1:])]
        self._thumb, self._pts = thumbs[-1:], pts[-1]
        return [d > self.threshold or g > self.max_gap for d, g in zip(diffs, gaps)]
