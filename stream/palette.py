"""GIF's colours: each frame quantized to a 256-colour palette of its own by FFmpeg's palettegen
and paletteuse (Floyd-Steinberg dithering's cousin, sierra2_4a, FFmpeg's default), the recipe
ffmpeg users write for a GIF, rather than one fixed palette for every frame."""

from __future__ import annotations

from fractions import Fraction

import av


class Palettes:
    """Frames in R'G'B' (rgb24) in, the same frames in pal8 out, in order, with their times
    (``time_base``: theirs)."""

    def __init__(self, width: int, height: int, time_base: Fraction):
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=width, height=height, format="rgb24", time_base=time_base)
        split, make, use = (self.graph.add("split"), self.graph.add("palettegen", "stats_mode=single"),
                            self.graph.add("paletteuse", "new=1"))
        sink = self.graph.add("buffersink")
        source.link_to(split)
        split.link_to(make, 0, 0)
        split.link_to(use, 1, 0)
        make.link_to(use, 0, 1)
        use.link_to(sink)
        self.graph.configure()

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """The frames quantized so far; None at the end gives the rest."""
        self.graph.push(frame)
        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
