"""``animegan2:<style>``: the AnimeGANv2 generator (bryandlee/animegan2-pytorch layout).

RGB in [-1, 1] in and out; GroupNorm(1) + LeakyReLU(0.2) blocks, inverted
residual blocks and bilinear upsampling (align_corners, the model's default),
so no checkerboard and about half of CartoonGAN's compute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import store
from ..catalog import ANIMEGAN_STYLES
from ..network import NetworkStage, runner
from ..registry import register
from ..stage import BatchStage, StageContext


class ConvNormLReLU(nn.Sequential):
    """Reflection pad -> conv -> GroupNorm(1) -> LeakyReLU(0.2); keys .1 (conv) and .2 (norm)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, pad=1, groups: int = 1,
                 bias: bool = False):
        super().__init__(nn.ReflectionPad2d(pad), nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=bias),
                         nn.GroupNorm(1, cout), nn.LeakyReLU(0.2))


class InvertedResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int = 2):
        super().__init__()
        mid = cin * expansion
        self.residual = cin == cout
        self.layers = nn.Sequential(ConvNormLReLU(cin, mid, k=1, pad=0),
                                    ConvNormLReLU(mid, mid, groups=mid, bias=True),
                                    nn.Conv2d(mid, cout, 1, bias=False), nn.GroupNorm(1, cout))

    def forward(self, x):
        out = self.layers(x)
        return x + out if self.residual else out


class AnimeGANv2(nn.Module):
    def __init__(self):
        super().__init__()
        down = (0, 1, 0, 1)  # stride-2 convs pad right and bottom only
        self.block_a = nn.Sequential(ConvNormLReLU(3, 32, k=7, pad=3), ConvNormLReLU(32, 64, stride=2, pad=down),
                                     ConvNormLReLU(64, 64))
        self.block_b = nn.Sequential(ConvNormLReLU(64, 128, stride=2, pad=down), ConvNormLReLU(128, 128))
        self.block_c = nn.Sequential(ConvNormLReLU(128, 128), InvertedResBlock(128, 256),
                                     *[InvertedResBlock(256, 256) for _ in range(3)], ConvNormLReLU(256, 128))
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(ConvNormLReLU(128, 64), ConvNormLReLU(64, 64),
                                     ConvNormLReLU(64, 32, k=7, pad=3))
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, 1, bias=False), nn.Tanh())

    def forward(self, x):
        out = self.block_a(x)
        half = out.shape[-2:]
        out = self.block_c(self.block_b(out))
        out = self.block_d(F.interpolate(out, half, mode="bilinear", align_corners=True))
        out = self.block_e(F.interpolate(out, x.shape[-2:], mode="bilinear", align_corners=True))
        return self.out_layer(out)


ARCHITECTURE = store.add(store.Architecture("animegan2", AnimeGANv2))


@register("cartoonize", "animegan2")
class AnimeGANCartoonizer(NetworkStage, BatchStage):
    """RGB [0,1] -> [-1,1] -> generator -> RGB [0,1]."""

    name = "cartoonize"
    variants = {s: f"animegan2-{s}" for s in ANIMEGAN_STYLES}

    def __init__(self, net: nn.Module, options=None):
        self.net = runner(net, options)

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        return (self.net(rgb * 2 - 1).to(rgb.dtype) * 0.5 + 0.5).clamp(0, 1)
