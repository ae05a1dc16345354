"""``gray``: black-and-white from colour: the luma in all channels (the decoded Y' plane itself
when it is the first stage, so the written luma is the input's code for code)."""

from __future__ import annotations

import torch

from dfstream.colour import luma

from .registry import register
from .stage import BatchStage, StageContext

@register("gray", "bt601")
class Gray(BatchStage):
    name = "gray"

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        y = ctx.luma if ctx.untouched else luma(rgb, ctx.matrix)
        return y.expand_as(rgb)
