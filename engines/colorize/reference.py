"""``reference``: colour a black-and-white video from one or more colour stills.

Chroma is worked out at half the frame's size, at most 480 pixels on the
longer side (the size of 4:2:0 chroma; the luma is always the source's, at full
resolution) from three estimates, per pixel:

1. the reference pulled along the optical flow from the frame to the best
   matching reference still, where that flow passes the occlusion test and
   the photometric check over 3x3 pixels and reads no further outside the
   still than 2% of its longer side: a direct anchor, so colours never drift.
   Further out a warp reads the still's replicated edge, and both checks can
   pass on it: a gate flag at the edge of giant-slalom's still smeared red
   over the snow the camera came to. The flows to the still are searched from
   the last frame's, carried on along the flow between the frames where they
   anchored (``_followed``): content the camera follows moves further from where
   the still shows it than a search from none reaches (bus 28.09 / 24.54 dB,
   now 28.32 / 24.66);
2. the previous frame's chroma pulled along the flow between frames, where it
   passes the occlusion test and the photometric check (propagation through
   motion), and as far as the luma has stayed what it was where that chroma was
   taken (``drifted``): a branch passing in front of bus, given the bus's motion
   by the coarse flow, passes each frame's check and kept the bus's white and
   blue (bus 27.83 / 24.28 dB, now 28.09 / 24.54);
3. for content neither flow can find (new content entering, what the frame
   before hid), a look-up: per cell of 4x4 chroma pixels, the mean chroma of
   the reference cells whose luma patches look most alike (an exhaustive
   nearest-neighbour search). It is made afresh where it weighs or where the
   luma under it has changed since it was made (over a fade from black, what
   the dim frames looked up was carried on: giant-slalom lost 2-3 dB to the
   end of the shot), and carried along the flow elsewhere, so that it is known
   everywhere: where no still anchors the colour and the nearest cells agree,
   each frame moves 5% of the way towards it, and colour carried onto the
   wrong content (a skier's red on the snow) fades. With several stills (a
   film's scenes, a still of each; keyframes of one shot), the look-up
   searches the scene's own stills, those that have anchored OWN of one of its
   frames: other scenes' stills offered their look-alike cells too, and each
   scene of a film of four real ones coloured with the four stills lost
   1.0-1.6 dB against its own still alone (bus 26.79 / 22.86 against 27.78 /
   24.21 dB; ``benchmarks/film_of_scenes.py``). Until one anchors (a scene
   none of the stills shows) it searches them all. Every RECHECK frames each
   of the scene's stills but the best is asked whether it still anchors OWN
   of the frame, and leaves if not: across a cross-dissolve, which no cut
   marks, the first scene's still stayed among the next one's (giant-slalom
   after bus 40.99 dB against 43.31 after a hard cut; now 43.25).

Every flow is DIS ultrafast (fast where chroma has under 180 rows: the
quarter-size flow of ultrafast is too coarse there), measured both ways (the
forward-backward test needs the two alike). At a scene cut or on the first
frame the propagation is empty and the frame is re-anchored. The result is
smoothed edge-aware with the luma as guide, except as far as a still anchors
it: a still's colour keeps its own detail (smoothing it everywhere costs
0.1-0.6 dB on the real sets).

A still of another shape than the frames (a 4:3 photo for a 16:9 film) is
scaled to fit inside them and centred, not stretched (``placed``): nothing is
anchored off its edges, and the look-up searches the still alone. A still in
another tone than the film (a photo's exposure and tone curve) is brought to
the film's (``tone``) once the flow to it passes the forward-backward test on
SEEN of a frame, and the line found STEADY frames before agrees (a fade's do
not): otherwise the photometric check fails where the flow is right, and the
look-up compares unlike luma (bus's middle frame as the still, its luma 15%
darker: 27.00 against 27.87 dB as it is; now 27.85). A still sharper than the film
(a photo given for a soft old film) is blurred as soft as the film is found to be
(``_softness_seen``) at the same time, so that the flows, their photometric check
and the look-up compare like with like and the colour anchored is as soft as the
film's (bus softened by 2 pixels: 27.06 dB from the sharp still, 27.82 now, 27.77
from a still as soft). Once either is fitted the frame is coloured afresh from the
still as the film shows it. The tone is fitted again as the film's exposure drifts.

A fade (to or from black) is worked on as if lit (``_fade``): a frame whose
bright end is under DIM of its still's, while the level along the flow from
frame to frame has moved by FADING over the last LEVELS frames, is brightened
to the still's level for everything the colorizer compares, and its chroma is
dimmed by as much, as a fade dims R'G'B' and so Cb and Cr. The dim frames'
cells looked like the still's dark ones: giant-slalom fading out took blue
and pink blotches on its snow (36.58 dB against 47.44 for the shot coloured
unfaded and faded after; now 45.71). A darker shot than the still, a pan into
shadow, keep their level along the flow and are left as they are.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dfstream.colour import merge_chroma, ycbcr
from dfstream.errors import DfstreamError
from dfstream.geometry import area, bilinear, chroma_size

from ..filters import box_blur, gaussian_blur, guided_filter
from ..flow import DISFlow, FlowEstimator, from_previous, inconsistent, leaves, likeness, to_previous, warps
from ..registry import register
from ..stage import RecurrentStage, StageContext

CELL = 4  # chroma pixels on each side of a look-up cell
NEAREST = 4  # reference cells whose chroma a look-up averages
LOOKED_UP = 0.5  # weight of the look-up in a cell from which on that cell is looked up afresh
CHANGED = 0.05  # mean change of a cell's luma since its look-up from which that cell is looked up afresh
HINT = 0.05  # pull towards the look-up per frame where no still anchors the colour
AGREE = 0.05  # chroma spread of the nearest cells at which the pull is down to 1/e
FINE_BELOW = 180  # chroma rows under which DIS fast, not ultrafast
GROUP = 8  # reference cells in a group of the nearest-neighbour search (``nearest``)
NEARER = 1.25  # scale of each still as if seen nearer, whose more TEXTURED cells the look-up searches too
TEXTURED = 0.5  # share of those cells, by their luma's standard deviation (flat ones are there already)
BEYOND = 0.02  # of the longer side: how far outside a still the flow to it may read and still anchor
GREY = 8 / 255  # spread of a pixel's R', G' and B' up to which it is grey
COLOURED = 0.001  # share of a still's pixels that are not grey, under which it holds no colour
DIM = 0.8  # a frame whose bright end is under this share of its still's may be in a fade
FADING = 1.15  # change of level along the flow over LEVELS frames from which it is a fade (flicker: about 7%)
LEVELS = 5
BRIGHT = 0.95  # the bright end of a thumbnail: its quantile
DARK = 0.03  # luma under which the level from frame to frame is not measured
SEEN_LIT = 0.01  # share of the frame that must be measured for a level
FLOOR = 0.1  # the most a fade's frame is brightened: 10x
OWN = 0.1  # share of a frame a still anchors from which it is one of the scene's stills, all its look-up searches
RECHECK = 10  # frames between checks that each of the scene's stills still anchors OWN (a dissolve)
SEEN = 0.2  # share of a frame the flow to a still must pass the forward-backward test on to fit the still's tone
TRIMMED = 0.8  # share of those pixels, the nearest the first line, that the tone's line is fitted to again
GAINS = (0.5, 2.0)  # gains of a tone taken as found; others, or too little contrast seen (SPREAD), are not
SPREAD = 0.05  # standard deviation of the still's luma seen under which no gain can be told
CODES = 4 / 255  # a tone that moves no luma further is left alone: the photometric check passes it (0.987),
# and flows to a still not quite of the frame's view give such lines (one stretched to 16:9: 0.98 y + 0.010)
STEADY = 3  # frames apart two lines of a still's tone must agree within CODES to be taken (not a fade's)
SOFTER = 0.25  # step of the Gaussian blurs (working pixels) tried on a still sharper than the film, up to SOFTEST
SOFTEST = 3.0
SEEN_AGAIN = 0.5  # share of a frame a toned still must be seen on (as SEEN) to be toned again: not from a glimpse
RETONE = 3.0  # times CODES a line found on a still already toned must move luma to tone it again (a drift)
DRIFTED = 0.2  # ``drifted`` at which the flow carrying a pixel's chroma is trusted 1/e as far
DARKEST = 0.05  # added to luma before its log in ``drifted``: the grain of dark pixels is no change
LIGHT = 32  # the change of light ``drifted`` leaves out: its mean over 1/LIGHT of the height around


def load_image(path: str | Path) -> torch.Tensor:
    """A colour still as R'G'B' [1,3,H,W] in [0,1]."""
    if not Path(path).is_file():
        raise DfstreamError(f"reference image '{path}' does not exist", "check the path")
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DfstreamError(f"cannot read reference image '{path}'", "give a PNG or JPEG colour image")
    return torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255


