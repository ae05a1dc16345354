"""Work size policy: cap the height, pad to a stage's multiple by reflection, crop back."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def work_size(height: int, width: int, max_height: int | None) -> tuple[int, int]:
    """The size stages run at: the source's, or scaled down to ``max_height`` (even sides)."""
    if not max_height or height <= max_height:
        return height, width
    scale = max_height / height
    return max_height - max_height % 2, max(2, round(width * scale / 2) * 2)


def within(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled down so that the longer side is at most ``max_side`` (8 px at least)."""
    scale = min(1.0, max_side / max(height, width))
    return max(8, round(height * scale)), max(8, round(width * scale))


def chroma_size(height: int, width: int, cap: int = 480) -> tuple[int, int]:
    """Where chroma is worked out: half the frame (the size of 4:2:0 chroma, all an output keeps),
    320 to ``cap`` pixels on the longer side, never larger than the frame."""
    return within(height, width, min(max(max(height, width) // 2, 320), cap))


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad the bottom and right so both sides are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return x[..., :height, :width]
