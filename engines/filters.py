"""Small image filters in torch shared by the weights-free engines (kornia style: pure tensor ops)."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dfstream.geometry import area, bilinear, on_planes, with_opencv


def box_blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, as two 1-D passes; windows are cut at the borders, not padded."""
    if radius < 1:
        return x
    k = 2 * radius + 1
    if with_opencv(x):
        shares = _window_shares(*x.shape[-2:], k)
        return on_planes(x, x.shape[-2:], lambda src, dst: cv2.multiply(
            cv2.boxFilter(src, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT), shares, dst=dst))
    x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, radius), count_include_pad=False)
    return F.avg_pool2d(x, (k, 1), stride=1, padding=(radius, 0), count_include_pad=False)


@functools.lru_cache(maxsize=16)
def _window_shares(h: int, w: int, k: int) -> np.ndarray:
    """1 / the number of pixels in each k x k window cut at the borders."""
    return 1 / cv2.boxFilter(np.ones((h, w), np.float32), -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)


def smooth(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Two box passes: a cheap near-Gaussian low-pass."""
    return box_blur(box_blur(x, radius), radius)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels, as two 1-D passes over edges replicated."""
    if sigma <= 0:
        return x
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(taps / sigma) ** 2 / 2)
    kernel = (kernel / kernel.sum()).expand(x.shape[1], 1, -1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel[..., None, :], groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel[..., None], groups=x.shape[1])


def linear_fit(guide: torch.Tensor, x: torch.Tensor, radius: int, eps: float):
    """Least squares of x ~ a * guide + b over each (2r+1)^2 window (the guided filter's model).

    ``guide`` has one channel (shared) or as many as ``x`` (channel by channel).
    """
    mean_g, mean_x = box_blur(guide, radius), box_blur(x, radius)
    cov = box_blur(guide * x, radius) - mean_g * mean_x
    var = box_blur(guide * guide, radius) - mean_g * mean_g
    a = cov / (var + eps)
    return a, mean_x - a * mean_g


def guided_filter(guide: torch.Tensor, x: torch.Tensor, radius: int, eps: float,
                  scale: int = 1) -> torch.Tensor:
    """He et al.'s guided filter with a one-channel guide [N,1,H,W]: edge-aware smoothing of x.

    ``scale`` > 1 fits the local linear model on a subsampled image and applies it
    at full size (He and Sun's fast guided filter); ``radius`` is in full-size pixels.
    """
    size = guide.shape[-2:]
    g, v = guide, x
    if scale > 1:
        small = (max(1, size[0] // scale), max(1, size[1] // scale))
        g, v = area(guide, small), area(x, small)
        radius = max(1, radius // scale)
    a, b = linear_fit(g, v, radius, eps)
    a, b = box_blur(a, radius), box_blur(b, radius)
    if scale > 1:
        a, b = bilinear(a, size), bilinear(b, size)
    return a * guide + b
