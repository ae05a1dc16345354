"""``deoldify-video|stable|artistic``: DeOldify's U-Net generator (fastai v1 DynamicUnet).

Keys follow the published files (``layers.N.*``). Spectral and weight norm are
folded into plain weights when a checkpoint is imported, so the module holds
ordinary convolutions. Video and stable: ResNet-101 encoder with "wide"
decoder blocks; artistic: ResNet-34 with "deep" blocks. The network sees a
square grey image of 16 * render factor pixels; only its chroma is kept and
merged with the frame's own full-resolution luma.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dfstream.colour import luma, merge_chroma, ycbcr
from dfstream.errors import UsageError

from .. import checkpoint, store
from ..network import NetworkStage, runner
from ..registry import register
from ..stage import BatchStage, StageContext

MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, as DeOldify normalises
STD = (0.229, 0.224, 0.225)


# --- encoder: torchvision's ResNet layout, written out -------------------------------------

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(cin, planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


def resnet_body(block, depths: tuple[int, ...]) -> tuple[nn.Sequential, list[int]]:
    """conv1, bn1, relu, maxpool, layer1..4, and the channel count after the stem and each layer."""
    layers, cin, widths = [], 64, [64]
    for i, depth in enumerate(depths):
        planes, stride = 64 * 2**i, 1 if i == 0 else 2
        blocks = [block(cin, planes, stride)] + [block(planes * block.expansion, planes)
                                                 for _ in range(depth - 1)]
        layers.append(nn.Sequential(*blocks))
        cin = planes * block.expansion
        widths.append(cin)
    stem = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    return nn.Sequential(*stem, *layers), widths


# --- decoder: fastai's layers ---------------------------------------------------------------

def conv_block(cin: int, cout: int, ks: int = 3, activation: bool = True, bn: bool = True,
               attention: bool = False) -> nn.Sequential:
    """fastai ``custom_conv_layer`` with spectral norm (folded): conv [-> ReLU] [-> BN] [-> attention]."""
    layers = [nn.Conv2d(cin, cout, ks, padding=(ks - 1) // 2, bias=not bn)]
    if activation:
        layers.append(nn.ReLU())
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if attention:
        layers.append(SelfAttention(cout))
    return nn.Sequential(*layers)


class SelfAttention(nn.Module):
    """SAGAN self-attention as fastai v1 writes it (softmax over dim 1 of f^T g)."""

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv1d(channels, channels // 8, 1, bias=False)
        self.key = nn.Conv1d(channels, channels // 8, 1, bias=False)
        self.value = nn.Conv1d(channels, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w)
        f, g, v = self.query(flat), self.key(flat), self.value(flat)
        beta = torch.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        return (self.gamma * torch.bmm(v, beta) + flat).reshape(n, c, h, w)


class PixelShuffleUp(nn.Module):
    """fastai ``(Custom)PixelShuffle_ICNR``: 1x1 conv (+BN) -> ReLU -> shuffle x2 -> blur.

    The blur (replication pad left/top, 2x2 average) is always on in the published models."""

    def __init__(self, cin: int, cout: int, bn: bool):
        super().__init__()
        self.conv = conv_block(cin, cout * 4, ks=1, activation=False, bn=bn)

    def forward(self, x):
        x = F.pixel_shuffle(F.relu(self.conv(x)), 2)
        return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class UnetBlock(nn.Module):
    """Upsample, match the skip's size, concat [up, BN(skip)], ReLU, then one ("wide")
    or two ("deep") conv layers."""

    def __init__(self, up_in: int, skip: int, up_out: int, widths: tuple[int, ...], attention: bool):
        super().__init__()
        self.shuf = PixelShuffleUp(up_in, up_out, bn=True)
        self.bn = nn.BatchNorm2d(skip)
        cin = up_out + skip
        names = ["conv"] if len(widths) == 1 else ["conv1", "conv2"]
        for i, (name, width) in enumerate(zip(names, widths)):
            setattr(self, name, conv_block(cin, width, attention=attention and i == len(widths) - 1))
            cin = width
        self.names = names

    def forward(self, x, skip):
        # to the skip's size when the encoder rounded up (an identity when the sizes agree); always
        # applied, so that exported graphs keep it for every size
        up = F.interpolate(self.shuf(x), skip.shape[-2:], mode="nearest")
        x = F.relu(torch.cat([up, self.bn(skip)], 1))
        for name in self.names:
            x = getattr(self, name)(x)
        return x


class ResBlock(nn.Module):
    """fastai ``res_block`` with spectral norm: x + ReLU(conv(ReLU(conv(x))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.Sequential(conv_block(channels, channels, bn=False),
                                    conv_block(channels, channels, bn=False))

    def forward(self, x):
        return x + self.layers(x)


@dataclass(frozen=True)
class Config:
    block: type
    depths: tuple[int, ...]
    deep: bool  # two conv layers per decoder block, widths x nf_factor
    nf_factor: float


VIDEO = Config(Bottleneck, (3, 4, 23, 3), deep=False, nf_factor=2)
ARTISTIC = Config(BasicBlock, (3, 4, 6, 3), deep=True, nf_factor=1.5)


class DeOldify(nn.Module):
    """``layers``: encoder, BN, ReLU, middle, four decoder blocks, pixel shuffle, (merge),
    residual block, 1x1 conv, (sigmoid range -3..3); output in normalised RGB."""

    def __init__(self, config: Config = VIDEO):
        super().__init__()
        encoder, widths = resnet_body(config.block, config.depths)
        top = widths[-1]
        middle = nn.Sequential(conv_block(top, top * 2), conv_block(top * 2, top))
        blocks, x = [], top
        skips = [widths[3], widths[2], widths[1], widths[0]]  # layer3, layer2, layer1, stem ReLU
        for i, skip in enumerate(skips):
            final = i == len(skips) - 1
            if config.deep:
                up_out = x // 2
                cin = up_out + skip
                width = int((cin if not final else cin // 2) * config.nf_factor)
                block = UnetBlock(x, skip, up_out, (width, width), attention=i == 1)
            else:
                n_out = int(512 * config.nf_factor) // (2 if final else 1)
                width = up_out = n_out // 2
                block = UnetBlock(x, skip, up_out, (width,), attention=i == 1)
            blocks.append(block)
            x = width
        head = PixelShuffleUp(x, x, bn=False)  # weight norm (folded), with bias
        x += 3
        self.layers = nn.ModuleList([encoder, nn.BatchNorm2d(top), nn.ReLU(), middle, *blocks, head,
                                     nn.Identity(), ResBlock(x),
                                     conv_block(x, 3, ks=1, activation=False, bn=False), nn.Identity()])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        layers = self.layers
        skips, x = [], image
        for i, module in enumerate(layers[0]):
            x = module(x)
            if i in (2, 4, 5, 6):  # stem ReLU, layer1, layer2, layer3
                skips.append(x)
        x = layers[3](F.relu(layers[1](x)))
        for block, skip in zip(layers[4:8], reversed(skips)):
            x = block(x, skip)
        x = torch.cat([layers[8](x), image], 1)
        x = layers[11](layers[10](x))
        return torch.sigmoid(x) * 6 - 3


def convert(state: dict) -> dict:
    """Fold spectral norm (every conv but the encoder's) and the head's weight norm."""
    return checkpoint.fold_weight_norm(checkpoint.fold_spectral_norm(state))


def _architecture(name: str, config: Config) -> store.Architecture:
    return store.Architecture(name, lambda: DeOldify(config), convert, container=("model",), allow=(slice,))


for _variant, _config in (("video", VIDEO), ("stable", VIDEO), ("artistic", ARTISTIC)):
    store.add(_architecture(f"deoldify-{_variant}", _config))


class DeOldifyColorizer(NetworkStage, BatchStage):
    """Grey -> square of 16*R pixels -> network -> chroma at frame size + the frame's own luma."""

    name = "colorize"
    render_factor = 21

    def __init__(self, net: nn.Module, options=None, render_factor: int | None = None):
        self.net = runner(net, options)
        factor = render_factor or getattr(options, "render_factor", None) or self.render_factor
        if not 1 <= factor <= 64:
            raise UsageError(f"render factor {factor} is out of range", "use 7 to 45 (default "
                             f"{self.render_factor}); the network sees 16x that many pixels square")
        self.size = 16 * factor

    def network_input(self, rgb: torch.Tensor) -> torch.Tensor:
        """The frames as DeOldify feeds them: grey in three channels, resized square, normalised."""
        grey = F.interpolate(luma(rgb, "bt601"), size=(self.size, self.size), mode="bilinear",
                             align_corners=False, antialias=True).clamp(0, 1)
        mean, std = rgb.new_tensor(MEAN).view(1, 3, 1, 1), rgb.new_tensor(STD).view(1, 3, 1, 1)
        return (grey - mean) / std

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        x = self.net(self.network_input(rgb)).to(rgb.dtype)
        mean, std = rgb.new_tensor(MEAN).view(1, 3, 1, 1), rgb.new_tensor(STD).view(1, 3, 1, 1)
        colour = (x * std + mean).clamp(0, 1)
        colour = F.interpolate(colour, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        return merge_chroma(luma(rgb, ctx.matrix), ycbcr(colour, ctx.matrix)[1], ctx.matrix)


@register("colorize", "deoldify-video")
class DeOldifyVideo(DeOldifyColorizer):
    variants = {"video": "deoldify-video"}


@register("colorize", "deoldify-stable")
class DeOldifyStable(DeOldifyColorizer):
    variants = {"stable": "deoldify-stable"}
    render_factor = 35


@register("colorize", "deoldify-artistic")
class DeOldifyArtistic(DeOldifyColorizer):
    variants = {"artistic": "deoldify-artistic"}
    render_factor = 35
