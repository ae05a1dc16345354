"""Scene-cut detection on luma, so stateful stages never carry state across a cut.

A frame starts a new scene when its small luma thumbnail differs from the
previous frame's by more than ``threshold`` (mean absolute difference in
[0, 1]), when its timestamp jumps by more than ``max_gap`` seconds, or when it
is the first frame shown after a black one: a dip to black between two scenes
(a fade out, then a fade in) changes each frame too little for the threshold,
and the reference colorizer carried the first scene's stills into the second
(giant-slalom after bus, a still of each: 1.4 dB under the same fade in after a
cut). Black is as ffmpeg's ``blackdetect`` counts it: BLACK_SHARE of the
pixels at most BLACK; shown again once that share's luma is over SHOWN, so a
dark scene near the line does not cut at every frame. The first frame always
starts a scene.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from .geometry import area

THUMB_WIDTH = 64
BLACK_SHARE = 0.98  # share of a frame's pixels at most BLACK for it to be black (blackdetect's picture_black_ratio_th)
BLACK = 0.10  # luma at most which a pixel is black (blackdetect's pixel_black_th)
SHOWN = 0.15  # luma over which that share's brightest pixel makes the frame shown again


def subsample(plane: torch.Tensor) -> torch.Tensor:
    """Every k-th pixel of a plane [N,h,w], still 4x wider than the thumbnail: cheap to convert."""
    step = max(1, plane.shape[-1] // (4 * THUMB_WIDTH))
    return plane[..., ::step, ::step]


class SceneCuts:
    def __init__(self, threshold: float = 0.12, max_gap: float = 1.0):
        self.threshold = threshold
        self.max_gap = max_gap
        self.reset()

    def reset(self) -> None:
        self._thumb: torch.Tensor | None = None
        self._pts: int | None = None
        self._black = False  # in a black stretch: the next frame shown starts a scene

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
        return [d > self.threshold or g > self.max_gap or shown
                for d, g, shown in zip(diffs, gaps, self._shown_after_black(thumbs))]

    def _shown_after_black(self, thumbs: torch.Tensor) -> list[bool]:
        """Per thumbnail [N,1,h,w]: whether it is the first frame shown after a black one."""
        flags = []
        for level in thumbs.flatten(1).quantile(BLACK_SHARE, dim=1).tolist():
            flags.append(self._black and level > SHOWN)
            self._black = level <= BLACK or (self._black and level <= SHOWN)
        return flags
