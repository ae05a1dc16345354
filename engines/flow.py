"""Optical flow, backward warping and the occlusion test, shared by stabilizer, colorizer,
evaluation and training.

Conventions: a flow ``F`` from frame A to frame B is a tensor [N,2,H,W] of
(dx, dy) in pixels with A(p) ~ B(p + F(p)); ``warp(B, F)`` pulls B back onto
A's pixel grid. The occlusion test is Lai et al.'s forward-backward check
with their constants (MODELS.md, "Warping error").
"""

from __future__ import annotations

import functools
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dfstream.geometry import bilinear, with_opencv

from .filters import box_blur


class FlowEstimator(Protocol):
    """Anything that maps two luma images to the flow from the first to the second."""

    def __call__(self, a: torch.Tensor, b: torch.Tensor, initial: torch.Tensor | None = None) -> torch.Tensor:
        """a, b: [N,1,H,W] luma in [0,1] -> flow [N,2,H,W] from a to b, in pixels; ``initial``: a flow
        [N,2,H,W] to start the search from (a flow of the frames before carried on), else none."""


class DISFlow:
    """OpenCV's Dense Inverse Search: real time on a CPU (a few ms per 640x360 pair).

    ``preset``: ultrafast, fast or medium (OpenCV's presets); ``max_side``: frames
    larger than this are scaled down for the estimate and the flow scaled back up.
    Given an ``initial`` flow, DIS refines it (OpenCV's temporal propagation) instead
    of starting from none.
    """

    PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

    def __init__(self, preset: str = "fast", max_side: int = 1024):
        self.preset = preset
        self.max_side = max_side
        self._dis = cv2.DISOpticalFlow_create(self.PRESETS[preset])
        self._dis_from = cv2.DISOpticalFlow_create(self.PRESETS[preset])  # searches from an initial flow: they
        # leave OpenCV 5.1's DIS changed for later searches from none (by up to 0.005 px on ultrafast)
        self._recent: list[tuple] = []  # (tensor, index, size, image), newest first

    def _u8(self, x: torch.Tensor, i: int, size: tuple[int, int]) -> np.ndarray:
        """Frame ``i`` of ``x`` as the 8-bit image DIS takes, kept for the next calls: a pair is
        measured both ways, a frame against its neighbour and then the neighbour against it.
        Frames are known by identity: callers never change a luma in place."""
        for key in self._recent:
            if key[0] is x and key[1:3] == (i, size):
                return key[3]
        image = _to_u8(x[i, 0], size)
        self._recent = [(x, i, size, image), *self._recent[:2]]
        return image

    def __call__(self, a: torch.Tensor, b: torch.Tensor, initial: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = a.shape
        scale = min(1.0, self.max_side / max(h, w))
        width = max(12, round(w * scale))  # DIS takes no image under 12 pixels, and OpenCV 5.1's crashes
        size = (width, max(12 if width <= 32 else 32, round(h * scale)))  # on one wider than 32 under 32 high
        flow = torch.empty(n, 2, size[1], size[0])  # planar: warps and checks read contiguous planes
        if initial is not None:  # DIS refines a flow of the estimate's size, (dx, dy) per pixel, when given one
            initial = resized(initial, size[::-1]).permute(0, 2, 3, 1).contiguous().cpu().numpy()
        for i, planes in enumerate(flow.numpy()):
            dis, start = (self._dis, None) if initial is None else (self._dis_from, initial[i])
            planes[:] = dis.calc(self._u8(a, i, size), self._u8(b, i, size), start).transpose(2, 0, 1)
        return resized(flow.to(a.device), (h, w))


def resized(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A flow [N,2,h,w] brought to ``size`` (H, W): resampled bilinearly, its vectors scaled alike."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    return bilinear(flow, size) * flow.new_tensor([size[1] / w, size[0] / h]).view(1, 2, 1, 1)


def _to_u8(y: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    image = (y.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    if image.shape[::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


@functools.lru_cache(maxsize=8)
def _identity_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """grid_sample's coordinates of every pixel itself, [1,H,W,2] (align_corners=True)."""
    xs = torch.arange(w, device=device, dtype=dtype) * (2 / max(w - 1, 1)) - 1
    ys = torch.arange(h, device=device, dtype=dtype) * (2 / max(h - 1, 1)) - 1
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]


REMAP_EXACT = int(cv2.__version__.split(".")[0]) >= 5  # OpenCV 4 rounds remap's positions to 1/32 px


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(p) = x(p + flow(p)), bilinear, edges replicated."""
    return warps(flow, x)[0]


def warps(flow: torch.Tensor, *images: torch.Tensor, positions: list | None = None) -> list[torch.Tensor]:
    """``warp`` of each image along one flow, its read positions worked out once (through OpenCV's
    remap where ``with_opencv`` and it interpolates exactly: twice as fast as grid_sample on a CPU),
    or given: ``positions``, remap's (x, y) per image of the batch."""
    if REMAP_EXACT and with_opencv(flow) and all(map(with_opencv, images)):
        if positions is None:
            gx, gy = _pixel_grid(*flow.shape[-2:])
            positions = [(gx + f[0].numpy(), gy + f[1].numpy()) for f in flow]
        return [_remap(x.contiguous(), positions) for x in images]
    _, _, h, w = flow.shape
    step = flow.new_tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)])
    grid = _identity_grid(h, w, flow.device, flow.dtype) + flow.permute(0, 2, 3, 1) * step
    return [F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=True)
            for x in images]


