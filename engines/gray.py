"""``gray``: black-and-white from colour, as DAVIS-gray was made (BT.601 luma in all channels)."""

from __future__ import annotations

import torch

from .registry import register
from .stage import BatchStage, StageContext

BT601 = (0.299, 0.587, 0.114)


@register("gray", "bt601")
class Gray(BatchStage):
    name = "gray"

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        w = rgb.new_tensor(BT601).view(1, 3, 1, 1)
        return (rgb * w).sum(1, keepdim=True).expand_as(rgb).contiguous()
