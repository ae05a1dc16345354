"""A batch's pixels on the compute device, and how the output is written and tagged."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch

from .colour import Colour, PixelLayout, Tags, luma, luma_plane, rgb_from_packed
from .scenes import subsample
from .source import Source


@dataclass
class DeviceFrames:
    """A batch's pixels on the compute device: libswscale's packed R'G'B' codes and the Y' plane
    as decoded (either may be absent), with how to read them."""

    packed: torch.Tensor | None  # [N,H,W,3] uint8 or uint16
    plane: torch.Tensor | None  # [N,H,W] Y' codes
    layout: PixelLayout | None
    colour: Colour
    matrix: str  # the stages' working matrix

    def rgb(self) -> torch.Tensor:
        """R'G'B' [N,3,H,W]: the decoded one, or where none was decoded (the first stage reads only
        the luma) the luma as a grey picture."""
        if self.packed is None:
            return self._plane_luma.expand(-1, 3, -1, -1)
        return rgb_from_packed(self.packed)

    def luma(self, rgb: torch.Tensor) -> torch.Tensor:
        """Y' [N,1,H,W]: the decoded plane as it is where the source matrix is the working one,
        else from ``rgb`` (these frames' R'G'B')."""
        if self.plane is not None and self.colour.matrix == self.matrix:
            return self._plane_luma
        return luma(rgb, self.matrix)

    @functools.cached_property
    def _plane_luma(self) -> torch.Tensor:
        """The decoded Y' plane as [N,1,H,W] in [0,1], converted once for ``rgb`` and ``luma``."""
        return luma_plane(self.plane, self.layout, self.colour)

    def thumbnail_luma(self) -> torch.Tensor:
        """A subsampled luma for scene cuts."""
        if self.plane is not None:
            return luma_plane(subsample(self.plane), self.layout, self.colour)
        return luma(rgb_from_packed(subsample(self.packed.movedim(-1, 1)).movedim(1, -1)), self.matrix)

    def select(self, index: torch.Tensor) -> DeviceFrames:
        pick = lambda t: None if t is None else t.index_select(0, index)  # noqa: E731
        return DeviceFrames(pick(self.packed), pick(self.plane), self.layout, self.colour, self.matrix)

    def part(self, part: slice) -> DeviceFrames:
        cut = lambda t: None if t is None else t[part]  # noqa: E731
        return DeviceFrames(cut(self.packed), cut(self.plane), self.layout, self.colour, self.matrix)


def output_colour(source: Source, layout: PixelLayout, processed: bool, full: bool | None = None,
                  matrix: str | None = None) -> tuple[Colour, Tags]:
    """How the output is written and tagged: a passthrough in the decoded format and colour keeps
    the input's tags as they are; anything written anew carries the matrix and range it was written
    with, and what the stages made says where ``from_rgb`` sites its chroma. ``full`` and ``matrix``:
    the range and matrix asked for (-color_range, -colorspace, or video range where the output
    would not read back full range); None: the input's."""
    rgb_input = source.format.is_rgb or source.format.has_palette
    wanted = source.colour.full_range and not rgb_input if full is None else full
    colour = Colour(matrix or source.colour.matrix, layout.full_range or wanted)
    if not processed and layout.name == source.format.name and colour == source.colour:
        return source.colour, source.tags
    tags = source.tags.written(colour, source.height)
    return colour, replace(tags, chroma_location="left") if processed else tags  # as ``from_rgb`` sites it
