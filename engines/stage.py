"""The Stage protocol: what every frame transform implements.

Stages see R'G'B' float tensors [N,3,H,W] in [0,1] on the compute device.
Stateless stages take whole batches (``BatchStage``); stateful ones walk the
frames in time order and are reset at scene cuts (``RecurrentStage``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from dfstream.colour import luma as luma_of
from dfstream.geometry import area, crop, pad_to_multiple


class StageContext:
    """What a stage may know about the frames of a batch besides their pixels.

    ``source``: [N,3,H,W] the input frames (or --original), same size as the stage input;
    ``luma``: their luma Y' [N,1,H,W] in [0,1] in the working matrix (the decoded plane itself
    where it has one), computed from ``source`` when not given;
    ``cuts[i]``: frame i starts a new scene (state must not cross it);
    ``matrix``: the working matrix, the one the output is written with: a stage that keeps the
    luma merges its chroma with it;
    ``untouched``: the stage input is ``source`` itself (the first stage, no --original);
    ``shared[i]``: what the stages of frame i share (``memo``);
    ``scale``: the work size against the run's own, below 1 while a realtime run has lowered it
    (a stage that works at a size of its own, as chroma is, lowers that alike);
    ``aspect``: how many times as wide as high the frames' pixels are shown (anamorphic video: a
    widescreen DVD's 64:45), for what a stage brings in from outside the video (a still)."""

    def __init__(self, source: torch.Tensor, luma: torch.Tensor | None = None, cuts=(),
                 matrix: str = "bt601", untouched: bool = False, shared: list[dict] | None = None,
                 scale: float = 1.0, aspect: float = 1.0):
        self.source = source
        self._luma = luma
        self.cuts = list(cuts)
        self.matrix = matrix
        self.untouched = untouched
        self.shared = shared if shared is not None else [{} for _ in self.cuts]
        self.scale = scale
        self.aspect = aspect

    @property
    def luma(self) -> torch.Tensor:
        if self._luma is None:
            self._luma = luma_of(self.source, self.matrix)
        return self._luma

    def memo(self, key, compute):
        """A value of this (one-frame) context that stages share, computed by the first that asks:
        the flow to the previous frame, which a colorizer and the stabilizer after it both need."""
        shared = self.shared[0]
        if key not in shared:
            shared[key] = compute()
        return shared[key]

    def luma_at(self, size: tuple[int, int]) -> torch.Tensor:
        """The (one-frame) luma area-reduced to ``size``, made once for the stages that work there."""
        return self.memo(("luma", *size), lambda: area(self.luma, size))

    def _with(self, source: torch.Tensor, luma: torch.Tensor | None, cuts, shared) -> StageContext:
        return StageContext(source, luma, cuts, self.matrix, self.untouched, shared, self.scale, self.aspect)

    def frame(self, i: int) -> StageContext:
        return self.part(slice(i, i + 1))

    def part(self, frames: slice) -> StageContext:
        luma = None if self._luma is None else self._luma[frames]
        return self._with(self.source[frames], luma, self.cuts[frames], self.shared[frames])

    def joined(self, later: StageContext) -> StageContext:
        """This context's frames followed by ``later``'s."""
        return self._with(torch.cat([self.source, later.source]), torch.cat([self.luma, later.luma]),
                          self.cuts + later.cuts, self.shared + later.shared)

    def map(self, fn) -> StageContext:
        """The same context with ``fn`` applied to every tensor (padding, resizing)."""
        return self._with(fn(self.source), None if self._luma is None else fn(self._luma), self.cuts, self.shared)


class Stage(ABC):
    """A frame transform. ``multiple``: height and width must be multiples of it; ``reads_colour``
    False: the stage reads only ``ctx.luma`` (as the first stage it may be handed the luma as a
    grey picture, also the later stages' ``ctx.source``, and the input's R'G'B' is not decoded);
    ``keeps_luma`` True: its output's luma is exactly ``ctx.luma`` (as the last stage at a lowered
    work size, the pipeline puts the source's full-size luma back instead of scaling it up);
    ``adds_change`` True: its output is its input and a change to it (a stabilizer's correction: at
    a lowered work size, when every stage adds a change, the pipeline scales up only the change and
    adds it to the full-size input, whose detail is kept); ``delay``: frames its output lags its input
    (a stage that looks ahead returns fewer frames than it is given, and the rest at ``flush``)."""

    name: str = "stage"
    multiple: int = 1
    reads_colour: bool = True
    keeps_luma: bool = False
    adds_change: bool = False
    delay: int = 0

    @classmethod
    def create(cls, variant: str | None, options) -> Stage:
        """Build from the command line's engine variant (``NAME:VARIANT``) and EngineOptions."""
        return cls()

    @classmethod
    def missing(cls, variant: str | None, options) -> str | None:
        """Why this engine cannot run with these options (no weights, no reference), or None."""
        return None

    @classmethod
    def remedy(cls, variant: str | None) -> str:
        """What the user can do when ``missing`` gives a reason."""
        return "see 'dfstream info' and the README"

    @abstractmethod
    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        """Transform a batch [N,3,H,W] in time order; returns the same shape."""

    def reset(self) -> None:
        """Forget any state carried between frames (scene cut, seek)."""

    def flush(self) -> torch.Tensor | None:
        """The frames a stage with a ``delay`` still holds (end of input), in order; None if none."""
        return None

    def clip(self, frames, contexts) -> list[torch.Tensor]:
        """Each frame [1,3,H,W] of a clip through ``process`` in its context, the frames a stage with
        a ``delay`` holds flushed at the end: one output frame per frame, in order."""
        out = [self.process(f, ctx) for f, ctx in zip(frames, contexts)] + [self.flush()]
        return [o[i : i + 1] for o in out if o is not None for i in range(len(o))]

    def apply(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        """``process`` on frames of any size: padded by reflection to ``multiple``, cropped back."""
        m = self.multiple
        padded = self.process(pad_to_multiple(rgb, m), ctx.map(lambda t: pad_to_multiple(t, m)))
        return crop(padded, *rgb.shape[-2:])


class BatchStage(Stage):
    """A stage without memory: each frame is processed on its own, a whole batch at once."""


class RecurrentStage(Stage):
    """A stage with memory: frames are stepped one at a time and state resets at cuts (where a
    stage with a ``delay`` first gives the frames it holds)."""

    def process(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        out = []
        for i in range(rgb.shape[0]):
            if ctx.cuts[i]:
                out.append(self.flush())
                self.reset()
            out.append(self.step(rgb[i : i + 1], ctx.frame(i)))
        return torch.cat([o for o in out if o is not None] or [rgb[:0]])

    @abstractmethod
    def step(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor | None:
        """Process one frame [1,3,H,W] given the state left by the previous one; a stage with a
        ``delay`` returns the frame it finishes now, None while it holds the first."""

    @abstractmethod
    def reset(self) -> None:
        """Drop the carried state; the next step starts a new scene."""
