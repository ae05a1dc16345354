"""Work size policy: cap the height, pad to a stage's multiple by reflection, crop back."""

from __future__ import annotations

import cv2
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


def chroma_size(height: int, width: int, cap: int = 480, scale: float = 1.0) -> tuple[int, int]:
    """Where chroma is worked out: half the frame (the size of 4:2:0 chroma, all an output keeps),
    320 to ``cap`` pixels on the longer side, never larger than the frame. ``scale``: the work
    size against the run's own (below 1 while a realtime run has lowered it): both bounds shrink
    with it, so that the work does too."""
    return within(height, width, round(min(max(max(height, width) // 2, 320 * scale), cap * scale)))


def on_planes(x: torch.Tensor, size: tuple[int, int], fn) -> torch.Tensor:
    """``fn(src, dst)`` (an OpenCV call) on every 2-D plane of a CPU float32 tensor [N,C,H,W],
    into a new one [N,C,*size]."""
    n, c = x.shape[:2]
    out = torch.empty(n, c, *size)
    for src, dst in zip(x.reshape(n * c, *x.shape[-2:]).numpy(), out.view(n * c, *size).numpy()):
        fn(src, dst)
    return out


def with_opencv(x: torch.Tensor) -> bool:
    """Whether a filter may go through OpenCV: a CPU float32 tensor without gradients (OpenCV's
    SIMD kernels do the same sums several times faster than torch's there)."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and not x.requires_grad


def area(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` [N,C,H,W] box-averaged to ``size`` (``F.interpolate``'s "area"), through OpenCV where
    ``with_opencv`` and the factors are whole."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    if not with_opencv(x) or h % size[0] or w % size[1]:
        return F.interpolate(x, size=size, mode="area")
    return _resized(x, size, cv2.INTER_AREA)


def bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` [N,C,H,W] resampled bilinearly to ``size`` (``F.interpolate``'s, pixel centres aligned),
    through OpenCV where ``with_opencv``."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if not with_opencv(x):
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return _resized(x, size, cv2.INTER_LINEAR)


def _resized(x: torch.Tensor, size: tuple[int, int], interpolation: int) -> torch.Tensor:
    return on_planes(x, size, lambda src, dst: cv2.resize(src, size[::-1], dst=dst, interpolation=interpolation))


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
