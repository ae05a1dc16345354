"""``cartoongan:<style>``: the CartoonGAN generator (Chen et al. 2018), styles hayao, hosoda,
paprika, shinkai.

BGR in [-1, 1] in and out (tanh), as the published Torch-converted weights
expect; the instance norm is the authors' own (per-channel scale and shift,
biased variance, eps 1e-9, no running statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import store
from ..catalog import CARTOONGAN_STYLES
from ..network import NetworkStage, runner
from ..registry import register
from ..stage import BatchStage, StageContext


class InstanceNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-9):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mean = x.mean((2, 3), keepdim=True)
        var = x.var((2, 3), unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.scale.view(1, -1, 1, 1) \
            + self.shift.view(1, -1, 1, 1)


def _reflect(x, pad: int):
    return F.pad(x, (pad,) * 4, mode="reflect")


class CartoonGAN(nn.Module):
    """Flat layout with the published key names (``conv01_1``, ``in01_1``, ... ``deconv03_1``)."""

    def __init__(self):
        super().__init__()
        self.conv01_1, self.in01_1 = nn.Conv2d(3, 64, 7), InstanceNorm(64)
        self.conv02_1, self.conv02_2 = nn.Conv2d(64, 128, 3, 2, 1), nn.Conv2d(128, 128, 3, 1, 1)
        self.in02_1 = InstanceNorm(128)
        self.conv03_1, self.conv03_2 = nn.Conv2d(128, 256, 3, 2, 1), nn.Conv2d(256, 256, 3, 1, 1)
        self.in03_1 = InstanceNorm(256)
        for b in range(4, 12):  # eight residual blocks
            for j in (1, 2):
                setattr(self, f"conv{b:02d}_{j}", nn.Conv2d(256, 256, 3))
                setattr(self, f"in{b:02d}_{j}", InstanceNorm(256))
        self.deconv01_1 = nn.ConvTranspose2d(256, 128, 3, 2, 1, 1)
        self.deconv01_2, self.in12_1 = nn.Conv2d(128, 128, 3, 1, 1), InstanceNorm(128)
        self.deconv02_1 = nn.ConvTranspose2d(128, 64, 3, 2, 1, 1)
        self.deconv02_2, self.in13_1 = nn.Conv2d(64, 64, 3, 1, 1), InstanceNorm(64)
        self.deconv03_1 = nn.Conv2d(64, 3, 7)

    def forward(self, x):
        x = F.relu(self.in01_1(self.conv01_1(_reflect(x, 3))))
        x = F.relu(self.in02_1(self.conv02_2(self.conv02_1(x))))
        x = F.relu(self.in03_1(self.conv03_2(self.conv03_1(x))))
        for b in range(4, 12):
            y = F.relu(getattr(self, f"in{b:02d}_1")(getattr(self, f"conv{b:02d}_1")(_reflect(x, 1))))
            x = x + getattr(self, f"in{b:02d}_2")(getattr(self, f"conv{b:02d}_2")(_reflect(y, 1)))
        x = F.relu(self.in12_1(self.deconv01_2(self.deconv01_1(x))))
        x = F.relu(self.in13_1(self.deconv02_2(self.deconv02_1(x))))
        return torch.tanh(self.deconv03_1(_reflect(x, 3)))


ARCHITECTURE = store.add(store.Architecture("cartoongan", CartoonGAN))


@register("cartoonize", "cartoongan")
class CartoonGANCartoonizer(NetworkStage, BatchStage):
    """RGB [0,1] -> BGR [-1,1] -> generator -> RGB [0,1]."""

    name = "cartoonize"
    multiple = 4  # two stride-2 levels undone by transposed convolutions
    variants = {s: f"cartoongan-{s}" for s in CARTOONGAN_STYLES}

    def __init__(self, net: nn.Module, options=None):
        self.net = runner(net, options)

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        out = self.net(rgb.flip(1) * 2 - 1).to(rgb.dtype)
        return (out.flip(1) * 0.5 + 0.5).clamp(0, 1)
