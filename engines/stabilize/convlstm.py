"""``convlstm``: Lai et al. 2018's TransformNet with a ConvLSTM, the learned stabilizer.

O_t = P_t + tanh(net([P_t, O_{t-1}], [I_t, I_{t-1}], h, c)) with P the processed
frame, I the input frame and O the output; O_0 = P_0 after every reset. The
recurrent state (h, c) is an explicit input and output of ``forward`` so that
exported graphs carry it the same way. The published code builds instance
norms but never applies them: there is no normalisation, and the checkpoints'
``norm_layer`` buffers are dropped on import.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dfstream.colour import merge_chroma, ycbcr
from dfstream.geometry import crop, pad_to_multiple

from .. import store
from ..network import NetworkStage, runner
from ..registry import register
from ..stage import RecurrentStage, StageContext

MULTIPLE = 4  # two stride-2 levels


class ConvLayer(nn.Module):
    """Reflection pad k//2 -> conv (with bias); ``up``: nearest x2 first (UpsampleConvLayer)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, up: bool = False):
        super().__init__()
        self.conv2d = nn.Conv2d(cin, cout, k, stride)
        self.up = up

    def forward(self, x):
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        k = self.conv2d.kernel_size[0] // 2
        return self.conv2d(F.pad(x, (k, k, k, k), mode="reflect"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3)

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class ConvLSTM(nn.Module):
    def __init__(self, channels: int, hidden: int, k: int = 3):
        super().__init__()
        self.Gates = nn.Conv2d(channels + hidden, 4 * hidden, k, padding=k // 2)

    def forward(self, x, h, c):
        i, f, o, g = self.Gates(torch.cat((x, h), 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class TransformNet(nn.Module):
    """12 channels in ([P_t, O_{t-1}, I_t, I_{t-1}], RGB in [0,1]) -> tanh residual, new (h, c)."""

    def __init__(self, nf: int = 32, blocks: int = 5):
        super().__init__()
        self.hidden = nf * 4
        self.conv1a, self.conv1b = ConvLayer(6, nf, 7), ConvLayer(6, nf, 7)
        self.conv2a, self.conv2b = ConvLayer(nf, nf * 2, 3, 2), ConvLayer(nf, nf * 2, 3, 2)
        self.conv3 = ConvLayer(nf * 4, nf * 4, 3, 2)
        self.ResBlocks = nn.ModuleList(ResidualBlock(nf * 4) for _ in range(blocks))
        self.convlstm = ConvLSTM(nf * 4, nf * 4)
        self.deconv1 = ConvLayer(nf * 4, nf * 2, 3, up=True)
        self.deconv2 = ConvLayer(nf * 4, nf, 3, up=True)
        self.deconv3 = ConvLayer(nf * 2, 3, 7)

    def forward(self, x, h, c):
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        e1a, e1b = act(self.conv1a(x[:, :6])), act(self.conv1b(x[:, 6:]))
        e2a, e2b = act(self.conv2a(e1a)), act(self.conv2b(e1b))
        r = act(self.conv3(torch.cat((e2a, e2b), 1)))
        for block in self.ResBlocks:
            r = block(r)
        h, c = self.convlstm(r, h, c)
        d2 = act(self.deconv1(h))
        d1 = act(self.deconv2(torch.cat((d2, e2a), 1)))
        return torch.tanh(self.deconv3(torch.cat((d1, e1a), 1))), h, c


class ConvLSTMStep(nn.Module):
    """One stabilizer step with every input and output explicit (the exported graph's form):
    (P_t, O_{t-1}, I_t, I_{t-1}, h, c) -> (O_t, h, c)."""

    def __init__(self, net: TransformNet):
        super().__init__()
        self.net = net

    def forward(self, p, o_prev, i, i_prev, h, c):
        residual, h, c = self.net(torch.cat((p, o_prev, i, i_prev), 1), h, c)
        return p + residual, h, c


def convert(state: dict) -> dict:
    """Drop the never-applied instance norms' running statistics."""
    return {k: v for k, v in state.items() if ".norm_layer." not in k}


ARCHITECTURE = store.add(store.Architecture("convlstm", TransformNet, convert, container=("model",)))


@register("stabilize", "convlstm")
class ConvLSTMStabilizer(NetworkStage, RecurrentStage):
    """Carries (h, c, O_{t-1}, I_{t-1}) on the device across frames and batches."""

    name = "stabilize"
    variants = {"default": "convlstm"}

    def __init__(self, net: TransformNet, options=None):
        self.hidden = net.hidden
        self.net = runner(ConvLSTMStep(net), options)
        self.chroma_only = self.keeps_luma = getattr(options, "chroma_only", False)
        self.reset()

    def reset(self) -> None:
        self._state: tuple[torch.Tensor, ...] | None = None  # h, c, O_{t-1}, I_{t-1} (padded)

    def step(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        height, width = rgb.shape[-2:]
        p, i = pad_to_multiple(rgb, MULTIPLE), pad_to_multiple(ctx.source.to(rgb.dtype), MULTIPLE)
        if self._state is None:
            out = p  # O_0 = P_0
            h = p.new_zeros(1, self.hidden, p.shape[2] // MULTIPLE, p.shape[3] // MULTIPLE)
            c = h.clone()
        else:
            h, c, o_prev, i_prev = self._resized(self._state, p.shape[-2:])
            out, h, c = self.net(p, o_prev, i, i_prev, h, c)
        self._state = (h, c, out, i)
        result = crop(out, height, width).clamp(0, 1)
        return merge_chroma(ctx.luma, ycbcr(result, ctx.matrix)[1], ctx.matrix) if self.chroma_only else result

    @staticmethod
    def _resized(state, size) -> tuple[torch.Tensor, ...]:
        """The state brought to a new work size (realtime scaling); unchanged otherwise."""
        if state[2].shape[-2:] == size:
            return state
        small = (size[0] // MULTIPLE, size[1] // MULTIPLE)
        h, c = (F.interpolate(t, size=small, mode="bilinear", align_corners=False) for t in state[:2])
        o, i = (F.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in state[2:])
        return h, c, o, i
