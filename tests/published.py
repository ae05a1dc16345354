"""Checkpoints in the published layouts, and fp64 plain-torch references written from MODELS.md.

The references use only ``torch.nn.functional`` and the published state dicts
(spectral/weight norm applied from their stored factors), never dfstream's modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

D = torch.float64


def _rand(shape, fan_in: int | None = None, generator=None) -> torch.Tensor:
    scale = (1.0 / fan_in) ** 0.5 if fan_in else 1.0
    return torch.randn(shape, generator=generator) * scale


def randomised(state: dict, seed: int = 0) -> dict:
    """Random values in the shapes of ``state``: weights scaled by fan-in, BN stats plausible."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        shape = value.shape
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("running_mean"):
            out[key] = torch.randn(shape, generator=g) * 0.1
        elif value.dim() >= 2:
            out[key] = _rand(shape, value[0].numel(), g)
        elif key.endswith(("weight", "scale")):  # norm layers' gains
            out[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            out[key] = 0.1 * torch.randn(shape, generator=g)
    return out


# --- DeOldify ---------------------------------------------------------------------------------

def spectral_keys(state: dict) -> list[str]:
    """The convolutions that DeOldify wraps in spectral norm: every decoder/head conv weight."""
    keys = []
    for key, value in state.items():
        index = int(key.split(".")[1])
        if index >= 3 and index != 8 and key.endswith(".weight") and value.dim() >= 3:
            keys.append(key)
    return keys


def deoldify_published(state: dict, seed: int = 0) -> dict:
    """Our folded layout -> fastai's: ``weight_orig``/``weight_u``/``weight_v`` and the head's
    ``weight_g``/``weight_v``, with random factors (the reference re-derives the weights)."""
    g = torch.Generator().manual_seed(seed + 1)
    spectral = set(spectral_keys(state))
    out = {}
    for key, value in state.items():
        base = key[: -len("weight")]
        if key in spectral:  # u, v after a few power iterations, as in a trained file
            w = value.reshape(value.shape[0], -1) * 3
            u = F.normalize(torch.randn(w.shape[0], generator=g), dim=0)
            for _ in range(8):
                v = F.normalize(w.t() @ u, dim=0)
                u = F.normalize(w @ v, dim=0)
            out[base + "weight_orig"], out[base + "weight_u"], out[base + "weight_v"] = value * 3, u, v
        elif key == "layers.8.conv.0.weight":
            out[base + "weight_g"] = torch.rand(value.shape[0], 1, 1, 1, generator=g) + 0.5
            out[base + "weight_v"] = value
        else:
            out[key] = value
    return out


def _sn(p: dict, name: str) -> torch.Tensor:
    w = p[name + ".weight_orig"].to(D)
    sigma = p[name + ".weight_u"].to(D) @ (w.reshape(w.shape[0], -1) @ p[name + ".weight_v"].to(D))
    return w / sigma


def _bn(p: dict, name: str, x):
    return F.batch_norm(x, p[name + ".running_mean"].to(D), p[name + ".running_var"].to(D),
                        p[name + ".weight"].to(D), p[name + ".bias"].to(D), False, 0.0, 1e-5)


def _w(p, name):
    return p[name].to(D)


def _resnet(p: dict, x, bottleneck: bool, depths):
    x = F.relu(_bn(p, "layers.0.1", F.conv2d(x, _w(p, "layers.0.0.weight"), stride=2, padding=3)))
    feats = [x]
    x = F.max_pool2d(x, 3, 2, 1)
    for li, depth in enumerate(depths):
        for b in range(depth):
            n = f"layers.0.{4 + li}.{b}"
            stride = 2 if (li > 0 and b == 0) else 1
            if bottleneck:
                y = F.relu(_bn(p, n + ".bn1", F.conv2d(x, _w(p, n + ".conv1.weight"))))
                y = F.relu(_bn(p, n + ".bn2", F.conv2d(y, _w(p, n + ".conv2.weight"), stride=stride, padding=1)))
                y = _bn(p, n + ".bn3", F.conv2d(y, _w(p, n + ".conv3.weight")))
            else:
                y = F.relu(_bn(p, n + ".bn1", F.conv2d(x, _w(p, n + ".conv1.weight"), stride=stride, padding=1)))
                y = _bn(p, n + ".bn2", F.conv2d(y, _w(p, n + ".conv2.weight"), padding=1))
            if n + ".downsample.0.weight" in p:
                x = _bn(p, n + ".downsample.1", F.conv2d(x, _w(p, n + ".downsample.0.weight"), stride=stride))
            x = F.relu(y + x)
        feats.append(x)
    return x, feats  # feats: stem ReLU, layer1..4


def _sn_conv_relu_bn(p, name, x, pad=1):
    """fastai custom_conv_layer (spectral, extra BN): conv (no bias) -> ReLU -> BN."""
    return _bn(p, name + ".2", F.relu(F.conv2d(x, _sn(p, name + ".0"), padding=pad)))


def _attention(p, name, x):
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    f = torch.einsum("oc,ncl->nol", _sn(p, name + ".query")[..., 0], flat)
    g = torch.einsum("oc,ncl->nol", _sn(p, name + ".key")[..., 0], flat)
    v = torch.einsum("oc,ncl->nol", _sn(p, name + ".value")[..., 0], flat)
    scores = torch.einsum("nci,ncj->nij", f, g)
    beta = torch.exp(scores - scores.max(1, keepdim=True).values)
    beta = beta / beta.sum(1, keepdim=True)  # normalised over i (dim 1), as fastai
    return (_w(p, name + ".gamma") * torch.einsum("nci,nij->ncj", v, beta) + flat).reshape(n, c, h, w)


def _shuffle_blur(x):
    x = F.pixel_shuffle(x, 2)
    x = F.pad(x, (1, 0, 1, 0), mode="replicate")
    return (x[..., :-1, :-1] + x[..., 1:, :-1] + x[..., :-1, 1:] + x[..., 1:, 1:]) / 4


def deoldify_reference(p: dict, image: torch.Tensor, deep: bool) -> torch.Tensor:
    """DeOldify's generator on a normalised image [N,3,S,S], from the published state dict."""
    x = image.to(D)
    bottleneck = "layers.0.4.0.conv3.weight" in p
    depths = (3, 4, 23, 3) if bottleneck else (3, 4, 6, 3)
    x, feats = _resnet(p, x, bottleneck, depths)
    x = F.relu(_bn(p, "layers.1", x))
    x = _sn_conv_relu_bn(p, "layers.3.1", _sn_conv_relu_bn(p, "layers.3.0", x))
    for i, skip in enumerate([feats[3], feats[2], feats[1], feats[0]]):
        n = f"layers.{4 + i}"
        up = F.conv2d(x, _sn(p, n + ".shuf.conv.0"))
        up = _shuffle_blur(F.relu(_bn(p, n + ".shuf.conv.1", up)))
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, skip.shape[-2:], mode="nearest")
        x = F.relu(torch.cat([up, _bn(p, n + ".bn", skip)], 1))
        convs = [n + ".conv1", n + ".conv2"] if deep else [n + ".conv"]
        for conv in convs:
            x = _sn_conv_relu_bn(p, conv, x)
        if i == 1:
            x = _attention(p, convs[-1] + ".3", x)
    v = _w(p, "layers.8.conv.0.weight_v")
    w = _w(p, "layers.8.conv.0.weight_g") * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    x = _shuffle_blur(F.relu(F.conv2d(x, w, _w(p, "layers.8.conv.0.bias"))))
    x = torch.cat([x, image.to(D)], 1)
    y = F.relu(F.conv2d(x, _sn(p, "layers.10.layers.0.0"), _w(p, "layers.10.layers.0.0.bias"), padding=1))
    y = F.relu(F.conv2d(y, _sn(p, "layers.10.layers.1.0"), _w(p, "layers.10.layers.1.0.bias"), padding=1))
    x = F.conv2d(x + y, _sn(p, "layers.11.0"), _w(p, "layers.11.0.bias"))
    return 6 / (1 + torch.exp(-x)) - 3


