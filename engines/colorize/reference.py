"""``reference``: colour a black-and-white video from one or more colour stills.

Chroma is worked out at half the frame's size, at most 480 pixels on the
longer side (the size of 4:2:0 chroma; the luma is always the source's, at full
resolution) from three estimates, per pixel:

1. the reference pulled along the optical flow from the frame to the best
   matching reference still, where that flow passes the occlusion test and
   the photometric check (a direct anchor, so colours never drift);
2. the previous frame's chroma pulled along the flow between frames (DIS
   medium: errors here compound), where it is trustworthy (propagation through
   motion);
3. a look-up of the chroma of reference pixels with the same luminance and
   local texture, at their mean saturation (for content the flow cannot find
   in the reference).

At a scene cut or on the first frame the propagation is empty and the frame
is re-anchored. The result is smoothed edge-aware with the luma as guide.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dfstream.colour import merge_chroma, ycbcr
from dfstream.errors import DfstreamError
from dfstream.geometry import chroma_size

from ..filters import box_blur, guided_filter
from ..flow import DISFlow, FlowEstimator, to_previous, tracked, warp
from ..registry import register
from ..stage import RecurrentStage, StageContext

LUMA_BINS, TEXTURE_EDGES = 32, (0.015, 0.04, 0.09)
MAX_GAIN = 4.0  # at most this much more saturated than a cell's mean chroma (cells of opposite hues)


def load_image(path: str | Path) -> torch.Tensor:
    """A colour still as R'G'B' [1,3,H,W] in [0,1]."""
    if not Path(path).is_file():
        raise DfstreamError(f"reference image '{path}' does not exist", "check the path")
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DfstreamError(f"cannot read reference image '{path}'", "give a PNG or JPEG colour image")
    return torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255


