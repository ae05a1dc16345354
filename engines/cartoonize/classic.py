"""``classic``: a cartoon look without any network.

Edge-preserving smoothing (a guided filter with the frame's own luma as guide,
twice), colour quantisation (luma into a few bands with soft steps, chroma
kept and slightly boosted) and dark ink lines (a difference of Gaussians on the
luma, as in XDoG). Every step is per frame and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dfstream.colour import rgb_from_ycbcr, ycbcr
from dfstream.errors import UsageError

from ..filters import box_blur, guided_filter, smooth
from ..registry import register
from ..stage import BatchStage, StageContext


@dataclass(frozen=True)
class Preset:
    levels: int  # luma bands
    smoothing: float  # guided filter eps: larger flattens more
    ink: float  # 0 = no lines, 1 = black lines
    threshold: float  # DoG response that starts a line
    saturation: float


PRESETS = {
    "comic": Preset(levels=6, smoothing=0.01, ink=1.0, threshold=0.012, saturation=1.25),
    "soft": Preset(levels=10, smoothing=0.004, ink=0.6, threshold=0.02, saturation=1.1),
    "poster": Preset(levels=4, smoothing=0.02, ink=0.0, threshold=1.0, saturation=1.4),
}


@register("cartoonize", "classic")
class ClassicCartoonizer(BatchStage):
    name = "cartoonize"

    @classmethod
    def create(cls, variant, options):
        return cls(variant or "comic")

    def __init__(self, preset: str = "comic"):
        if preset not in PRESETS:
            raise UsageError(f"unknown classic cartoon preset '{preset}'", f"choose {', '.join(PRESETS)}")
        self.preset = PRESETS[preset]

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        p = self.preset
        radius = max(2, rgb.shape[-2] // 90)
        y, c = ycbcr(rgb)
        flat_y = guided_filter(y, guided_filter(y, y, radius, p.smoothing, 2), radius, p.smoothing, 2)
        flat_c = guided_filter(flat_y, c, radius, p.smoothing, 2)
        band = flat_y * p.levels
        step = band.floor() + torch.sigmoid(12 * (band - band.floor() - 0.5))  # soft-edged bands
        quantised = (step / p.levels).clamp(0, 1)
        dog = box_blur(y, max(1, radius // 3)) - smooth(y, max(1, radius // 2))
        ink = p.ink * ((-dog - p.threshold) * 200).clamp(0, 1)
        out = rgb_from_ycbcr(quantised * (1 - ink), flat_c * p.saturation * (1 - ink))
        return out