class Sampling:
    """``warp`` along one flow [1,2,H,W] as a sparse linear map: ``pull`` pulls an image back along
    the flow (bilinear, edges replicated) and ``push`` is its transpose (each value spread back onto
    the four pixels it was read from), for least-squares solves over warped images."""

    def __init__(self, flow: torch.Tensor):
        self.flow = flow
        _, _, h, w = flow.shape
        x = torch.arange(w, dtype=flow.dtype, device=flow.device) + flow[0, 0]
        y = torch.arange(h, dtype=flow.dtype, device=flow.device)[:, None] + flow[0, 1]
        self.positions = [(x.numpy(), y.numpy())] if with_opencv(flow) else None  # for ``warps``
        x0, y0 = x.floor(), y.floor()
        fx, fy = (x - x0).flatten(), (y - y0).flatten()
        cols = [c.clamp(0, w - 1).long().flatten() for c in (x0, x0 + 1)]
        rows = [r.clamp(0, h - 1).long().flatten() * w for r in (y0, y0 + 1)]
        self.index = torch.stack([rows[0] + cols[0], rows[0] + cols[1], rows[1] + cols[0], rows[1] + cols[1]])
        self.weight = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])

    def pull(self, x: torch.Tensor) -> torch.Tensor:
        """``warp`` of x [1,C,H,W] along the flow."""
        return warps(self.flow, x, positions=self.positions)[0]

    def push(self, x: torch.Tensor) -> torch.Tensor:
        """The transpose of ``pull``: x [1,C,H,W] spread back to where it was read from."""
        flat = x.flatten(2)[0]
        out = torch.zeros_like(flat)
        for i, wt in zip(self.index, self.weight):
            out.index_add_(1, i, flat * wt)
        return out.view_as(x)


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's own x and y, [H,W] each."""
    return tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))


def _remap(x: torch.Tensor, positions: list[tuple[np.ndarray, np.ndarray]]) -> torch.Tensor:
    out = torch.empty_like(x)
    for src, dst, (mx, my) in zip(x.numpy(), out.numpy(), positions):
        for a, b in zip(src, dst):
            cv2.remap(a, mx, my, cv2.INTER_LINEAR, dst=b, borderMode=cv2.BORDER_REPLICATE)
    return out


def occlusion(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Lai et al.'s occlusion mask [N,1,H,W] (1 = occluded or motion boundary).

    ``forward``: flow t -> t+1; ``backward``: flow t+1 -> t.
    """
    du = _gradient_sq(forward[:, 0:1])
    dv = _gradient_sq(forward[:, 1:2])
    boundary = du + dv > 0.01 * _length_sq(forward) + 0.002
    return (inconsistent(forward, warp(backward, forward)) | boundary).to(forward.dtype)


def inconsistent(forward: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """Where Lai et al.'s forward-backward check fails [N,1,H,W] (bool): ``back`` is the backward
    flow already pulled along ``forward``."""
    return _length_sq(forward + back) > 0.01 * (_length_sq(forward) + _length_sq(back)) + 0.5


def leaves(flow: torch.Tensor, margin: float) -> torch.Tensor:
    """Where ``flow`` reads further than ``margin`` pixels outside the image it pulls from [N,1,H,W]
    (bool): a warp reads the replicated edge there, and the backward flow pulled along it is the
    edge's, so the forward-backward check can pass on content the image never showed."""
    _, _, h, w = flow.shape
    x = torch.arange(w, dtype=flow.dtype, device=flow.device)  # x + dx outside [-margin, w-1+margin]
    y = torch.arange(h, dtype=flow.dtype, device=flow.device)[:, None]
    out = flow[:, 0:1] < -margin - x
    out |= flow[:, 0:1] > w - 1 + margin - x
    out |= flow[:, 1:2] < -margin - y
    return out.logical_or_(flow[:, 1:2] > h - 1 + margin - y)


PHOTOMETRIC = 50.0  # Lai et al.'s mask: exp(-50 * |I_t - warp(I_other)|^2)


def likeness(y: torch.Tensor, pulled: torch.Tensor, radius: int = 0) -> torch.Tensor:
    """Lai et al.'s photometric mask exp(-50 e^2) per pixel in [0,1], e = y - pulled; with a
    ``radius``, e^2 is the mean over the (2r+1)^2 pixels around (a match of one pixel's luma by
    chance, a shadow's for a dark flag's, fails it)."""
    return torch.exp(-PHOTOMETRIC * box_blur((y - pulled) ** 2, radius))


def checked(estimator: FlowEstimator, y: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow from luma ``y`` to ``other`` and the ``likeness`` of ``y`` and ``other`` pulled along it."""
    flow = estimator(y, other)
    return flow, likeness(y, warp(other, flow))


def to_previous(ctx, estimator: FlowEstimator, y: torch.Tensor, previous: torch.Tensor):
    """``checked`` from ``y`` to the previous frame's luma, measured once per frame and size for all
    the stages that ask (a colorizer and the stabilizer after it): ``StageContext.memo``."""
    return ctx.memo(("flow to the previous frame", *y.shape[-2:]), lambda: checked(estimator, y, previous))


def from_previous(ctx, estimator: FlowEstimator, y: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The flow from the previous frame's luma to ``y``, measured once per frame and size (as
    ``to_previous``): with it, the forward-backward check."""
    return ctx.memo(("flow from the previous frame", *y.shape[-2:]), lambda: estimator(previous, y))


def _length_sq(flow: torch.Tensor) -> torch.Tensor:
    """dx^2 + dy^2 per pixel [N,1,H,W] (two slices: faster than a sum over channels on a CPU)."""
    return flow[:, 0:1] ** 2 + flow[:, 1:2] ** 2


def _gradient_sq(u: torch.Tensor) -> torch.Tensor:
    """|du/dx|^2 + |du/dy|^2 with forward differences (zero at the far edge)."""
    dx = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return dx**2 + dy**2