def texture(y: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """Local standard deviation of luma (measured at half size: it only picks a table row)."""
    half = F.interpolate(y, scale_factor=0.5, mode="area")
    mean = box_blur(half, radius)
    std = (box_blur(half * half, radius) - mean * mean).clamp_min(0).sqrt()
    return F.interpolate(std, size=y.shape[-2:], mode="nearest")


def _bins(y: torch.Tensor) -> torch.Tensor:
    lb = (y * LUMA_BINS).long().clamp(0, LUMA_BINS - 1)
    tb = torch.bucketize(texture(y), y.new_tensor(TEXTURE_EDGES))
    return lb * (len(TEXTURE_EDGES) + 1) + tb


class ChromaTable:
    """Reference chroma per (luminance, texture) cell: the hue of the cell's mean chroma at the
    cell's mean saturation (a plain mean of different hues would wash the colour out); empty
    cells filled from neighbours."""

    def __init__(self, lumas: list[torch.Tensor], chromas: list[torch.Tensor]):
        cells = LUMA_BINS * (len(TEXTURE_EDGES) + 1)
        total = torch.zeros(cells, 2, dtype=torch.float64)
        saturation = torch.zeros(cells, dtype=torch.float64)
        count = torch.zeros(cells, dtype=torch.float64)
        for y, c in zip(lumas, chromas):
            idx = _bins(y).flatten().cpu()
            samples = c.flatten(2)[0].T.double().cpu()
            total.index_add_(0, idx, samples)
            saturation.index_add_(0, idx, samples.norm(dim=1))
            count.index_add_(0, idx, torch.ones_like(idx, dtype=torch.float64))
        mean = total / count.clamp_min(1)[:, None]
        gain = (saturation / count.clamp_min(1) / mean.norm(dim=1).clamp_min(1e-4)).clamp(max=MAX_GAIN)
        table = (mean * gain[:, None]).view(LUMA_BINS, -1, 2)
        filled = (count > 0).view(LUMA_BINS, -1)
        overall = total.view(LUMA_BINS, -1, 2).sum(1) / count.view(LUMA_BINS, -1).sum(1).clamp_min(1)[:, None]
        any_luma = count.view(LUMA_BINS, -1).sum(1) > 0
        for t in range(table.shape[1]):
            for b in range(LUMA_BINS):
                if not filled[b, t]:
                    table[b, t] = self._nearest(table[:, t], filled[:, t], overall, any_luma, b)
        self.table = table.view(-1, 2).float()

    @staticmethod
    def _nearest(column, filled, overall, any_luma, b):
        """Chroma of the nearest luminance bin with samples (same texture, else any texture)."""
        for source, ok in ((column, filled), (overall, any_luma)):
            found = ok.nonzero().flatten()
            if len(found):
                return source[found[(found - b).abs().argmin()]]
        return torch.zeros(2, dtype=column.dtype)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """Luma [1,1,h,w] -> chroma [1,2,h,w]."""
        table = self.table.to(y.device)
        return table[_bins(y)[:, 0]].permute(0, 3, 1, 2)


@register("colorize", "reference")
class ReferenceColorizer(RecurrentStage):
    name = "colorize"

    @classmethod
    def missing(cls, variant, options):
        return None if options.references else "no --reference image given"

    @classmethod
    def remedy(cls, variant):
        return "pass --reference IMAGE (a colour still or a hand-coloured keyframe)"

    @classmethod
    def create(cls, variant, options):
        return cls(options.references)

    def __init__(self, references: list | None = None, max_side: int = 480, anchor: float = 0.5,
                 estimator: FlowEstimator | None = None):
        if not references:
            raise DfstreamError("the reference colorizer needs a colour image",
                                "pass --reference IMAGE (a colour still or a hand-coloured keyframe)")
        self.references = [r if isinstance(r, torch.Tensor) else load_image(r) for r in references]
        self.max_side = max_side
        self.anchor = anchor
        self.flow = estimator or DISFlow("ultrafast", max_side=max_side)  # to the references, and checks
        self.motion = estimator or DISFlow("medium", max_side=max_side)  # to the previous frame
        self._size: tuple[int, int] | None = None
        self.reset()

    def reset(self) -> None:
        self._chroma: torch.Tensor | None = None
        self._luma: torch.Tensor | None = None

    def _prepare(self, size: tuple[int, int], device: torch.device, matrix: str) -> None:
        """Bring the references to the working size once the frame size is known."""
        self._size = size
        refs = [F.interpolate(r.to(device), size=size, mode="area") for r in self.references]
        parts = [ycbcr(r, matrix) for r in refs]
        self._ref_luma = [y for y, _ in parts]
        self._ref_chroma = [c for _, c in parts]
        self._thumbs = torch.cat([F.interpolate(y, size=(18, 32), mode="area") for y in self._ref_luma])
        self._table = ChromaTable(self._ref_luma, self._ref_chroma)

    def _trusted(self, estimator: FlowEstimator, y: torch.Tensor, other: torch.Tensor,
                 measured: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow from y to other and how far it can be trusted per pixel (0..1).

        Motion boundaries of a noisy flow still carry the right colour, so only the
        forward-backward check counts; the photometric mask becomes a ramp, since
        partial trust compounded over many frames would fade the colour.
        """
        to_other, visible, photometric = tracked(estimator, y, other, boundaries=False, measured=measured)
        return to_other, visible * (2 * photometric - 0.8).clamp(0, 1)

    def step(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        size = chroma_size(*ctx.luma.shape[-2:], self.max_side)
        if self._size != size:  # first frame, or the work size changed (realtime)
            self._prepare(size, ctx.luma.device, ctx.matrix)
            if self._chroma is not None:
                self._chroma = F.interpolate(self._chroma, size=size, mode="bilinear", align_corners=False)
                self._luma = F.interpolate(self._luma, size=size, mode="area")
        y = ctx.luma_at(size)
        thumb = F.interpolate(y, size=(18, 32), mode="area")
        best = int((self._thumbs - thumb).abs().flatten(1).mean(1).argmin())
        to_ref, confidence = self._trusted(self.flow, y, self._ref_luma[best])
        direct = warp(self._ref_chroma[best], to_ref)
        anchored = confidence * direct + (1 - confidence) * self._table(y)
        if self._chroma is None:
            chroma = anchored
        else:
            measured = to_previous(ctx, self.motion, y, self._luma)
            to_prev, trust = self._trusted(self.motion, y, self._luma, measured)
            chroma = trust * warp(self._chroma, to_prev) + (1 - trust) * anchored
            chroma = chroma + self.anchor * confidence * (direct - chroma)
        self._chroma, self._luma = chroma, y  # the state stays unsmoothed: smoothing would compound
        smoothed = guided_filter(y, chroma, radius=max(2, size[0] // 64), eps=1e-3, scale=2)
        return merge_chroma(ctx.luma, smoothed, ctx.matrix)
