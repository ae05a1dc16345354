"""Video quality measures: warping error (Lai et al. 2018), PSNR, colourfulness (Hasler-Suesstrunk).

All take R'G'B' tensors in [0,1]; running accumulators let long videos be
measured frame by frame in constant memory.
"""

from __future__ import annotations

import math

import torch

from .flow import occlusion, warp


def frame_warping_error(o_t: torch.Tensor, o_next: torch.Tensor, forward: torch.Tensor,
                        backward: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """E_t = sum(M * (O_t - warp(O_t+1))^2) / sum(M), summed over channels, M = non-occluded.

    ``forward``: flow from input frame t to t+1; ``backward``: from t+1 to t; ``mask``: M, when
    already worked out from them (several videos measured along the same flows).
    """
    if mask is None:
        mask = 1 - occlusion(forward, backward)
    diff = (o_t - warp(o_next, forward)) ** 2
    return float((mask * diff).sum() / mask.sum().clamp_min(1))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return psnr_of(float(((a - b) ** 2).mean()))


def psnr_of(mse: float) -> float:
    """PSNR of a mean square error of values in [0, 1]."""
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def colourfulness(rgb: torch.Tensor, dtype: torch.dtype = torch.float64) -> float:
    """Hasler and Suesstrunk (2003) M on the 0-255 scale, averaged over the frames of the batch, in
    float64 as a measure (an engine's float32 agrees to 1e-6 at a tenth of the time)."""
    x = rgb.to(dtype) * 255
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    std = (rg.flatten(1).var(1, unbiased=False) + yb.flatten(1).var(1, unbiased=False)).sqrt()
    mean = (rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2).sqrt()
    return float((std + 0.3 * mean).mean())


class Mean:
    """Running mean of per-frame values."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None