# --- Lai et al. TransformNet --------------------------------------------------------------------

LAI_LAYERS = (["conv1a", "conv1b", "conv2a", "conv2b", "conv3"]
              + [f"ResBlocks.{i}.conv{j}" for i in range(5) for j in (1, 2)]
              + ["deconv1", "deconv2", "deconv3"])


def lai_published(state: dict, optimizer_state: dict) -> dict:
    """{'model', 'optimizer'} with the unused InstanceNorm buffers of every ConvLayer."""
    model = dict(state)
    for layer in LAI_LAYERS:
        channels = state[layer + ".conv2d.weight"].shape[0]
        model[layer + ".norm_layer.running_mean"] = torch.zeros(channels)
        model[layer + ".norm_layer.running_var"] = torch.ones(channels)
        model[layer + ".norm_layer.num_batches_tracked"] = torch.tensor(0)
    return {"model": model, "optimizer": optimizer_state}


def _lai_conv(p, name, x, stride=1, up=False):
    if up:
        x = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
    w = _w(p, name + ".conv2d.weight")
    k = w.shape[-1] // 2
    return F.conv2d(F.pad(x, (k, k, k, k), mode="reflect"), w, _w(p, name + ".conv2d.bias"), stride)


def _lrelu(x):
    return torch.where(x > 0, x, 0.2 * x)


