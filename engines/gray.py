"""``gray``: black-and-white from colour, as DAVIS-gray was made (BT.601 luma in all channels)."""

from __future__ import annotations

import torch

from dfstream.colour import luma

from .registry import register
from .stage import BatchStage, StageContext

@register("gray", "bt601")
class Gray(BatchStage):
    name = "gray"

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        return luma(rgb, "bt601").expand_as(rgb)
