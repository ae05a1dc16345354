"""Training samples: video clips with per-frame processed versions (stabilizer) and image folders
(CartoonGAN). Sampling takes a ``torch.Generator`` so that batches are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dfstream.errors import DfstreamError, UsageError
from dfstream.evaluate import read_frames as video_frames

from .data import edge_smooth, images_in, read_image


def read_frames(source: str, short_side: int | None = None) -> np.ndarray:
    """Every frame of a video file or of a folder of images (as ``dfstream eval`` reads them),
    [T,H,W,3] uint8 RGB, the short side scaled to ``short_side`` when given."""
    frames = [(f[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for f in video_frames(source)]
    if not frames:
        raise DfstreamError(f"'{source}' has no frames", "give a video or a folder of frames")
    if short_side:
        h, w = frames[0].shape[:2]
        scale = short_side / min(h, w)
        size = (round(w * scale), round(h * scale))
        mode = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        frames = [cv2.resize(f, size, interpolation=mode) for f in frames]
    return np.stack(frames)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """[..., H, W, 3] uint8 -> [..., 3, H, W] float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).float() / 255


class Processing:
    """How the per-frame processed video P is made from the input frames I, frame by frame
    (so that it flickers the way real per-frame processing does):

    - ``jitter``: random exposure, per-channel gain and gamma on each frame;
    - ``classic[:PRESET]``: the classic cartoonizer;
    - ``STAGE=ENGINE``: any engine of the pipeline (``cartoonize=animegan2:paprika``,
      ``colorize=deoldify-artistic``...), run on each frame alone.
    """

    def __init__(self, spec: str):
        self.spec = spec
        self.stage = None
        if spec == "jitter":
            return
        from dfstream.engines import EngineOptions, build_chain

        stage, _, engine = spec.partition("=")
        if spec.startswith("classic"):
            stage, engine = "cartoonize", spec
        elif not engine:
            raise UsageError(f"unknown processing '{spec}'", "use jitter, classic[:PRESET] or STAGE=ENGINE")
        (self.stage,), _ = build_chain([stage], {stage: engine}, EngineOptions())

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """[T,3,H,W] in [0,1] -> processed, same shape."""
        if self.stage is None:
            t = frames.shape[0]
            exposure = 1 + 0.1 * torch.randn(t, 1, 1, 1, generator=gen)
            gain = 1 + 0.05 * torch.randn(t, 3, 1, 1, generator=gen)
            gamma = torch.exp(0.1 * torch.randn(t, 1, 1, 1, generator=gen))
            return (frames.clamp_min(1e-6) ** gamma * exposure * gain).clamp(0, 1)
        from dfstream.colour import luma
        from dfstream.engines import StageContext

        ctx = StageContext(frames, luma(frames, "bt601"), [True] * frames.shape[0])  # each frame alone
        return self.stage.process(frames, ctx).clamp(0, 1)


@dataclass
class Clip:
    """A video's frames and their processed version (None: made on the fly)."""

    name: str
    frames: np.ndarray
    processed: np.ndarray | None


