"""Losses: Lai et al.'s temporal terms, perceptual terms on VGG features, and the substitute used
when no VGG weights are given.

Temporal terms (MODELS.md, section 2): flow is taken on the *input* frames; a
reference output is warped onto frame t and compared where the inputs agree,
with mask = exp(-50 * ||I_t - warp(I_ref)||^2) (squared norm over the colour
channels) and loss = mean(mask * |O_t - warp(O_ref)|). Short-term: the
reference is frame t-1; long-term: frame 0.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dfstream.engines import checkpoint
from dfstream.engines.flow import PHOTOMETRIC, warp
from dfstream.errors import DfstreamError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def agreement_mask(i_t: torch.Tensor, i_ref: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """[N,1,H,W]: exp(-50 * ||I_t - warp(I_ref, flow)||^2); ``flow`` from frame t to the reference."""
    return torch.exp(-PHOTOMETRIC * ((i_t - warp(i_ref, flow)) ** 2).sum(1, keepdim=True))


def temporal_loss(o_t: torch.Tensor, o_ref: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean(mask * |O_t - warp(O_ref, flow)|) over pixels and channels."""
    return (mask * (o_t - warp(o_ref, flow)).abs()).mean()


# torchvision's VGG ``features`` layouts: channel counts, "M" for max pooling
VGG_LAYOUTS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# the layer each loss reads, as the index of the last ``features`` module used
VGG_TAPS = {"relu4_3": ("vgg16", 22), "conv4_4": ("vgg19", 25)}


class VGGFeatures(nn.Module):
    """torchvision's VGG ``features`` up to one layer (RGB in [0,1], ImageNet-normalised inside),
    frozen. Loads torchvision's published state dict (vgg16-397923af.pth, vgg19-dcbb9e9d.pth)."""

    def __init__(self, tap: str):
        super().__init__()
        arch, last = VGG_TAPS[tap]
        layers: list[nn.Module] = []
        channels = 3
        for v in VGG_LAYOUTS[arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=False)]
                channels = v
        self.features = nn.Sequential(*layers[: last + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.arch = arch

    @classmethod
    def from_file(cls, path: str | Path, tap: str) -> VGGFeatures:
        """Read the ``features.*`` tensors the tap needs; every one must be present with its shape."""
        module = cls(tap)
        state = checkpoint.read(path)
        wanted = {f"features.{k}": v for k, v in module.features.state_dict().items()}
        for key, value in wanted.items():
            if key not in state:
                raise DfstreamError(f"'{Path(path).name}' lacks {key}: it is not torchvision's {module.arch}",
                                    f"give torchvision's {module.arch} weights file")
            if state[key].shape != value.shape:
                raise DfstreamError(f"'{Path(path).name}': {key} has shape {tuple(state[key].shape)}, "
                                    f"expected {tuple(value.shape)}", f"give torchvision's {module.arch} weights file")
        module.features.load_state_dict({k[len("features."):]: state[k] for k in wanted})
        return module.eval().requires_grad_(False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.features((rgb - self.mean) / self.std)


def structure_loss(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """The substitute for a perceptual loss when no VGG weights are given: L1 of the images and
    of their horizontal and vertical gradients, at ``scales`` scales (each half the last). It
    keeps colours, edges and texture without any learnt features."""
    total = a.new_zeros(())
    for s in range(scales):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        d = a - b
        total = total + d.abs().mean() + (d[..., :, 1:] - d[..., :, :-1]).abs().mean() \
            + (d[..., 1:, :] - d[..., :-1, :]).abs().mean()
        if min(a.shape[-2:]) < 4:
            break
    return total


class Perceptual(nn.Module):
    """L1 between VGG features of two RGB [0,1] images, or ``structure_loss`` without VGG."""

    def __init__(self, vgg: VGGFeatures | None):
        super().__init__()
        self.vgg = vgg

    @property
    def name(self) -> str:
        return f"L1 of {self.vgg.arch} features" if self.vgg else "L1 of pixels and gradients (no VGG weights)"

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.vgg is None:
            return structure_loss(a, b)
        return F.l1_loss(self.vgg(a), self.vgg(b))


def perceptual(vgg_file: str | None, tap: str) -> Perceptual:
    return Perceptual(VGGFeatures.from_file(vgg_file, tap) if vgg_file else None)
