"""Colour: how decoded pixels are interpreted, and R'G'B' <-> Y'CbCr for writing, in torch.

Reading is libswscale's: every decoded frame becomes R'G'B' through FFmpeg's own
converter (``planes.rgb_arrays``), so dfstream sees what ffmpeg and players built on
it see. ``Colour.of_stream`` decides the interpretation the way libswscale and players
do when a tag is missing: gray, RGB, palette and yuvj formats are full range, other
Y'CbCr limited; an unspecified matrix is BT.601 below 720 lines and BT.709 from 720 up.
Writing (``from_rgb``) runs on the compute device; its output carries range, matrix,
primaries and transfer tags.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .geometry import area, bilinear, on_planes, with_opencv

# Kr, Kb per matrix; Kg = 1 - Kr - Kb.
MATRICES = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
}

TITLES = {"bt601": "BT.601", "bt709": "BT.709", "bt2020": "BT.2020", "smpte240m": "SMPTE 240M", "fcc": "FCC"}  # shown
# FFmpeg's AVColorSpace values (frame.colorspace) -> matrix name, and back.
_AVCOL_SPC = {1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_MATRIX_TO_AVCOL_SPC = {"bt709": 1, "fcc": 4, "bt601": 6, "smpte240m": 7, "bt2020": 9}
# libswscale's names for the matrices (PyAV's reformat ``src_colorspace``).
SWS_COLORSPACE = {"bt709": "itu709", "fcc": "fcc", "bt601": "itu601", "smpte240m": "smpte240m",
                  "bt2020": "bt2020"}
UNSPECIFIED = 2  # AVCOL_PRI_UNSPECIFIED, AVCOL_TRC_UNSPECIFIED, AVCOL_SPC_UNSPECIFIED
# Primaries and transfer written when the input has none: what players assume for it.
DEFAULT_PRIMARIES = {"hd": 1, "sd": 6}  # bt709, smpte170m
DEFAULT_TRC = {"hd": 1, "sd": 6}


@dataclass(frozen=True)
class PixelLayout:
    """A planar pixel format dfstream writes, and whose luma plane it reads as it is."""

    name: str
    gray: bool
    bits: int
    sub_x: int = 1  # horizontal chroma subsampling factor
    sub_y: int = 1  # vertical chroma subsampling factor
    full_range: bool = False  # forced full range (the yuvj formats)
    interleaved: bool = False  # Cb and Cr alternate in one plane (NV12, what NVDEC hands back)

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8 if self.bits == 8 else torch.int16

    @property
    def numpy_dtype(self) -> str:
        return "u1" if self.bits == 8 else "<u2"


LAYOUTS = {
    layout.name: layout
    for layout in (
        PixelLayout("gray", True, 8),
        PixelLayout("gray10le", True, 10),
        PixelLayout("gray12le", True, 12),
        PixelLayout("yuv420p", False, 8, 2, 2),
        PixelLayout("yuvj420p", False, 8, 2, 2, True),
        PixelLayout("nv12", False, 8, 2, 2, interleaved=True),
        PixelLayout("yuv422p", False, 8, 2, 1),
        PixelLayout("yuvj422p", False, 8, 2, 1, True),
        PixelLayout("yuv444p", False, 8),
        PixelLayout("yuvj444p", False, 8, 1, 1, True),
        PixelLayout("yuv420p10le", False, 10, 2, 2),
        PixelLayout("yuv422p10le", False, 10, 2, 1),
        PixelLayout("yuv444p10le", False, 10),
        PixelLayout("yuv420p12le", False, 12, 2, 2),
        PixelLayout("yuv444p12le", False, 12),
    )
}



def nearest_layout(fmt: av.VideoFormat) -> PixelLayout:
    """The planar layout written for a decoded format: itself where dfstream writes it, else the
    nearest one at the same depth (packed 4:2:2 -> yuv422p, RGB and palettes -> yuv444p, ...)."""
    if fmt.name in LAYOUTS:
        return LAYOUTS[fmt.name]
    bits = max(c.bits for c in fmt.components)
    depth = "" if bits <= 8 else "10le" if bits <= 10 else "12le"
    if is_gray(fmt):
        return LAYOUTS[f"gray{depth}"]
    sub = "444"
    if not (fmt.is_rgb or fmt.has_palette) and len(fmt.components) >= 3:
        wide, high = 16 // max(1, fmt.chroma_width(16)), 16 // max(1, fmt.chroma_height(16))
        sub = "420" if wide > 1 and high > 1 else "422" if wide > 1 else "444"
    name = f"yuv{sub}p{depth}"
    return LAYOUTS.get(name) or LAYOUTS[f"yuv{sub}p" if bits <= 8 else "yuv444p10le"]


def is_gray(fmt: av.VideoFormat) -> bool:
    """One luma component (with or without alpha): gray, ya8, gray16le, ..."""
    return len(fmt.components) <= 2 and not fmt.is_rgb and not fmt.has_palette


def full_range_by_default(fmt: av.VideoFormat) -> bool:
    """Formats that libswscale and players read as full range when the range is unspecified."""
    return is_gray(fmt) or fmt.is_rgb or fmt.has_palette or fmt.name.startswith("yuvj")


@dataclass(frozen=True)
class Colour:
    """How Y'CbCr codes map to R'G'B': matrix and range."""

    matrix: str = "bt709"
    full_range: bool = False

    @classmethod
    def of_stream(cls, fmt: av.VideoFormat, colorspace: int, color_range: int, height: int) -> Colour:
        """The interpretation of a stream's or frame's tags, libswscale's: gray and yuvj formats
        are always full range, RGB and palette formats full unless tagged limited, other Y'CbCr
        limited unless tagged full; an unspecified matrix is BT.601 below 720 lines, BT.709 from
        720 up (as players take it; libswscale itself takes BT.601)."""
        matrix = _AVCOL_SPC.get(colorspace) or ("bt601" if height < 720 else "bt709")
        full = color_range == 2 or (color_range != 1 and full_range_by_default(fmt)) \
            or fmt.name.startswith("yuvj") or is_gray(fmt)  # libswscale reads gray as full, whatever the tag
        return cls(matrix, full)

    @property
    def avcol_spc(self) -> int:
        return _MATRIX_TO_AVCOL_SPC[self.matrix]

    @property
    def avcol_range(self) -> int:
        return 2 if self.full_range else 1

    def swscale(self, fmt: av.VideoFormat) -> dict:
        """PyAV ``reformat`` arguments that make libswscale read a frame this way."""
        if fmt.is_rgb or fmt.has_palette:
            return {}
        return {"src_colorspace": SWS_COLORSPACE[self.matrix],
                "src_color_range": "JPEG" if self.full_range else "MPEG"}


@dataclass(frozen=True)
class Tags:
    """The four colour tags of a stream, as FFmpeg numbers them (2: unspecified), and where its
    subsampled chroma sits, as FFmpeg names it (PyAV cannot read it from a stream: unspecified)."""

    colorspace: int = UNSPECIFIED
    color_range: int = 0
    primaries: int = UNSPECIFIED
    trc: int = UNSPECIFIED
    chroma_location: str = "unspecified"

    @classmethod
    def of(cls, ctx) -> Tags:
        """A codec context's or frame's tags."""
        return cls(ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc)

    def written(self, colour: Colour, height: int) -> Tags:
        """The tags of pixels written with ``colour``: its matrix and range, the input's primaries
        and transfer (stages keep them), or where it has none what players assume by height."""
        kind = "hd" if height >= 720 else "sd"
        return Tags(colour.avcol_spc, colour.avcol_range,
                    self.primaries if self.primaries != UNSPECIFIED else DEFAULT_PRIMARIES[kind],
                    self.trc if self.trc != UNSPECIFIED else DEFAULT_TRC[kind])


def _scales(bits: int, full: bool) -> tuple[float, float, float]:
    """(luma offset, luma scale, chroma scale) in code values for a bit depth and range."""
    if full:
        top = float(2**bits - 1)
        return 0.0, top, top
    k = float(2 ** (bits - 8))
    return 16 * k, 219 * k, 224 * k


def luma_weights(matrix: str) -> tuple[float, float, float]:
    kr, kb = MATRICES[matrix]
    return kr, 1.0 - kr - kb, kb


def _ycbcr_matrix(matrix: str) -> torch.Tensor:
    """A with R'G'B' = A [Y', Cb, Cr] (Y' in [0,1], chroma in [-0.5,0.5]), float64."""
    kr, kg, kb = luma_weights(matrix)
    return torch.tensor([[1.0, 0.0, 2 * (1 - kr)],
                         [1.0, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                         [1.0, 2 * (1 - kb), 0.0]], dtype=torch.float64)


def _code_scales(layout: PixelLayout, colour: Colour) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, offset) per component with code = scale * value + offset, float64."""
    y_off, y_scale, c_scale = _scales(layout.bits, colour.full_range)
    mid = float(2 ** (layout.bits - 1))
    return (torch.tensor([y_scale, c_scale, c_scale], dtype=torch.float64),
            torch.tensor([y_off, mid, mid], dtype=torch.float64))


@functools.lru_cache(maxsize=None)
def _affine(kind: str, layout: PixelLayout | None, colour: Colour, device: torch.device,
            dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of one per-pixel colour map, derived in float64 once and kept where the
    frames are: no host-to-device copy (and on CUDA no stream synchronize) per batch.

    ``luma``: R'G'B' -> Y'; ``encode_luma``, ``encode_chroma``: R'G'B' -> codes."""
    if kind == "luma":
        weight, bias = torch.tensor([luma_weights(colour.matrix)], dtype=torch.float64), torch.zeros(1)
    else:
        scale, offset = _code_scales(layout, colour)
        rows = slice(0, 1) if kind == "encode_luma" else slice(1, 3)
        weight, bias = (scale.view(3, 1) * torch.linalg.inv(_ycbcr_matrix(colour.matrix)))[rows], offset[rows]
    return weight.to(device, dtype), bias.to(device, dtype)


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A per-pixel affine colour map [N,C,H,W] -> [N,O,H,W] as one batched matrix product."""
    n, c, h, w = x.shape
    out = torch.baddbmm(bias.view(1, -1, 1).expand(n, -1, 1), weight.expand(n, -1, -1), x.reshape(n, c, h * w))
    return out.view(n, -1, h, w)


def rgb_from_packed(packed: torch.Tensor) -> torch.Tensor:
    """libswscale's packed R'G'B' [N,H,W,3] (rgb24, or rgb48le as uint16) -> [N,3,H,W] float in [0,1]."""
    top = 255 if packed.dtype == torch.uint8 else 65535
    return packed.permute(0, 3, 1, 2).float().mul_(1 / top)


def luma(rgb: torch.Tensor, matrix: str) -> torch.Tensor:
    """Y' [N,1,H,W] in [0,1] from R'G'B' with a matrix's weights."""
    return _pointwise(rgb, *_affine("luma", None, Colour(matrix), rgb.device, rgb.dtype))


def from_rgb(rgb: torch.Tensor, layout: PixelLayout, colour: Colour) -> list[torch.Tensor]:
    """R'G'B' [N,3,H,W] in [0,1] (stages keep to it) -> integer planes [N,h,w] of ``layout``.

    Chroma is averaged down in R'G'B' before the matrix (the two commute), so the full-size
    frame is read twice and no full-size chroma is written; it is sited as MPEG-2, H.264 and HEVC
    site 4:2:0 and 4:2:2 (``cosited``).
    """
    rgb = rgb.float()
    top = 2**layout.bits - 1
    luma_codes = _pointwise(rgb, *_affine("encode_luma", layout, colour, rgb.device, rgb.dtype))
    planes = [_quantise(luma_codes[:, 0], top, layout.dtype)]
    if layout.gray:
        return planes
    if layout.sub_x > 1 or layout.sub_y > 1:
        h, w = rgb.shape[-2:]
        pad = (0, (-w) % layout.sub_x, 0, (-h) % layout.sub_y)
        if any(pad):
            rgb = F.pad(rgb, pad, mode="replicate")
        rgb = cosited(rgb, layout.sub_y, layout.sub_x)
    c = _pointwise(rgb, *_affine("encode_chroma", layout, colour, rgb.device, rgb.dtype))
    return planes + [_quantise(c[:, 0], top, layout.dtype), _quantise(c[:, 1], top, layout.dtype)]


def cosited(rgb: torch.Tensor, sub_y: int, sub_x: int) -> torch.Tensor:
    """[N,C,H,W] (H and W multiples of the factors, 1 or 2) averaged to the chroma samples of
    FFmpeg's "left" siting, the default of MPEG-2, H.264 and HEVC: each between a pair of rows
    and on an even column ([1, 2, 1] / 4 across it, the first column repeated at the edge)."""
    h, w = rgb.shape[-2:]
    if sub_y == 2 and sub_x == 2 and w >= 4 and with_opencv(rgb):
        return on_planes(rgb, (h // 2, w // 2), _cosited_420)
    if sub_y == 2:
        rgb = area(rgb, (h // 2, w))
    if sub_x == 2:
        rgb = _across_even_columns(rgb)
    return rgb


def _cosited_420(src: np.ndarray, dst: np.ndarray) -> None:
    """``cosited`` 4:2:0 of one plane by two of OpenCV's 2x2 area reductions (1.6 against 2.5 ms
    per 720p frame for a vertical pass and a filter): [1, 2, 1] / 4 on column 2j is the mean of
    the pairs (2j - 1, 2j) and (2j, 2j + 1)."""
    h, w = src.shape
    pairs = cv2.resize(src, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # (2j, 2j + 1)
    before = cv2.resize(src[:, 1:-1], (w // 2 - 1, h // 2), interpolation=cv2.INTER_AREA)  # (2j - 1, 2j), j > 0
    cv2.addWeighted(pairs[:, 1:], 0.5, before, 0.5, 0, dst=dst[:, 1:])
    dst[:, 0] = (pairs[:, 0] + (src[0::2, 0] + src[1::2, 0]) / 2) / 2  # column 0 repeated: the pair (0, 0)


_ACROSS = np.array([[0.25, 0.5, 0.25]], np.float32)


def _across_even_columns(x: torch.Tensor) -> torch.Tensor:
    """[1, 2, 1] / 4 along the rows, edges repeated, kept on the even columns."""
    n, c, h, w = x.shape
    if with_opencv(x):
        return on_planes(x, (h, w // 2), lambda src, dst: np.copyto(
            dst, cv2.filter2D(src, -1, _ACROSS, borderType=cv2.BORDER_REPLICATE)[:, ::2]))
    kernel = torch.from_numpy(_ACROSS).to(x)[None, None]
    padded = F.pad(x.reshape(n * c, 1, h, w), (1, 1, 0, 0), mode="replicate")
    return F.conv2d(padded, kernel, stride=(1, 2)).view(n, c, h, w // 2)


def _quantise(x: torch.Tensor, top: int, dtype: torch.dtype) -> torch.Tensor:
    return x.round_().clamp_(0, top).to(dtype)


def ycbcr(rgb: torch.Tensor, matrix: str = "bt601") -> tuple[torch.Tensor, torch.Tensor]:
    """R'G'B' [N,3,H,W] -> (Y' [N,1,H,W] in [0,1], CbCr [N,2,H,W] in [-0.5,0.5]), no quantisation."""
    kr, _, kb = luma_weights(matrix)
    y = luma(rgb, matrix)
    return y, torch.cat(((rgb[:, 2:3] - y) / (2 * (1 - kb)), (rgb[:, 0:1] - y) / (2 * (1 - kr))), 1)


def rgb_from_ycbcr(y: torch.Tensor, c: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
    """Inverse of ``ycbcr``; chroma is resized to the luma's size if needed."""
    c = bilinear(c, y.shape[-2:])
    kr, kg, kb = luma_weights(matrix)
    r = y + 2 * (1 - kr) * c[:, 1:2]
    b = y + 2 * (1 - kb) * c[:, 0:1]
    g = (y - kr * r - kb * b) / kg
    return torch.cat((r, g, b), 1).clamp(0, 1)


def merge_chroma(y: torch.Tensor, c: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
    """R'G'B' with exactly the luma ``y``: chroma ``c`` is scaled down per pixel where it would
    leave the gamut (hue kept), instead of clipping channels, which would change the luma."""
    c = bilinear(c, y.shape[-2:])
    kr, kg, kb = luma_weights(matrix)
    d = c.new_empty(c.shape[0], 3, *y.shape[-2:])  # r', g', b' - y, written in place (a CPU saves much)
    dr, dg, db = d[:, 0:1], d[:, 1:2], d[:, 2:3]
    torch.mul(c[:, 1:2], 2 * (1 - kr), out=dr)
    torch.mul(c[:, 0:1], 2 * (1 - kb), out=db)
    torch.add(dr * (-kr / kg), db, alpha=-kb / kg, out=dg)
    # the channels share y, so the tightest is the one furthest up or down
    up = (1 - y) / torch.maximum(torch.maximum(dr, dg), db).clamp_(min=1e-12)
    down = y / torch.minimum(torch.minimum(dr, dg), db).neg_().clamp_(min=1e-12)
    return d.mul_(torch.minimum(up, down).clamp_(max=1)).add_(y).clamp_(0, 1)


def luma_plane(plane: torch.Tensor, layout: PixelLayout, colour: Colour) -> torch.Tensor:
    """The Y' plane [N,h,w] of integer codes as [N,1,H,W] in [0,1]."""
    y_off, y_scale, _ = _scales(layout.bits, colour.full_range)
    return plane.float().sub_(y_off).div_(y_scale).clamp_(0, 1).unsqueeze(1)
