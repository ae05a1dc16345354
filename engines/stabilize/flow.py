"""``flow``: an online flow-guided temporal filter, the weights-free stabilizer.

Lai et al. (2018)'s formulation without the network: each output frame is the
processed frame P_t blended with the previous *output* pulled along the
optical flow of the input, where the flow is trusted,

    O_t = P_t + s_t * D_t,  D_t = M_t * (warp(O_{t-1}) - P_t),
    M_t = V_t * exp(-10 * (I_t - warp(I_{t-1}))^2),

V_t their occlusion test (the forward-backward check and motion boundaries,
as their evaluation: 0 or 1) and the second factor their photometric mask on
the input's luma, at a fifth of their alpha of 50: a per-pixel exponential
filter along motion trajectories. Flicker of any shape (hues that swing,
blotches, tone and detail that change) is damped, while content the flow
cannot follow (occlusions, new content, large real change in the input) is
taken from the current frame. Their strict photometric mask withheld the
filter wherever the input's own luma moves a little along the flow (noise,
light), where per-frame tools flicker as much as anywhere: for the same
departure, a share that varies over the pixels leaves more warping error
than one share (below), and on giant-slalom through CLAHE it removed 86.6%
of the excess warping error, this 91.9% (float outputs; 91.4% in 8 bits: benchmarks/engine_notes.md). After a colorizer
(``chroma_only``) M_t is their photometric mask alone, at their alpha: on the
colorizer's coarse flows the occlusion test filtered less and lowered the
chain's PSNR to the true colours (bus 27.44 against 27.49 dB). s_t is the weight of the past:
``strength`` while the flicker is moderate; where it is large, following it
that closely would move the output far from the processed video, so the
departure from it, s_t^2 * ms(D_t) (ms: mean square), is held within a budget
of (``strength * FIDELITY``)^2 per frame, 0.0151 RMS (36.4 dB) at the default
strength. The weight is then kept steady: s_t^2 * m_t = budget + saved / SPREAD,
m_t the running mean of ms(D) over about ten frames (``STEADY``). For a given
departure, one weight for all frames leaves the least warping error (both are
sums of squares of the same D, (1 - s)^2 against s^2), so a frame of little
flicker does not take a weight that its neighbours of large flicker cannot
afford. Budget a frame leaves unspent is saved for later ones, at most
``SAVED`` frames' worth, and no frame spends more than is saved: a sudden jump
of tone (an auto-exposure step) can be followed a while longer, and yet the
video from its start up to any frame stays within the budget on average: at
least 36.4 dB from the processed video at the default, on any footage. On
moderate flicker that is independent from frame to frame the filter leaves
(1 - s)^2 / (1 + s) of the frame-to-frame variance. Colour is blended by
magnitude as well (``blended``): where hues swing, the blend of two
hues is as saturated as the two, not greyer (on a posterized giant-slalom a
plain blend kept 91.6% of the colourfulness, this 94.7%, for 0.1-1.3 points
less of the excess warping error removed on the real sets, with the
photometric mask alone: benchmarks/engine_notes.md);
what that costs of the budget is counted in it. And each R'G'B' frame keeps at
least ``KEEP`` (95%) of its processed frame's colourfulness (``coloured``: one
gain on its chroma, at most 4) before the budget, which may move it back towards
the processed frame: casts of opposite hue that swing from
frame to frame (a per-channel equalization on white snow) would otherwise
average towards grey one frame ahead (90.8% kept there, 95.0% with it on
average, 94.7% at the least in a frame; the last frame of a scene, flushed with no
next frame, as well).
Looking one frame ahead (``lookahead``, what a file run does; live runs
are causal), frame t is finished only when frame t+1 has come. The warping
error compares each frame with its successor pulled back onto it, and a causal
filter can change only the later frame of each pair; one frame ahead changes
both. On R'G'B' frame t is then the one of least warping error over its two
pairs, (t-1, t) and (t, t+1), along the input's flow where the occlusion test
passes, plus mu times the departure of frames t and t+1 from the processed
ones, frame t-1 the causal output (the causal filter's long memory; the
finished frames fed back removed less on giant-slalom through detail
enhancement), mu = (1 - s_t) / s_t from the causal weight s_t (the past at
``PAST`` of the strength): a 2-frame linear system in the warp and its exact
transpose (``Sampling``), ``ITERATIONS`` steps of conjugate gradients from the
causal output. On bus through CLAHE, at the same 36.4 dB, 88% of the excess
warping error removed against 64% causal and 81% for the blend with the next
frame that came before it (README). On chroma after a colorizer it is that
blend: the causal output blended with the next frame pulled back along the flow
at ``NEXT`` of the strength, where the photometric mask holds. Either way the
budget is spent on the finished frame; one frame of delay, one frame more held,
the flows the same two.
Online: one previous frame is kept (and, looking ahead, one frame held). With ``chroma_only`` (after a
colorizer) the luma is the source's and only the chroma is filtered, at the
colorizer's size (half the frame, at most 480 pixels on the longer side), along
the colorizer's flow when it has measured one; the correction is added to the
full-size chroma, so what does not flicker passes as it came.
"""