class VideoClips:
    """Random clips of ``length`` frames: crop ``crop`` x ``crop``, flipped and played backwards
    at random, as (I, P) tensors [B,T,3,H,W]. P comes from ``processed`` (one per source) or
    from one of the ``processing`` specs, drawn per clip."""

    def __init__(self, sources: list[str], processed: list[str] | None = None, processing: list[str] | None = None,
                 length: int = 11, crop: int = 192, short_side: int | None = None):
        if processed and len(processed) != len(sources):
            raise UsageError(f"{len(sources)} videos but {len(processed)} processed versions",
                             "give one --processed folder or video per input video, in the same order")
        if not processed and not processing:
            raise UsageError("no processed frames", "give --processed folders or a --process to make them")
        if crop % 4:
            raise UsageError(f"crop {crop} is not a multiple of 4", "use e.g. 192")
        self.length, self.crop = length, crop
        self.processing = [Processing(spec) for spec in processing] if processing and not processed else []
        self.clips = []
        for k, source in enumerate(sources):
            frames = read_frames(source, short_side)
            done = read_frames(processed[k], short_side) if processed else None
            if done is not None and done.shape != frames.shape:
                raise DfstreamError(f"'{processed[k]}' has {len(done)} frames of {done.shape[2]}x{done.shape[1]}, "
                                    f"'{source}' {len(frames)} of {frames.shape[2]}x{frames.shape[1]}",
                                    "give the processed version made from that video, frame for frame")
            if len(frames) < length or min(frames.shape[1:3]) < crop:
                raise DfstreamError(f"'{source}' is too short or too small for {length}-frame clips of {crop}x{crop}",
                                    "lower --clip-length or --crop, or leave that video out")
            self.clips.append(Clip(Path(source).name, frames, done))

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, outputs = [], []
        for _ in range(batch):
            clip = self.clips[_draw(len(self.clips), gen)]
            start = _draw(len(clip.frames) - self.length + 1, gen)
            top = _draw(clip.frames.shape[1] - self.crop + 1, gen)
            left = _draw(clip.frames.shape[2] - self.crop + 1, gen)
            flip, backwards = (bool(_draw(2, gen)) for _ in range(2))
            window = (slice(start, start + self.length), slice(top, top + self.crop), slice(left, left + self.crop))
            i = to_tensor(clip.frames[window])
            if clip.processed is not None:
                p = to_tensor(clip.processed[window])
            else:
                p = self.processing[_draw(len(self.processing), gen)](i, gen)
            if flip:
                i, p = i.flip(-1), p.flip(-1)
            if backwards:
                i, p = i.flip(0), p.flip(0)
            inputs.append(i)
            outputs.append(p)
        return torch.stack(inputs), torch.stack(outputs)

    def held_out(self, count: int, seed: int = 12345) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``count`` fixed clips (the same every epoch) for evaluation, as [1,T,3,H,W] pairs."""
        gen = torch.Generator().manual_seed(seed)
        return [self.sample(1, gen) for _ in range(count)]


class Images:
    """A folder of images sampled as random ``size`` crops (scaled up first when smaller), flipped
    at random; ``paired``: a second folder whose images with the same names get the same crop."""

    def __init__(self, folder: str, size: int, paired: str | None = None, smooth: bool = False):
        self.files, self.size, self.smooth = images_in(folder), size, smooth
        self.paired = Path(paired) if paired else None
        if self.paired:
            missing = [p.name for p in self.files if not self._pair(p).is_file()]
            if missing:
                raise DfstreamError(f"'{paired}' lacks {missing[0]} (and {len(missing) - 1} more)",
                                    "make the edge-smoothed set with 'dfstream data edge-smooth'")

    def _pair(self, path: Path) -> Path:
        return self.paired / f"{path.stem}.png"

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[B,3,size,size] RGB in [0,1], and the paired (or edge-smoothed) crops when asked for."""
        first, second = [], []
        for _ in range(batch):
            path = self.files[_draw(len(self.files), gen)]
            image = read_image(path)
            other = read_image(self._pair(path)) if self.paired else edge_smooth(image) if self.smooth else None
            image, other = self._crop(image, other, gen)
            first.append(image)
            second.append(other)
        return to_tensor(np.stack(first)), to_tensor(np.stack(second)) if second[0] is not None else None

    def _crop(self, image, other, gen):
        h, w = image.shape[:2]
        if min(h, w) < self.size:
            scale = self.size / min(h, w)
            size = (max(self.size, round(w * scale)), max(self.size, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            other = cv2.resize(other, size, interpolation=cv2.INTER_CUBIC) if other is not None else None
            h, w = image.shape[:2]
        top, left = _draw(h - self.size + 1, gen), _draw(w - self.size + 1, gen)
        flip = bool(_draw(2, gen))
        pick = (lambda a: a[top: top + self.size, left: left + self.size, :][:, ::-1 if flip else 1])
        return pick(image), pick(other) if other is not None else None


def _draw(n: int, gen: torch.Generator) -> int:
    return int(torch.randint(n, (1,), generator=gen))
