"""Moving pixel planes between PyAV frames, numpy and torch without format conversions."""

from __future__ import annotations

import av
import numpy as np
import torch

from .colour import LAYOUTS, Colour, PixelLayout, to_rgb


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


def frame_from_planes(planes: list[np.ndarray], layout: PixelLayout, colour: Colour) -> av.VideoFrame:
    """A new PyAV frame holding ``planes`` ([h, w] arrays of the layout's dtype)."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, layout.name)
    for target, source in zip(plane_arrays(frame, layout), planes):
        target[...] = source
    frame.colorspace = colour.avcol_spc
    frame.color_range = colour.avcol_range
    return frame


def frames_from_arrays(planes: list[np.ndarray], layout: PixelLayout, colour: Colour) -> list[av.VideoFrame]:
    """Integer planes [N,h,w] (int16 above 8 bits) -> N PyAV frames in ``layout``."""
    if layout.bits > 8:
        planes = [p.view("<u2") for p in planes]
    return [frame_from_planes([p[i] for p in planes], layout, colour) for i in range(planes[0].shape[0])]


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """One frame -> [H, W, 3] uint8 R'G'B', honouring its matrix and range."""
    layout = LAYOUTS.get(frame.format.name)
    if layout is None:
        return frame.to_ndarray(format="rgb24")
    colour = Colour.of_frame(frame.colorspace, frame.color_range, layout, frame.height)
    rgb = to_rgb(stacked(plane_lists([frame], layout)), layout, colour)
    return (rgb[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
