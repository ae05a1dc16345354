"""Small image filters in torch shared by the weights-free engines (kornia style: pure tensor ops)."""

from __future__ import annotations

import torch


def box_blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window; windows are cut at the borders, not padded.

    Separable running sums: the cost does not grow with the radius.
    """
    if radius < 1:
        return x
    return _box_1d(_box_1d(x, radius, -1), radius, -2)


def _box_1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    sums = torch.cat((torch.zeros_like(x.narrow(dim, 0, 1)), x.cumsum(dim)), dim)
    idx = torch.arange(n, device=x.device)
    hi, lo = (idx + radius + 1).clamp(max=n), (idx - radius).clamp(min=0)
    shape = [1] * x.dim()
    shape[dim] = n
    count = (hi - lo).to(x.dtype).view(shape)
    return (sums.index_select(dim, hi) - sums.index_select(dim, lo)) / count


def smooth(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Two box passes: a cheap near-Gaussian low-pass."""
    return box_blur(box_blur(x, radius), radius)


def guided_filter(guide: torch.Tensor, x: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter with a one-channel guide [N,1,H,W]: edge-aware smoothing of x."""
    mean_g = box_blur(guide, radius)
    mean_x = box_blur(x, radius)
    cov = box_blur(guide * x, radius) - mean_g * mean_x
    var = box_blur(guide * guide, radius) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_x - a * mean_g
    return box_blur(a, radius) * guide + box_blur(b, radius)