def load_still(path: str | Path) -> torch.Tensor:
    """``load_image``, refused when the still holds no colour to give (a black-and-white photo, or a
    frame of the film itself): the video would come out as grey as it went in."""
    image = load_image(path)
    if float(((image.amax(1) - image.amin(1)) > GREY).float().mean()) < COLOURED:
        raise DfstreamError(f"reference image '{path}' has no colour (it is black and white)",
                            "give a colour still of the scene, or a keyframe coloured by hand")
    return image


def patches(y: torch.Tensor, cells: tuple[int, int]) -> torch.Tensor:
    """What the look-up compares, per cell of luma [1,1,H,W]: the mean and standard deviation of
    the cell and of its eight neighbours, and the mean over 7x7 cells -> [cells, 19]."""
    mean, std = moments(y, cells)
    parts = []
    for x, weight in ((mean, 1.0), (std, 2.0)):
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        parts += [weight * padded[..., i : i + cells[0], j : j + cells[1]] for i in range(3) for j in range(3)]
    parts.append(0.5 * box_blur(mean, 3))
    return torch.cat(parts, 1).flatten(2)[0].T


def moments(y: torch.Tensor, cells: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and standard deviation of luma [1,1,H,W] per cell -> two [1,1,*cells]."""
    mean = area(y, cells)
    return mean, (area(y * y, cells) - mean * mean).clamp_min(0).sqrt()


def nearest(distances: torch.Tensor, k: int, group: int = GROUP) -> torch.Tensor:
    """The indices of the k smallest distances per row [n,m] -> [n,k] (m a multiple of ``group``),
    the ones ``topk`` finds, with ``topk`` over m/group group minima and k*group candidates instead
    of over all m: the k smallest lie in the k groups (each of ``group`` columns m/group apart)
    with the smallest minima."""
    n, m = distances.shape
    width = m // group
    if width <= k:
        return distances.topk(k, largest=False).indices
    chosen = distances.view(n, group, width).amin(1).topk(k, largest=False).indices  # [n,k]
    candidates = (chosen[..., None] + torch.arange(0, m, width, device=distances.device)).flatten(1)
    return candidates.gather(1, distances.gather(1, candidates).topk(k, largest=False).indices)


def tone(still: torch.Tensor, frame: torch.Tensor, seen: torch.Tensor) -> tuple[float, float] | None:
    """Gain and offset that bring a still's luma to a frame's (a photo's tone curve to the film's):
    the least-squares line from the still's luma pulled to the frame, ``still``, to the frame's,
    over the pixels ``seen`` (where the flow between them passes the forward-backward test),
    fitted again to the TRIMMED share nearest the first line (flows that are wrong there). None
    where the pixels seen have too little contrast, or the gain is out of GAINS."""
    x, y = still[seen].double(), frame[seen].double()
    if len(x) < 2 or x.std() < SPREAD:
        return None
    gain, offset = fitted_line(x, y)
    off = (gain * x + offset - y).abs()
    kept = off <= off.kthvalue(max(1, int(TRIMMED * len(off)))).values
    gain, offset = fitted_line(x[kept], y[kept])
    return (gain, offset) if GAINS[0] <= gain <= GAINS[1] else None


def fitted_line(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The least-squares gain and offset of y against x (1-D, x not constant)."""
    dx = x - x.mean()
    gain = float((dx * y).sum() / dx.square().sum())
    return gain, float(y.mean()) - gain * float(x.mean())


def line_residual(x: torch.Tensor, y: torch.Tensor) -> float:
    """The mean square of y less its least-squares line in x (1-D; infinite where x is constant)."""
    dx, dy = x - x.mean(), y - y.mean()
    spread = float(dx.square().mean())
    return float(dy.square().mean()) - float((dx * dy).mean()) ** 2 / spread if spread > 0 else math.inf


def distance(line: tuple[float, float], other: tuple[float, float]) -> float:
    """How far apart two lines (gain, offset) take any luma in [0, 1]: the most at 0 or 1."""
    return max(abs(line[1] - other[1]), abs(line[0] + line[1] - other[0] - other[1]))


def drifted(y: torch.Tensor, born: torch.Tensor) -> torch.Tensor:
    """How far luma y [1,1,H,W] has moved from ``born``, the luma where its chroma was taken (anchored or
    looked up): the change of log luma less its mean around (LIGHT), so that light changing over a
    region (a shadow passing, an exposure drifting) is not counted and content given another's motion
    is (a thin branch carried along with the bus behind it). Light that changes over a smaller region
    still counts: a shadow sweeping over giant-slalom, 40.37 dB before, 40.22 now."""
    change = torch.log((y + DARKEST) / (born + DARKEST))
    return change - box_blur(change, max(1, y.shape[-2] // LIGHT))


def grid(size: tuple[int, int]) -> tuple[int, int]:
    """The look-up's cells of CELL x CELL pixels over an image of ``size``."""
    return max(1, size[0] // CELL), max(1, size[1] // CELL)


def placed(still: torch.Tensor, size: tuple[int, int], aspect: float = 1.0
           ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """A still brought to the frames' ``size`` keeping its shape as shown: scaled to fit inside, centred,
    the rest filled with its edges (for the flow) -> (that, where the still is [1,1,H,W] or None
    where it fills the frame, the still alone at its scale). The frames' pixels are ``aspect`` times
    as wide as high (anamorphic video: a widescreen DVD's 64:45), the still's square. Within two
    pixels of the frame's shape it is stretched to it."""
    h, w = size
    scale = min(h / still.shape[-2], w * aspect / still.shape[-1])
    inner = max(1, round(still.shape[-2] * scale)), max(1, round(still.shape[-1] * scale / aspect))
    if abs(inner[0] - h) <= 2 and abs(inner[1] - w) <= 2:
        alone = area(still, size)
        return alone, None, alone
    alone = area(still, inner)
    top, left = (h - inner[0]) // 2, (w - inner[1]) // 2
    pad = (left, w - inner[1] - left, top, h - inner[0] - top)
    return F.pad(alone, pad, mode="replicate"), F.pad(torch.ones_like(alone[:, :1]), pad), alone


class ChromaLookup:
    """Chroma for content the flows cannot find in the references: per cell of CELL x CELL chroma
    pixels, the mean chroma of the NEAREST reference cells whose luma patches (``patches``) are
    closest among every cell of every reference (found by ``nearest``), and how far they agree:
    exp(-(s / AGREE)^2), s their mean distance from that mean chroma. The references are searched
    at their own size and, for content seen nearer than they show it, the TEXTURED share of their
    cells at NEARER times it."""

    def __init__(self, lumas: list[torch.Tensor], chromas: list[torch.Tensor], size: tuple[int, int]):
        """``lumas``, ``chromas``: the stills, each at its own size; ``size``: the frames'."""
        self.cells = grid(size)
        keys, values = [], []
        for still, chroma in zip(lumas, chromas):
            nearer = round(still.shape[-2] * NEARER), round(still.shape[-1] * NEARER)
            for y, c, share in ((still, chroma, 1.0), (bilinear(still, nearer), bilinear(chroma, nearer), TEXTURED)):
                cells = grid(y.shape[-2:])
                texture = moments(y, cells)[1].flatten()
                kept = texture >= texture.quantile(1 - share)  # the most textured share of the cells
                keys.append(patches(y, cells)[kept])
                values.append(area(c, cells).flatten(2)[0].T[kept])
        keys = torch.cat(keys)
        self.k = min(NEAREST, len(keys))
        pad = -len(keys) % GROUP  # keys never found (infinitely far) up to a multiple of GROUP
        self.keys = F.pad(keys, (0, 0, 0, pad))
        self.norms = F.pad(keys.square().sum(1), (0, pad), value=float("inf"))
        self.values = torch.cat(values)

    def __call__(self, y: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
        """Chroma and agreement [n,3] for the n cells of luma y that ``wanted`` (flat) marks."""
        queries = patches(y, self.cells)[wanted]
        step = max(1, 2**20 // len(self.keys))  # distances: 4 MB at once
        found = [nearest(torch.addmm(self.norms[None], q, self.keys.T, alpha=-2), self.k)
                 for q in queries.split(step)]  # no cell wanted: one empty part
        chromas = self.values[torch.cat(found)]
        mean = chromas.mean(1)
        spread = (chromas - mean[:, None]).norm(dim=2).mean(1, keepdim=True)
        return torch.cat((mean, torch.exp(-(spread / AGREE) ** 2)), 1)


@register("colorize", "reference")
class ReferenceColorizer(RecurrentStage):
    name = "colorize"
    reads_colour = False  # colours from the luma alone
    keeps_luma = True

    @classmethod
    def missing(cls, variant, options):
        return None if options.references else "no --reference image given"

    @classmethod
    def remedy(cls, variant):
        return "pass --reference IMAGE (a colour still or a hand-coloured keyframe)"

    @classmethod
    def create(cls, variant, options):
        return cls(options.references)

    def __init__(self, references: list | None = None, max_side: int = 480, anchor: float = 0.5,
                 estimator: FlowEstimator | None = None):
        if not references:
            raise DfstreamError("the reference colorizer needs a colour image",
                                "pass --reference IMAGE (a colour still or a hand-coloured keyframe)")
        self.references = [r if isinstance(r, torch.Tensor) else load_still(r) for r in references]
        self.max_side = max_side
        self.anchor = anchor
        self.estimator = estimator  # every flow, both ways; by default DIS at the preset for the size
        self._size: tuple[int, int] | None = None
        self._aspect = 1.0
        self._tones: dict[int, tuple[float, float]] = {}  # per still, once seen: ``tone``
        self._softness: dict[int, float] = {}  # per still, once seen: the blur as soft as the film, in frame heights
        self._lines: dict[int, deque] = defaultdict(deque)  # per still: (frame number, line) of the last STEADY
        self._blurs: dict[int, deque] = defaultdict(deque)  # per still: (frame number, blur) of the last STEADY
        self._frame = 0  # frames stepped, for ``_steady``
        self.reset()

    def reset(self) -> None:
        self._chroma: torch.Tensor | None = None
        self._luma: torch.Tensor | None = None
        self._born: torch.Tensor | None = None  # the luma where each pixel's chroma was taken, carried with it
        self._hint: torch.Tensor | None = None  # the look-up's chroma, agreement and luma, carried along the flow
        self._own: tuple[int, ...] = ()  # the stills this scene is of (``OWN``), none until one anchors enough
        self._gains: deque = deque(maxlen=LEVELS)  # the level from frame to frame along the flow (``_fade``)
        self._dimmed = 1.0  # the last frame's ``_fade``
        self._followed_flows: tuple | None = None  # the last frame's still, flows to it and back, and where they anchored

    def _prepare(self, size: tuple[int, int], like: torch.Tensor, matrix: str, aspect: float) -> None:
        """Bring the references to the working size and pixel shape ``aspect``, and the device and
        dtype of the frames ``like`` this one, once the frame size is known."""
        self._size, self._aspect = size, aspect
        self.flow = self.estimator or DISFlow("ultrafast" if min(size) >= FINE_BELOW else "fast", self.max_side)
        fitted = [placed(r.to(like), size, aspect) for r in self.references]
        self._framed = [ycbcr(framed, matrix) for framed, _, _ in fitted]
        self._alone = [ycbcr(still, matrix) for _, _, still in fitted]
        self._ref_inside = [inside for _, inside, _ in fitted]
        self._matched()

    def _matched(self) -> None:
        """The stills as the film shows them, where fitted: their luma in its tone (``tone``) and both
        planes as soft, for the flows, the choice of the best still, the anchor and the look-up."""
        def matched(i: int, y: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            gain, offset = self._tones.get(i, (1.0, 0.0))
            if (gain, offset) != (1.0, 0.0):
                y = (gain * y + offset).clamp(0, 1)
            sigma = self._softness.get(i, 0.0) * self._size[0]  # the work size may change (realtime)
            return gaussian_blur(y, sigma), gaussian_blur(c, sigma)

        self._ref_luma, self._ref_chroma = zip(*(matched(i, y, c) for i, (y, c) in enumerate(self._framed)))
        self._thumbs = torch.cat([area(y, (18, 32)) for y in self._ref_luma])
        self._levels = [max(float(t.quantile(BRIGHT)), 1e-3) for t in self._thumbs]
        self._matched_alone = [matched(i, y, c) for i, (y, c) in enumerate(self._alone)]
        self._lookups: dict[tuple[int, ...], ChromaLookup] = {}  # per set of stills searched together

    def _lookup(self) -> ChromaLookup:
        """The look-up over the stills this scene is of, or over every still while none is."""
        stills = self._own or tuple(range(len(self._matched_alone)))
        if stills not in self._lookups:
            chosen = [self._matched_alone[i] for i in stills]
            self._lookups[stills] = ChromaLookup([y for y, _ in chosen], [c for _, c in chosen], self._size)
        return self._lookups[stills]

    @staticmethod
    def _trusted(forward: torch.Tensor, back: torch.Tensor, photometric: torch.Tensor) -> torch.Tensor:
        """How far a flow can be trusted per pixel (0..1), from the flow back (pulled along it) and
        its photometric mask.

        Motion boundaries of a noisy flow still carry the right colour, so only the
        forward-backward check counts; the photometric mask becomes a ramp, since
        partial trust compounded over many frames would fade the colour.
        """
        return (~inconsistent(forward, back)) * (2 * photometric - 0.8).clamp(0, 1)

    def _hinted(self, y: torch.Tensor, unknown: torch.Tensor, carried: torch.Tensor | None) -> torch.Tensor:
        """The look-up's chroma, agreement and the luma it was made for, per pixel (of the scene's own
        stills, else of every still): looked up afresh in the cells where it weighs LOOKED_UP or more
        somewhere or where the luma has changed by CHANGED since (in every cell without a ``carried``
        one), elsewhere the ``carried`` one."""
        lookup = self._lookup()
        cells = lookup.cells
        if carried is None:
            wanted = torch.ones(cells[0] * cells[1], dtype=torch.bool, device=y.device)
        else:
            wanted = (F.adaptive_max_pool2d(unknown, cells) >= LOOKED_UP).flatten()
            wanted |= (area((y - carried[:, 3:]).abs(), cells) > CHANGED).flatten()
        looked = unknown.new_zeros(wanted.numel(), 3)
        looked[wanted] = lookup(y, wanted)
        looked = F.interpolate(looked.T.reshape(1, 3, *cells), size=y.shape[-2:], mode="nearest")
        looked = torch.cat((looked, y), 1)
        if carried is None:
            return looked
        wanted = F.interpolate(wanted.view(1, 1, *cells).float(), size=y.shape[-2:], mode="nearest") > 0
        return torch.where(wanted, looked, carried)

    def _fit(self, best: int, to_ref: torch.Tensor, back: torch.Tensor, pulled: torch.Tensor, y: torch.Tensor,
             inside: list[torch.Tensor]) -> bool:
        """Fit still ``best`` (its luma ``pulled`` along ``to_ref``) to frame y where enough of it is
        seen (SEEN of the frame through the forward-backward test, inside it): first how much softer
        the film is (``_softness_seen``), then its ``tone``, each taken once the one found STEADY
        frames before agrees: the same blur; the line within CODES (a fade's lines change from frame
        to frame, and a still fitted to one would stay dimmed). The tone is fitted again wherever the
        line found on the still as toned, steady and on SEEN_AGAIN of the frame (lines found on a
        still the camera is leaving are off: bus lost 0.05 dB), moves luma by RETONE times CODES: an
        exposure that drifts over a shot (a cloud, the iris, the film's density; giant-slalom
        darkened by a quarter over its 127 frames: 38.86 dB at its last frame, 43.98 now, 45.98
        coloured and darkened after).
        Every other pixel of every other row is enough, at a quarter of the cost. -> whether the
        still as the film shows it changed."""
        half = (..., slice(None, None, 2), slice(None, None, 2))  # every other pixel of every other row
        seen = ~inconsistent(to_ref[half], back[half]) & ~leaves(to_ref, 0)[half]  # leaves: the full grid's positions
        if inside:
            seen &= inside[0][half] > 0.5
        pulled = pulled[half]
        if float(seen.float().mean()) < SEEN:
            return False
        if best not in self._softness:
            sigma, pulled = self._softness_seen(best, to_ref, y, seen)
            if self._steady(self._blurs[best], sigma, lambda a, b: a == b):
                self._softness[best] = sigma / self._size[0]
                if sigma:
                    return True  # its tone is fitted from the next frame, the still as soft
        line = tone(pulled, y[..., ::2, ::2], seen)
        if not line or not self._steady(self._lines[best], line, lambda a, b: distance(a, b) <= CODES):
            return False
        gain, offset = self._tones.get(best, (1.0, 0.0))
        if distance(line, (1.0, 0.0)) <= (RETONE if best in self._tones else 1) * CODES or (
                best in self._tones and float(seen.float().mean()) < SEEN_AGAIN):
            self._tones[best] = (gain, offset)
            return False
        self._tones[best] = (line[0] * gain, line[0] * offset + line[1])  # the line is found on the still as toned
        self._lines[best].clear()
        return True

    def _steady(self, found: deque, value, agree) -> bool:
        """Whether ``value``, found on this frame, ``agree``s with the one found STEADY frames before
        (``found``: (frame number, value) of the last STEADY frames, this one added)."""
        while found and found[0][0] < self._frame - STEADY:
            found.popleft()
        found.append((self._frame, value))
        return found[0][0] == self._frame - STEADY and agree(found[0][1], value)

    def _softness_seen(self, i: int, to_ref: torch.Tensor, y: torch.Tensor, seen: torch.Tensor
                       ) -> tuple[float, torch.Tensor]:
        """How much softer frame y is than still i: the Gaussian blur of the still, up to SOFTEST
        working pixels in steps of SOFTER, that brings its luma pulled along ``to_ref`` nearest the
        frame by a straight line (any tone) where ``seen`` (at every other pixel, as ``_fit``
        takes them); none where blurring the frame by a step brings them nearer too: a flow a pixel
        off, or a still not quite of the frame's view (stretched to another shape), makes blurring
        either one help. And the still's luma so blurred and pulled. A sharp photo given for a soft
        old film misled the flows and the look-up, and its sharp colour did not fit the film (bus
        softened by 2 pixels: 27.06 dB coloured from the sharp still, 27.77 from one as soft). The
        line is fitted after the blur: a sharp still's detail, absent from the film, lowers its gain."""
        sigmas = [SOFTER * k for k in range(round(SOFTEST / SOFTER) + 1)]
        pulled = [p[..., ::2, ::2] for p in warps(to_ref, *(gaussian_blur(self._ref_luma[i], s) for s in sigmas))]
        frame, softer = (x[..., ::2, ::2][seen].double() for x in (y, gaussian_blur(y, SOFTER)))
        errors = [line_residual(p[seen].double(), frame) for p in pulled]
        best = errors.index(min(errors)) if line_residual(pulled[0][seen].double(), softer) >= errors[0] else 0
        return sigmas[best], pulled[best]

    def _anchoring(self, y: torch.Tensor, to_ref: torch.Tensor, back: torch.Tensor, pulled: torch.Tensor,
                   inside: list[torch.Tensor]) -> torch.Tensor:
        """How far a still can anchor each pixel of frame y: the flow to it (``to_ref``, ``back`` the
        flow back pulled along it) trusted, reading no further than BEYOND outside it, and within it
        where it has another shape (``inside``)."""
        confidence = self._trusted(to_ref, back, likeness(y, pulled, radius=1))
        confidence.masked_fill_(leaves(to_ref, BEYOND * max(y.shape[-2:])), 0)
        return confidence * inside[0] if inside else confidence

    def _nearest(self, thumb: torch.Tensor) -> int:
        """The still whose 18x32 thumbnail is nearest a frame's, ``thumb``."""
        return int((self._thumbs - thumb).abs().flatten(1).mean(1).argmin())

    def _to_still(self, i: int, y: torch.Tensor, *images: torch.Tensor, initial: tuple = (None, None)) -> tuple:
        """The flow from frame y to still i (and back, each searched from ``initial`` where given) and,
        pulled along it, ``images`` of the still, the flow back, the still's luma and where the still
        is (another shape; else none) -> (flow, flow back, [images], back pulled, pulled luma, [where])."""
        ref = self._ref_luma[i]
        to_ref, from_ref = self.flow(y, ref, initial[0]), self.flow(ref, y, initial[1])
        inside = [] if self._ref_inside[i] is None else [self._ref_inside[i]]
        pulled = warps(to_ref, *images, from_ref, ref, *inside)
        n = len(images)
        return to_ref, from_ref, pulled[:n], pulled[n], pulled[n + 1], pulled[n + 2 :]

    def _anchors(self, i: int, y: torch.Tensor) -> float:
        """The share of frame y that still i anchors."""
        to_ref, _, _, back, pulled, inside = self._to_still(i, y)
        return float(self._anchoring(y, to_ref, back, pulled, inside).mean())

    def _followed(self, best: int, flow: torch.Tensor, ahead: torch.Tensor) -> tuple:
        """Where to search the flows between this frame and still ``best`` from: the last frame's, carried
        on along the flows between the frames (``flow`` to the last one, ``ahead`` from it), where they
        anchored (half or more); elsewhere, and for another still, none. Content the camera follows moves
        far from where the still shows it, further than a search from none finds: bus's own bus, hardly
        anchored 20 frames on (19% of the frame anchored at frame 20, 2% at its last; followed, 46% and
        12%: a one-off trace)."""
        if self._followed_flows is None or self._followed_flows[0] != best:
            return None, None
        _, to_ref, from_ref, anchored = self._followed_flows
        was_to, was_anchored = warps(flow, to_ref, anchored)
        was_ahead, anchored_on_still = warps(from_ref, ahead, anchored)
        return (flow + was_to) * (was_anchored >= 0.5), (from_ref + was_ahead) * (anchored_on_still >= 0.5)

    def step(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        size = chroma_size(*ctx.luma.shape[-2:], self.max_side, ctx.scale)
        if (self._size, self._aspect) != (size, ctx.aspect):  # first frame, or the work size changed (realtime)
            self._prepare(size, ctx.luma, ctx.matrix, ctx.aspect)
            self._followed_flows = None
            if self._chroma is not None:
                self._chroma, self._hint = (bilinear(x, size) for x in (self._chroma, self._hint))
                self._luma, self._born = (area(x, size) for x in (self._luma, self._born))
        y = source = ctx.luma_at(size)  # y: as if lit, in a fade
        thumb = area(y, (18, 32))
        best = self._nearest(thumb)
        measured = None if self._chroma is None else to_previous(ctx, self.flow, y, self._luma)
        if measured is not None:
            flow, photometric = measured
            ahead = from_previous(ctx, self.flow, y, self._luma)
            back, previous, carried, before, born = warps(flow, ahead, self._chroma, self._hint, self._luma, self._born)
        dimmed = self._fade(y, thumb, best, None if measured is None else (flow, back, before))
        if dimmed < 1 or self._dimmed < 1:  # a fade: worked on as if lit, its chroma dimmed alike
            y, thumb = (y / dimmed).clamp(0, 1), (thumb / dimmed).clamp(0, 1)
            best = self._nearest(thumb)
            if measured is not None:
                photometric = likeness(y, (before / self._dimmed).clamp(0, 1))
        self._dimmed = dimmed
        initial = (None, None) if measured is None else self._followed(best, flow, ahead)
        to_ref, from_ref, (direct,), back_ref, pulled, inside = self._to_still(best, y, self._ref_chroma[best],
                                                                               initial=initial)
        self._frame += 1
        first = best not in self._tones
        if dimmed == 1 and self._fit(best, to_ref, back_ref, pulled, y, inside):
            self._matched()
            to_ref, from_ref, (direct,), back_ref, pulled, inside = self._to_still(best, y, self._ref_chroma[best],
                                                                                   initial=initial)
            if first:
                measured = None  # coloured afresh from the still as the film shows it
        confidence = self._anchoring(y, to_ref, back_ref, pulled, inside)
        self._followed_flows = (best, to_ref, from_ref, confidence)
        if best not in self._own and float(confidence.mean()) >= OWN:
            self._own = tuple(sorted((*self._own, best)))
        if len(self._own) > 1 and self._frame % RECHECK == 0:  # left behind by a dissolve?
            self._own = tuple(i for i in self._own if i == best or self._anchors(i, y) >= OWN)
        if measured is None:
            known, unknown, carried = confidence * direct, 1 - confidence, None
        else:
            trust = self._trusted(flow, back, photometric) * torch.exp(-(drifted(y, born) / DRIFTED) ** 2)
            known = trust * previous + (1 - trust) * confidence * direct
            unknown = (1 - trust) * (1 - confidence)
        hint = self._hinted(y, unknown, carried)
        chroma = known + unknown * hint[:, :2]
        if measured is None:
            born = y
        else:
            chroma = chroma + self.anchor * confidence * (direct - chroma)
            born = torch.lerp(y, born, trust * (1 - self.anchor * confidence))  # as far as carried
            pull = HINT * hint[:, 2:3] * (1 - confidence)  # where the look-up is clear: wrong colour fades
            chroma = chroma + pull * (hint[:, :2] - chroma)
        self._chroma, self._luma, self._hint, self._born = chroma, source, hint, born  # unsmoothed: smoothing would compound
        smoothed = guided_filter(y, chroma, radius=max(2, size[0] // 64), eps=1e-3, scale=2)
        smoothed = smoothed.lerp_(chroma, confidence)  # a still's colour keeps its own detail
        return merge_chroma(ctx.luma, smoothed * dimmed if dimmed < 1 else smoothed, ctx.matrix)

    def _fade(self, y: torch.Tensor, thumb: torch.Tensor, best: int, between: tuple | None) -> float:
        """How far a frame is dimmed by a fade (1: not): the bright end of its thumbnail over its
        still's, where that is under DIM and the frames' level along the flow from the one before
        (``between``: the flow, the flow back pulled along it, the frame before pulled along it) has
        moved by FADING over the last LEVELS frames; a scene dark from the start, a darker shot
        than the still, a pan into shadow keep their level along the flow."""
        if between is None:
            self._gains.clear()
        else:
            flow, back, before, y = (t[..., ::4, ::4] for t in (*between, y))  # a sixteenth is enough
            seen = ~inconsistent(flow, back) & (before > DARK)
            if float(seen.float().mean()) >= SEEN_LIT:
                self._gains.append(max(float((y[seen] / before[seen]).median()), FLOOR))
        level = float(thumb.quantile(BRIGHT)) / self._levels[best]
        moved = abs(math.log(math.prod(self._gains))) if len(self._gains) >= 2 else 0.0
        return max(level, FLOOR) if level < DIM and moved > math.log(FADING) else 1.0