from __future__ import annotations

import torch

from dfstream.colour import merge_chroma, ycbcr
from dfstream.errors import UsageError
from dfstream.geometry import area, bilinear, chroma_size

from ..flow import DISFlow, FlowEstimator, Sampling, from_previous, likeness, occlusion, to_previous, warp, warps
from ..metrics import colourfulness
from ..registry import STRENGTH, register
from ..stage import RecurrentStage, StageContext


FIDELITY = 0.0216  # departure per frame allowed, over strength (default: 0.0151 RMS, 36.4 dB)
SAVED = 25  # frames' worth of unspent departure that later frames may use
SPREAD = 15  # frames over which saved departure is spent
STEADY = 0.1  # weight of each frame in the running mean of the correction's mean square
PAST = 0.9  # looking one frame ahead: the weight of the past, over strength (0.63 at the default)
NEXT = 0.4  # on chroma, the share of the next frame pulled back along the flow, over strength (0.28)
ITERATIONS = 3  # steps of conjugate gradients finishing a frame one frame ahead (R'G'B')
KEEP = 0.95  # share of each processed frame's colourfulness an R'G'B' output frame is raised to, before the budget
LIKENESS = 0.2  # power of Lai et al.'s photometric mask taken: exp(-10 e^2), a fifth of their alpha


