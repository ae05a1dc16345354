"""``flow``: an online flow-guided temporal filter, the weights-free stabilizer.

A per-frame process (a colorizer, a grade, a style) maps the input frame I_t
to the processed frame P_t; flicker is that mapping changing from frame to
frame. The stabilizer fits the mapping locally as P = a * I + b per channel
(the guided filter's model, windows of ~16 px), keeps what the model does not
explain (P's own detail) untouched, and filters only the coefficients (a, b)
in time: the previous frame's filtered coefficients are pulled along the
optical flow of the input and blended in with ``strength`` where the flow is
trustworthy (not occluded, small photometric error on the input, Lai et al.'s
mask). Where it is not, the current frame's own mapping is kept. With
``chroma_only`` (after a colorizer) the luma is the source's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dfstream.colour import merge_chroma, ycbcr

from ..filters import linear_fit
from ..flow import DISFlow, FlowEstimator, tracked, warp
from ..registry import register
from ..stage import RecurrentStage, StageContext

SCALE = 4  # coefficients live at a quarter of the frame size


@register("stabilize", "flow")
class FlowStabilizer(RecurrentStage):
    name = "stabilize"

    @classmethod
    def create(cls, variant, options):
        return cls(strength=options.strength, chroma_only=options.chroma_only)

    def __init__(self, strength: float = 0.8, chroma_only: bool = False, radius: int = 4,
                 eps: float = 1e-4, estimator: FlowEstimator | None = None):
        if not 0 <= strength < 1:
            raise ValueError("strength must be in [0, 1)")
        self.strength = strength
        self.chroma_only = chroma_only
        self.radius = radius
        self.eps = eps
        self.flow = estimator or DISFlow("fast", max_side=640)
        self.reset()

    def reset(self) -> None:
        self._coef: torch.Tensor | None = None  # filtered (a, b) at 1/SCALE size, [1,6,h,w]
        self._luma: torch.Tensor | None = None  # previous input luma

    def step(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        source, y = ctx.source, ctx.luma
        h, w = rgb.shape[-2:]
        small = (max(1, h // SCALE), max(1, w // SCALE))
        down = lambda t: F.interpolate(t, size=small, mode="area")  # noqa: E731
        current = torch.cat(linear_fit(down(source), down(rgb), self.radius, self.eps), 1)
        if self._coef is not None and self._coef.shape[-2:] != small:  # the work size changed (realtime)
            self._coef = F.interpolate(self._coef, size=small, mode="bilinear", align_corners=False)
            self._luma = F.interpolate(self._luma, size=(h, w), mode="area")
        coef = current
        if self._coef is not None:
            to_prev, visible, photometric = tracked(self.flow, y, self._luma)  # flow t -> t-1
            trust = visible * photometric
            flow_small = down(to_prev) * to_prev.new_tensor([small[1] / w, small[0] / h]).view(1, 2, 1, 1)
            previous = warp(self._coef, flow_small)
            coef = coef + self.strength * down(trust) * (previous - coef)
        self._coef, self._luma = coef, y
        up = F.interpolate(coef, size=(h, w), mode="bilinear", align_corners=False)
        fitted = F.interpolate(current, size=(h, w), mode="bilinear", align_corners=False)
        detail = rgb - (fitted[:, :3] * source + fitted[:, 3:])  # what the local model leaves out
        out = (up[:, :3] * source + up[:, 3:] + detail).clamp(0, 1)
        return merge_chroma(y, ycbcr(out, ctx.matrix)[1], ctx.matrix) if self.chroma_only else out