def lai_reference(p: dict, x, h, c):
    """One step of TransformNet: 12-channel input -> tanh residual, new (h, c)."""
    x = x.to(D)
    e1a, e1b = _lrelu(_lai_conv(p, "conv1a", x[:, :6])), _lrelu(_lai_conv(p, "conv1b", x[:, 6:]))
    e2a, e2b = _lrelu(_lai_conv(p, "conv2a", e1a, 2)), _lrelu(_lai_conv(p, "conv2b", e1b, 2))
    r = _lrelu(_lai_conv(p, "conv3", torch.cat([e2a, e2b], 1), 2))
    for i in range(5):
        r = r + _lai_conv(p, f"ResBlocks.{i}.conv2", _lrelu(_lai_conv(p, f"ResBlocks.{i}.conv1", r)))
    gates = F.conv2d(torch.cat([r, h], 1), _w(p, "convlstm.Gates.weight"), _w(p, "convlstm.Gates.bias"), padding=1)
    i, f, o, g = gates.split(gates.shape[1] // 4, 1)
    sig = lambda t: 1 / (1 + torch.exp(-t))  # noqa: E731
    c = sig(f) * c + sig(i) * torch.tanh(g)
    h = sig(o) * torch.tanh(c)
    d2 = _lrelu(_lai_conv(p, "deconv1", h, up=True))
    d1 = _lrelu(_lai_conv(p, "deconv2", torch.cat([d2, e2a], 1), up=True))
    return torch.tanh(_lai_conv(p, "deconv3", torch.cat([d1, e1a], 1))), h, c


def lai_stream(p: dict, processed, inputs, cuts) -> torch.Tensor:
    """The stabilizer over a clip [T,3,H,W] (H, W multiples of 4): O_0 = P_0 after each cut."""
    outs, state = [], None
    for t in range(processed.shape[0]):
        pt, it = processed[t:t + 1].to(D), inputs[t:t + 1].to(D)
        if state is None or cuts[t]:
            out = pt
            z = torch.zeros(1, 128, pt.shape[2] // 4, pt.shape[3] // 4, dtype=D)
            h, c = z, z
        else:
            h, c, o_prev, i_prev = state
            res, h, c = lai_reference(p, torch.cat([pt, o_prev, it, i_prev], 1), h, c)
            out = pt + res
        state = (h, c, out, it)
        outs.append(out)
    return torch.cat(outs)


# --- CartoonGAN ----------------------------------------------------------------------------------

def _instance_norm(p, name, x):
    mean = x.mean((2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean((2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-9) * _w(p, name + ".scale").view(1, -1, 1, 1) \
        + _w(p, name + ".shift").view(1, -1, 1, 1)


def cartoongan_reference(p: dict, bgr: torch.Tensor) -> torch.Tensor:
    """The generator on BGR in [-1, 1]."""
    def conv(name, x, stride=1, pad=0, reflect=0):
        if reflect:
            x = F.pad(x, (reflect,) * 4, mode="reflect")
        return F.conv2d(x, _w(p, name + ".weight"), _w(p, name + ".bias"), stride, pad)

    def deconv(name, x):
        return F.conv_transpose2d(x, _w(p, name + ".weight"), _w(p, name + ".bias"), 2, 1, 1)

    x = F.relu(_instance_norm(p, "in01_1", conv("conv01_1", bgr.to(D), reflect=3)))
    x = F.relu(_instance_norm(p, "in02_1", conv("conv02_2", conv("conv02_1", x, 2, 1), 1, 1)))
    x = F.relu(_instance_norm(p, "in03_1", conv("conv03_2", conv("conv03_1", x, 2, 1), 1, 1)))
    for b in range(4, 12):
        y = F.relu(_instance_norm(p, f"in{b:02d}_1", conv(f"conv{b:02d}_1", x, reflect=1)))
        x = x + _instance_norm(p, f"in{b:02d}_2", conv(f"conv{b:02d}_2", y, reflect=1))
    x = F.relu(_instance_norm(p, "in12_1", conv("deconv01_2", deconv("deconv01_1", x), 1, 1)))
    x = F.relu(_instance_norm(p, "in13_1", conv("deconv02_2", deconv("deconv02_1", x), 1, 1)))
    return torch.tanh(conv("deconv03_1", x, reflect=3))


# --- AnimeGANv2 ----------------------------------------------------------------------------------

def _group_norm(p, name, x):
    mean = x.mean((1, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean((1, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * _w(p, name + ".weight").view(1, -1, 1, 1) \
        + _w(p, name + ".bias").view(1, -1, 1, 1)


def _cnl(p, name, x, pad=(1, 1, 1, 1), stride=1, groups=1):
    """ConvNormLReLU: reflection pad (left, right, top, bottom) -> conv -> GroupNorm(1) -> LReLU."""
    x = F.pad(x, pad, mode="reflect")
    bias = p.get(name + ".1.bias")
    x = F.conv2d(x, _w(p, name + ".1.weight"), None if bias is None else bias.to(D), stride, groups=groups)
    return _lrelu(_group_norm(p, name + ".2", x))


def _inverted(p, name, x):
    y = _cnl(p, name + ".layers.0", x, pad=(0, 0, 0, 0))
    y = _cnl(p, name + ".layers.1", y, groups=y.shape[1])
    y = _group_norm(p, name + ".layers.3", F.conv2d(y, _w(p, name + ".layers.2.weight")))
    return x + y if x.shape[1] == y.shape[1] else y


def animegan_reference(p: dict, rgb: torch.Tensor) -> torch.Tensor:
    """The generator on RGB in [-1, 1]; upsampling is bilinear with aligned corners."""
    x = rgb.to(D)
    out = _cnl(p, "block_a.0", x, pad=(3, 3, 3, 3))
    out = _cnl(p, "block_a.1", out, pad=(0, 1, 0, 1), stride=2)
    out = _cnl(p, "block_a.2", out)
    half = out.shape[-2:]
    out = _cnl(p, "block_b.0", out, pad=(0, 1, 0, 1), stride=2)
    out = _cnl(p, "block_b.1", out)
    out = _cnl(p, "block_c.0", out)
    for i in range(1, 5):
        out = _inverted(p, f"block_c.{i}", out)
    out = _cnl(p, "block_c.5", out)
    out = F.interpolate(out, half, mode="bilinear", align_corners=True)
    out = _cnl(p, "block_d.1", _cnl(p, "block_d.0", out))
    out = F.interpolate(out, x.shape[-2:], mode="bilinear", align_corners=True)
    out = _cnl(p, "block_e.2", _cnl(p, "block_e.1", _cnl(p, "block_e.0", out)), pad=(3, 3, 3, 3))
    return torch.tanh(F.conv2d(out, _w(p, "out_layer.0.weight")))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.to(D), b.to(D)
    return float((a - b).norm() / b.norm().clamp(min=1e-30))