@register("stabilize", "flow")
class FlowStabilizer(RecurrentStage):
    name = "stabilize"

    @classmethod
    def create(cls, variant, options):
        if variant not in (None, "causal"):
            raise UsageError(f"unknown flow stabilizer variant '{variant}'",
                             "give --stabilizer flow, or flow:causal for no look-ahead")
        return cls(strength=options.strength, chroma_only=options.chroma_only,
                   lookahead=options.lookahead and variant != "causal")

    def __init__(self, strength: float = STRENGTH, chroma_only: bool = False, estimator: FlowEstimator | None = None,
                 lookahead: bool = False):
        if not 0 <= strength < 1:
            raise ValueError("strength must be in [0, 1)")
        self.strength = strength
        self.budget = (strength * FIDELITY) ** 2  # mean square departure per frame
        self.delay = int(lookahead)
        self.chroma_only = self.keeps_luma = chroma_only
        self.adds_change = not chroma_only
        self.flow = estimator or DISFlow("medium")  # as ``dfstream eval`` measures: frames up to 1024 px in full
        self.reset()

    def reset(self) -> None:
        self._out: torch.Tensor | None = None  # previous output (its chroma with chroma_only)
        self._luma: torch.Tensor | None = None  # previous input luma
        self._saved = 0.0  # unspent departure (mean square) of the frames so far
        self._typical: float | None = None  # running mean of the correction's mean square
        self._held = None  # looking ahead: the frame not finished yet (input, finishing, the causal output
        # before it, matrix); its causal output is ``_out``, the weight of its past ``_weight``
        self._pair = None  # looking ahead on R'G'B': the flow between the last two frames and its test
        self._weight = self.strength * PAST

    def step(self, rgb: torch.Tensor, ctx: StageContext) -> torch.Tensor | None:
        y = ctx.luma
        if self.chroma_only:  # a colorizer's chroma is smooth: filter it smaller, add the change at full size
            size = chroma_size(*y.shape[-2:], scale=ctx.scale)
            chroma = ycbcr(rgb, ctx.matrix)[1]
            x, y_x = area(chroma, size), ctx.luma_at(size)

            def finish(out: torch.Tensor) -> torch.Tensor:
                return merge_chroma(y, chroma + bilinear(out - x, y.shape[-2:]), ctx.matrix)
        else:
            x, y_x, finish = rgb, y, None
        if not self.delay:
            out = self._filter(x, y_x, ctx)
            return finish(out) if finish else out
        done = self._finish_held(x, y_x, ctx) if self._held else None
        before = self._out
        self._filter(x, y_x, ctx)
        self._held = (x, finish, before, ctx.matrix)
        return done

    def flush(self) -> torch.Tensor | None:
        """The held frame as the causal filter left it (no next frame: end of input or scene), its
        colourfulness kept as a finished frame's."""
        if self._held is None:
            return None
        (x, finish, _, matrix), self._held = self._held, None
        out = self._spend(self._out, x, matrix)
        return finish(out) if finish else out

    def _finish_held(self, x: torch.Tensor, y: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        """The held frame finished now that the next one, ``x``, has come, within the budget: on
        chroma, blended with ``x`` pulled back along the flow where its likeness holds; on R'G'B',
        the frame of least warping error (``_least_squares``)."""
        out, weight, (held, finish, before, _) = self._out, self._weight, self._held
        pair = None
        if out.shape[-2:] == x.shape[-2:]:
            ahead = from_previous(ctx, self.flow, y, self._luma)  # held frame -> this one
            if self.chroma_only:
                pulled, following = warps(ahead, y, x)  # read positions worked out once for both
                out = blended(out, following, self.strength * NEXT * likeness(self._luma, pulled), ctx.matrix)
            elif self.strength > 0:  # at --strength 0 nothing is solved
                pair = Sampling(ahead), 1 - occlusion(ahead, to_previous(ctx, self.flow, y, self._luma)[0])
                out = self._least_squares(out, held, x, before, pair, (1 - weight) / weight)
            out = self._spend(out, held, ctx.matrix)
        self._pair = pair  # the pair behind the next frame
        return finish(out) if finish else out

    def _least_squares(self, start: torch.Tensor, x: torch.Tensor, following: torch.Tensor,
                       before: torch.Tensor | None, pair: tuple, mu: float) -> torch.Tensor:
        """Frame t of the least warping error over the pairs (t-1, t) and (t, t+1) (Lai et al.'s
        measure: along the input's flow, where its occlusion test passes) plus ``mu`` times the
        departure of frames t and t+1 from the processed ones, ``x`` and ``following``, with frame
        t-1 the causal output ``before``: ``ITERATIONS`` steps of conjugate gradients from the
        causal output ``start``. ``pair``: the flow t -> t+1 (``Sampling``) and its test."""
        ahead, kept = pair
        behind = self._pair if before is not None else None  # (t-1, t): none on a scene's first frame

        def apply(u: torch.Tensor) -> torch.Tensor:
            gap = kept * (u[:1] - ahead.pull(u[1:]))
            out = mu * u
            out[:1] += gap
            out[1:] -= ahead.push(gap)
            if behind is not None:
                out[:1] += behind[0].push(behind[1] * behind[0].pull(u[:1]))
            return out

        rhs = mu * torch.cat([x, following])
        if behind is not None:
            rhs[:1] += behind[0].push(behind[1] * before)
        return conjugate_gradients(apply, rhs, torch.cat([start, following]), ITERATIONS)[0][:1].clamp(0, 1)

    def _spend(self, out: torch.Tensor, x: torch.Tensor, matrix: str) -> torch.Tensor:
        """``out`` with the colourfulness of ``x`` kept (``coloured``), within the budget (``within``),
        the unspent part saved."""
        out, spent = within(coloured(out, x, matrix), x, self._saved + self.budget)
        self._saved = min(SAVED * self.budget, self._saved + self.budget - spent)
        return out

    def _filter(self, x: torch.Tensor, y: torch.Tensor, ctx: StageContext) -> torch.Tensor:
        """The blend of ``x`` with the previous output along the flow of the luma ``y`` (the flow and
        mask another stage measured at this size, if one did); looking ahead, the budget is spent
        when the frame is finished."""
        out = x
        if self._out is not None:
            if self._out.shape[-2:] != x.shape[-2:]:  # the work size changed (realtime)
                self._out = area(self._out, x.shape[-2:])
                self._luma = area(self._luma, x.shape[-2:])
            to_prev, trust = to_previous(ctx, self.flow, y, self._luma)  # flow t -> t-1, photometric mask
            if not self.chroma_only:
                trust = (1 - occlusion(to_prev, from_previous(ctx, self.flow, y, self._luma))) * trust**LIKENESS
            warped = warp(self._out, to_prev)
            correction = trust * (warped - x)
            square = float(correction.square().mean())
            typical = square if self._typical is None else self._typical + STEADY * (square - self._typical)
            allowed = self._saved + self.budget
            weight = min(self.strength * (PAST if self.delay else 1),
                         ((self.budget + self._saved / SPREAD) / max(typical, 1e-12)) ** 0.5,
                         (allowed / max(square, 1e-12)) ** 0.5)
            out = blended(x, warped, weight * trust, ctx.matrix)
            out = within(out, x, allowed)[0] if self.delay else self._spend(out, x, ctx.matrix)  # ahead: when finished
            self._typical, self._weight = typical, weight
        self._out, self._luma = out, y
        return out


def conjugate_gradients(apply, rhs: torch.Tensor, start: torch.Tensor, steps: int | None = None,
                        tolerance: float = 0.0) -> tuple[torch.Tensor, int]:
    """``apply``(x) = ``rhs`` for a symmetric positive definite linear ``apply``, from ``start``:
    ``steps`` steps of conjugate gradients, or as many as it takes to bring the residual under
    ``tolerance`` times the right-hand side's -> (x, steps taken)."""
    x = start.clone()
    r = rhs - apply(x)
    p, rr, limit = r.clone(), float(r.square().sum()), tolerance**2 * float(rhs.square().sum())
    taken = 0
    while rr > limit and (steps is None or taken < steps):
        ap = apply(p)
        alpha = rr / float(torch.vdot(p.flatten(), ap.flatten()))
        x.add_(p, alpha=alpha)
        r.sub_(ap, alpha=alpha)
        rr, last = float(torch.vdot(r.flatten(), r.flatten())), rr
        p.mul_(rr / last).add_(r)
        taken += 1
    return x, taken


def coloured(out: torch.Tensor, x: torch.Tensor, matrix: str) -> torch.Tensor:
    """R'G'B' ``out`` with its chroma raised by one gain (at most 4) until its colourfulness (Hasler and
    Suesstrunk's, linear in the chroma) is KEEP of ``x``'s; chroma (two channels) as it is."""
    if out.shape[1] != 3:
        return out
    gain = KEEP * colourfulness(x, torch.float32) / max(colourfulness(out, torch.float32), 1e-6)
    if gain <= 1:
        return out
    y, chroma = ycbcr(out, matrix)
    return merge_chroma(y, chroma * min(gain, 4.0), matrix)


def within(out: torch.Tensor, x: torch.Tensor, allowed: float) -> tuple[torch.Tensor, float]:
    """``out`` moved back towards ``x`` until its mean square departure is at most ``allowed``, and
    that departure."""
    spent = float((out - x).square().mean())
    if spent <= allowed:
        return out, spent
    return x + (out - x) * (allowed / spent) ** 0.5, allowed


def blended(x: torch.Tensor, warped: torch.Tensor, share: torch.Tensor, matrix: str) -> torch.Tensor:
    """x + share * (warped - x), with the magnitude of its chroma (Cb, Cr) per pixel the same blend
    of the two magnitudes: two hues average to one as saturated as they are, not to a greyer one.
    ``x`` and ``warped`` are chroma (two channels) or R'G'B' (three), whose colours leaving the
    gamut are then desaturated (``merge_chroma``), not clipped."""
    if x.shape[1] == 2:
        chroma = torch.lerp(x, warped, share)
        return chroma.mul_(_saturation_ratio(chroma, x, warped, share))
    (y, mine), (y_past, past) = ycbcr(x, matrix), ycbcr(warped, matrix)
    chroma = torch.lerp(mine, past, share)
    chroma *= _saturation_ratio(chroma, mine, past, share)
    return merge_chroma(torch.lerp(y, y_past, share), chroma, matrix)


def _saturation_ratio(chroma: torch.Tensor, mine: torch.Tensor, past: torch.Tensor,
                      share: torch.Tensor) -> torch.Tensor:
    """The blend of the magnitudes of ``mine`` and ``past`` over that of their blend ``chroma``
    (at most 4)."""
    now, mine, past = (torch.hypot(c[:, :1], c[:, 1:]) for c in (chroma, mine, past))
    return torch.lerp(mine, past, share).div_(now.clamp_min(1e-4)).clamp_max_(4)
