"""Pixels between PyAV frames, numpy and torch: R'G'B' read through libswscale (deep codes
brought to full scale), planes moved as they are (no format conversion of ours)."""

from __future__ import annotations

import functools

import av
from av.video.reformatter import Interpolation, VideoReformatter
import cv2
import numpy as np
import torch

from .colour import SWS_COLORSPACE, Colour, PixelLayout, Tags, is_gray

# libswscale's exact path to rgb24: its default replicates chroma and rounds in a fast fixed
# point that reads 8-bit Y'CbCr dark (walkers' luma comes back 0.76 codes RMS off, 0.004-0.04 with
# these flags: benchmarks/rgb_reading.py). Not for rgb48: there full chroma interpolation garbled
# 4:2:0 in a one-off check with FFmpeg 8.1 (68 codes RMS off).
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def rgb_options(fmt: av.VideoFormat, colour: Colour, deep: bool) -> dict:
    """PyAV ``reformat`` arguments for R'G'B' read as ``colour`` (rgb48le if ``deep``, else rgb24)."""
    return {"format": "rgb48le" if deep else "rgb24", "interpolation": None if deep else ACCURATE,
            **colour.swscale(fmt)}


def copied(frame: av.VideoFrame) -> av.VideoFrame:
    """Another frame with the same pixels and colour tags (a frame repeated needs its own time)."""
    out = av.VideoFrame(frame.width, frame.height, frame.format.name)
    for source, target in zip(frame.planes, out.planes):
        width = min(source.line_size, target.line_size)
        rows = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)[: target.height, :width]
        np.frombuffer(target, np.uint8).reshape(-1, target.line_size)[: target.height, :width] = rows
    out.colorspace, out.color_range = frame.colorspace, frame.color_range
    out.color_primaries, out.color_trc = frame.color_primaries, frame.color_trc
    return out


def plane_arrays(frame: av.VideoFrame, layout: PixelLayout) -> list[np.ndarray]:
    """Views of a frame's planes as [h, w] arrays (line padding cut off, no copy); an interleaved
    chroma plane (NV12) gives two strided views, Cb and Cr."""
    arrays = []
    for index, plane in enumerate(frame.planes):
        a = np.frombuffer(plane, dtype=layout.numpy_dtype)
        width = plane.line_size // a.itemsize
        if layout.interleaved and index == 1:
            pairs = a.reshape(-1, width)[: plane.height, : 2 * plane.width]
            arrays += [pairs[:, 0::2], pairs[:, 1::2]]
        else:
            arrays.append(a.reshape(-1, width)[: plane.height, : plane.width])
    return arrays


def plane_lists(frames: list[av.VideoFrame], layout: PixelLayout, count: int | None = None) -> list[list[np.ndarray]]:
    """Per plane (the first ``count``), the frames' [h, w] arrays; codes above 8 bits as int16
    (torch has no full uint16 support; the codes fit)."""
    per_frame = [plane_arrays(f, layout) for f in frames]
    lists = [[planes[i] for planes in per_frame] for i in range(len(per_frame[0]) if count is None else count)]
    return [[a.view("<i2") for a in arrays] for arrays in lists] if layout.bits > 8 else lists


def stacked(lists: list[list[np.ndarray]]) -> list[torch.Tensor]:
    """Per plane, the frames' arrays as one CPU tensor [N, h, w]."""
    return [torch.from_numpy(np.stack(arrays)) for arrays in lists]


def frame_from_planes(planes: list[np.ndarray], layout: PixelLayout, tags: Tags) -> av.VideoFrame:
    """A new PyAV frame holding ``planes`` ([h, w] arrays of the layout's dtype)."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, layout.name)
    for target, source in zip(plane_arrays(frame, layout), planes):
        target[...] = source
    tag(frame, tags)
    return frame


def frames_from_arrays(planes: list[np.ndarray], layout: PixelLayout, tags: Tags) -> list[av.VideoFrame]:
    """Integer planes [N,h,w] (int16 above 8 bits) -> N PyAV frames in ``layout``."""
    if layout.bits > 8:
        planes = [p.view("<u2") for p in planes]
    return [frame_from_planes([p[i] for p in planes], layout, tags) for i in range(planes[0].shape[0])]


class RGBReader:
    """Decoded frames -> packed R'G'B' arrays [H, W, 3] by libswscale (uint8, or uint16 for
    inputs deeper than 8 bits), read with a given interpretation; one converter reused.

    libswscale's 16-bit R'G'B' of deep Y'CbCr and gray falls short of full scale (with FFmpeg
    8.1 white read 65283 from limited range, 65472 from 10-bit full range): such codes are
    scaled so that the source's white reads 65535."""

    def __init__(self, colour: Colour):
        self.colour = colour
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        fmt = frame.format
        deep = max(c.bits for c in fmt.components) > 8
        rgb = self.reformatter.reformat(frame, **rgb_options(fmt, self.colour, deep)).to_ndarray()
        white = white_code(fmt.name, self.colour) if deep else 65535
        if white == 65535:
            return rgb
        return cv2.multiply(rgb.reshape(rgb.shape[0], -1), 65535 / white).reshape(rgb.shape)


@functools.cache
def white_code(name: str, colour: Colour) -> int:
    """The 16-bit code libswscale reads for the white of a pixel format (its range's peak luma,
    neutral chroma, put into the format by libswscale from 16 bits) as ``colour`` says."""
    fmt = av.VideoFormat(name)
    if fmt.is_rgb or fmt.has_palette:
        return 65535
    full = colour.full_range or is_gray(fmt)
    source = av.VideoFrame(16, 16, "gray16le" if is_gray(fmt) else "yuv444p16le")
    for index, plane in enumerate(source.planes):
        np.frombuffer(plane, "<u2")[:] = (65535 if full else 235 << 8) if index == 0 else 1 << 15
    range_name = "JPEG" if full else "MPEG"
    frame = source.reformat(format=name, src_color_range=range_name, dst_color_range=range_name)
    return int(frame.to_ndarray(**rgb_options(fmt, colour, deep=True))[8, 8, 0])


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """One frame -> [H, W, 3] uint8 R'G'B', read as its own tags say (defaults as ``Colour``)."""
    colour = Colour.of_stream(frame.format, frame.colorspace, frame.color_range, frame.height)
    return frame.to_ndarray(**rgb_options(frame.format, colour, deep=False))


def converted(frame: av.VideoFrame, source: Colour, layout: PixelLayout, colour: Colour,
              tags: Tags) -> av.VideoFrame:
    """A frame in another format by libswscale (pixels read as ``source``, written as ``colour``),
    tagged with ``tags``."""
    if frame.format.name != layout.name or source != colour:
        frame = frame.reformat(format=layout.name, **source.swscale(frame.format),
                               dst_colorspace=SWS_COLORSPACE[colour.matrix],
                               dst_color_range="JPEG" if colour.full_range else "MPEG")
    tag(frame, tags)
    return frame


def tag(frame: av.VideoFrame, tags: Tags) -> None:
    frame.colorspace, frame.color_range = tags.colorspace, tags.color_range
    frame.color_primaries, frame.color_trc = tags.primaries, tags.trc
