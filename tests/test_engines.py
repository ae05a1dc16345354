"""The weights-free engines on generated footage: flicker removed, colour recovered, cartoon look."""

import cv2
import numpy as np
import pytest
import torch

from dfstream.colour import luma, rgb_from_ycbcr, ycbcr
from dfstream.engines import StageContext
from dfstream.errors import DfstreamError
from dfstream.geometry import bilinear
from dfstream.engines.cartoonize.classic import PRESETS, ClassicCartoonizer
from dfstream.engines.colorize.reference import ChromaLookup, ReferenceColorizer, drifted, load_still, nearest, tone
from dfstream.engines.flow import DISFlow, warp
from dfstream.engines.metrics import colourfulness, frame_warping_error, psnr
from dfstream.engines.stabilize.flow import FlowStabilizer, blended
from tests.conftest import pattern


def moving_clip(n=16, h=72, w=128, speed=2):
    """A textured colour scene panning right by ``speed`` px per frame, as RGB tensors in [0,1]."""
    rng = np.random.default_rng(0)
    big = np.concatenate([pattern(0, h, w + n * speed), pattern(3, h, w + n * speed, scene=1)], 0)
    big = big[:h].astype(np.float32) / 255
    noise = rng.random((h, w + n * speed, 1)).astype(np.float32) * 0.1
    big = np.clip(big + noise, 0, 1)
    return [torch.from_numpy(big[:, i * speed : i * speed + w]).permute(2, 0, 1)[None].contiguous()
            for i in range(n)]


def run(stage, frames, source=None, cut_at=()):
    """The stage's output frame by frame (a stage that looks ahead flushed at the end)."""
    source = source or frames
    contexts = [StageContext(s, luma(s, "bt601"), [i == 0 or i in cut_at]) for i, s in enumerate(source)]
    return stage.clip(frames, contexts)


def mean_warping_error(video, guide):
    flow = DISFlow("medium")
    ys = [luma(g, "bt601") for g in guide]
    return np.mean([frame_warping_error(video[t], video[t + 1], flow(ys[t], ys[t + 1]), flow(ys[t + 1], ys[t]))
                    for t in range(len(video) - 1)])


def test_flow_stabilizer_damps_independent_flicker_as_an_exponential_filter_does():
    clip = moving_clip(n=24)
    gains = np.random.default_rng(1).normal(1, 0.02, (len(clip), 3))  # moderate: within the fidelity bound
    flicker = [(f * torch.tensor(g, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1)
               for f, g in zip(clip, gains)]
    e_in, e_p = (mean_warping_error(v, clip) for v in (clip, flicker))
    for strength in (0.45, 0.8):
        out = run(FlowStabilizer(strength), flicker, source=clip)
        left = (mean_warping_error(out, clip) - e_in) / (e_p - e_in)
        # an exponential filter of weight s leaves (1 - s)^2 / (1 + s) of i.i.d. flicker's variance
        expected = (1 - strength) ** 2 / (1 + strength)
        assert left < expected + 0.12, (strength, left, expected)
        assert np.mean([colourfulness(o) for o in out]) > 0.92 * np.mean([colourfulness(p) for p in flicker])
    fidelity = np.mean([psnr(o, p) for o, p in zip(out[1:], flicker[1:])])
    assert fidelity > 28


def test_flow_stabilizer_holds_large_flicker_within_its_fidelity_bound():
    from dfstream.engines.stabilize.flow import FIDELITY

    clip = moving_clip(n=24)
    offsets = np.random.default_rng(2).normal(0, 0.12, (len(clip), 3))  # 30 codes of 255: large
    flicker = [(f * 0.7 + 0.15 + torch.tensor(o, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1)
               for f, o in zip(clip, offsets)]
    stage = FlowStabilizer(0.7)
    out = run(stage, flicker, source=clip)
    square = np.array([float(((o - p) ** 2).mean()) for o, p in zip(out, flicker)])
    # a plain exponential filter of weight 0.7 would move it by about 0.7 * 0.12 * sqrt(2 / 1.7): 0.09 RMS;
    # from the start up to every frame, the mean square departure stays within the budget, and uses it
    so_far = np.cumsum(square) / np.arange(1, len(square) + 1)
    assert so_far.max() <= (0.7 * FIDELITY) ** 2 * 1.0001 and so_far[-1] > 0.8 * (0.7 * FIDELITY) ** 2, so_far
    e_in, e_p, e_o = (mean_warping_error(v, clip) for v in (clip, flicker, out))
    assert (e_o - e_in) < 0.9 * (e_p - e_in)  # still a filter, of a smaller weight


def test_flow_stabilizer_one_frame_ahead_removes_more_within_the_same_budget_and_keeps_every_frame():
    """Frame t finished with frame t+1: i.i.d. flicker within the budget, none of the excess warping
    error left (-1.7%) against the causal filter's 12.7%; large flicker held within the same budget."""
    from dfstream.engines.stabilize.flow import FIDELITY

    clip = moving_clip(n=24)
    ahead = FlowStabilizer(0.7, lookahead=True)
    assert ahead.process(torch.cat(clip[:2]), StageContext(torch.cat(clip[:2]), None, [True, False])).shape[0] == 1
    gains = np.random.default_rng(1).normal(1, 0.02, (len(clip), 3))
    flicker = [(f * torch.tensor(g, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1) for f, g in zip(clip, gains)]
    out, causal = (run(FlowStabilizer(0.7, lookahead=a), flicker, source=clip) for a in (True, False))
    e_in, e_p, e_a, e_c = (mean_warping_error(v, clip) for v in (clip, flicker, out, causal))
    assert len(out) == len(flicker) and e_a - e_in < 0.25 * (e_c - e_in), (e_a, e_c, e_p)
    offsets = np.random.default_rng(2).normal(0, 0.12, (len(clip), 3))  # large: beyond the budget
    flicker = [(f * 0.7 + 0.15 + torch.tensor(o, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1)
               for f, o in zip(clip, offsets)]
    out = run(FlowStabilizer(0.7, lookahead=True), flicker, source=clip, cut_at=(12,))
    square = np.array([float(((o - p) ** 2).mean()) for o, p in zip(out, flicker)])
    so_far = np.cumsum(square) / np.arange(1, len(square) + 1)
    assert len(out) == len(flicker) and so_far.max() <= (0.7 * FIDELITY) ** 2 * 1.0001, so_far


def test_conjugate_gradients_solve_a_symmetric_positive_definite_system():
    from dfstream.engines.stabilize.flow import conjugate_gradients

    rng = np.random.default_rng(5)
    m = torch.from_numpy(rng.normal(size=(12, 12)))
    a, b = m @ m.T + 0.5 * torch.eye(12, dtype=torch.float64), torch.from_numpy(rng.normal(size=12))
    expected = torch.linalg.solve(a, b)
    solved, steps = conjugate_gradients(lambda v: a @ v, b, torch.zeros(12, dtype=torch.float64), tolerance=1e-10)
    torch.testing.assert_close(solved, expected)
    assert steps <= 12 * 3
    one, taken = conjugate_gradients(lambda v: a @ v, b, torch.zeros(12, dtype=torch.float64), steps=1)
    assert taken == 1 and (b - a @ one).norm() < b.norm()  # one step lowers the residual, no more


def test_flow_stabilizer_one_frame_ahead_finishes_a_still_shot_as_the_two_frame_least_squares_formula():
    """A still shot (zero flow, every pixel trusted) with small grey flicker: the causal output is
    c_t = P_t + w (c_t-1 - P_t), w = 0.9 strength, and frame t is finished as the least squares of
    (o_t - o_t+1)^2 + mu ((o_t - P_t)^2 + (o_t+1 - P_t+1)^2), plus (c_t-1 - o_t)^2 after the first,
    mu = (1 - w) / w: by hand per pixel, o_t = ((1 + mu)(c_t-1 + mu P_t) + mu P_t+1) / ((2 + mu)(1 + mu) - 1)
    (on the first frame (1 + mu)(mu P_0) + mu P_1 over (1 + mu)^2 - 1); the last frame, with none
    after it, is the causal one."""
    still = torch.full((1, 3, 16, 20), 0.5)
    offsets = np.random.default_rng(6).normal(0, 0.004, 8)
    frames = [still + float(o) for o in offsets]
    zero = lambda a, b: torch.zeros(a.shape[0], 2, *a.shape[-2:])  # noqa: E731
    out = run(FlowStabilizer(0.5, lookahead=True, estimator=zero), frames, source=[still] * len(frames))
    w = 0.45
    mu = (1 - w) / w
    causal = [frames[0]]
    for p in frames[1:]:
        causal.append(p + w * (causal[-1] - p))
    expected = [((1 + mu) * mu * frames[0] + mu * frames[1]) / ((1 + mu) ** 2 - 1)]
    for t in range(1, len(frames) - 1):
        expected.append(((1 + mu) * (causal[t - 1] + mu * frames[t]) + mu * frames[t + 1]) / ((2 + mu) * (1 + mu) - 1))
    expected.append(causal[-1])
    assert len(out) == len(frames)
    for got, want in zip(out, expected):
        torch.testing.assert_close(got, want, atol=2e-6, rtol=0)


def test_flow_stabilizer_keeps_one_weight_through_small_and_large_flicker():
    """Flicker alternately small and large, beyond the budget: one steady weight, not the full
    strength on small frames and what is left on large ones (the same departure would remove less)."""
    still = moving_clip(n=1)[0]
    offsets = np.random.default_rng(3).choice([-1, 1], (40, 3)) * np.where(np.arange(40) % 2, 0.1, 0.02)[:, None]
    flicker = [(still * 0.7 + 0.15 + torch.tensor(o, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1)
               for o in offsets]
    stage = FlowStabilizer(0.8, estimator=lambda a, b: torch.zeros(a.shape[0], 2, *a.shape[-2:]))  # a still
    out = run(stage, flicker, source=[still] * len(flicker))
    # a still shot trusts every pixel: O_t = P_t + s_t (O_{t-1} - P_t), so s_t can be read off
    weights = np.array([float(((o - p) * (before - p)).sum() / (before - p).square().sum())
                        for before, o, p in zip(out, out[1:], flicker[1:])])
    steady = weights[15:]  # once the running mean has settled
    assert steady.max() < 1.25 * steady.min() and steady.max() < 0.8, weights


@pytest.mark.parametrize("chroma_only", [False, True])
def test_flow_stabilizer_damps_hue_flicker_without_greying_it(chroma_only):
    """Hues that swing between two of one saturation (a colorization network's flicker): averaged
    along the motion to hues between them as saturated, not to a greyer blend."""
    clip = moving_clip(n=16)
    ys = [luma(f, "bt601") for f in clip]
    swing = [torch.tensor([0.05, 0.0] if i % 2 else [0.0, 0.05]).view(1, 2, 1, 1) for i in range(len(clip))]
    flicker = [rgb_from_ycbcr(y, torch.zeros(1, 2, *y.shape[-2:]) + c) for y, c in zip(ys, swing)]
    out = run(FlowStabilizer(chroma_only=chroma_only), flicker, source=clip)
    e_in, e_p, e_o = (mean_warping_error(v, clip) for v in (clip, flicker, out))
    assert e_o - e_in < 0.5 * (e_p - e_in)
    saturation = [float(torch.hypot(*ycbcr(o, "bt601")[1][..., 8:-8, 8:-8].unbind(1)).mean()) for o in out[4:]]
    assert min(saturation) > 0.9 * 0.05, saturation  # a plain blend of the two: 0.05 / sqrt(2) at best


def test_blend_keeps_saturation_and_stays_in_gamut():
    a = 0.2
    blue, red = (torch.tensor(v).view(1, 2, 1, 1) for v in ([a, 0.0], [0.0, a]))
    half = torch.full((1, 1, 1, 1), 0.5)
    kept = blended(blue, red, half, "bt601")  # the plain mean: a / sqrt(2) long
    torch.testing.assert_close(kept, torch.full((1, 2, 1, 1), a / 2**0.5))  # a long, half way between
    x, warped = (torch.tensor(v).view(1, 3, 1, 1).expand(-1, -1, 4, 4) for v in ([0.8, 0.1, 0.1], [0.1, 0.1, 0.8]))
    out = blended(x, warped, half, "bt601")  # red and blue: in full, G' < 0
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(luma(out, "bt601"), luma((x + warped) / 2, "bt601"))
    assert float(torch.hypot(*ycbcr(out, "bt601")[1].unbind(1)).min()) > float(
        torch.hypot(*ycbcr((x + warped) / 2, "bt601")[1].unbind(1)).max())  # more saturated than the mean


def test_stabilizer_state_resets_at_a_cut():
    clip = moving_clip(n=6)
    bright = [(f * 1.2).clamp(0, 1) for f in clip]
    frames = clip[:3] + bright[3:]
    out = run(FlowStabilizer(), frames, cut_at=(3,))
    torch.testing.assert_close(out[3], frames[3])  # first frame after a cut passes unchanged
    torch.testing.assert_close(out[0], frames[0])


def test_chroma_only_takes_the_luma_from_the_source():
    clip = moving_clip(n=4)
    tinted = [(f + torch.tensor([0.05, 0, -0.05]).view(1, 3, 1, 1) * (i % 2)).clamp(0, 1)
              for i, f in enumerate(clip)]
    out = run(FlowStabilizer(chroma_only=True), tinted, source=clip)
    for o, s in zip(out, clip):
        inside = (o > 0.01) & (o < 0.99)
        assert inside.all(dim=1).float().mean() > 0.5
        assert (luma(o, "bt601") - luma(s, "bt601"))[inside.all(dim=1, keepdim=True)].abs().max() < 1e-4


def test_chroma_only_changes_nothing_that_does_not_flicker():
    rng = np.random.default_rng(1)  # colour grain: chroma filtered at half size must not blur it
    still = np.clip(pattern(0, 360, 640) / 255 + rng.random((360, 640, 3)) * 0.1, 0, 1).astype(np.float32)
    frame = torch.from_numpy(still).permute(2, 0, 1)[None].contiguous()
    for out in run(FlowStabilizer(chroma_only=True), [frame] * 3):
        assert psnr(out, frame) > 60


def object_over_background(n=20, h=90, w=160):
    """A colourful still background with a textured square moving across it."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(4)
    grain = rng.random((h, w)).astype(np.float32) * 0.15
    background = np.stack([0.5 + 0.4 * np.sin(x / 25), 0.5 + 0.4 * np.cos(y / 20),
                           0.4 + 0 * x], -1) + grain[..., None]  # grain in luma only, chroma is smooth
    square = (np.array([0.75, 0.2, 0.55], np.float32) + grain[:30, :30, None])
    frames = []
    for i in range(n):
        f = background.copy()
        f[30:60, 10 + 5 * i : 40 + 5 * i] = square
        frames.append(torch.from_numpy(np.clip(f, 0, 1)).permute(2, 0, 1)[None].contiguous())
    return frames


def test_reference_colorizer_beats_plain_propagation_and_keeps_luma():
    clip = object_over_background()
    grey = [luma(f, "bt601").expand(-1, 3, -1, -1) for f in clip]
    out = run(ReferenceColorizer([clip[0]]), grey)
    flow = DISFlow("fast")
    chroma = ycbcr(clip[0])[1]
    plain = [clip[0]]
    for t in range(1, len(clip)):
        chroma = warp(chroma, flow(grey[t][:, :1], grey[t - 1][:, :1]))
        y = grey[t][:, :1]
        plain.append(torch.cat((y + 1.402 * chroma[:, 1:], y - 0.344136 * chroma[:, :1] - 0.714136 * chroma[:, 1:],
                                y + 1.772 * chroma[:, :1]), 1).clamp(0, 1))
    ours = [psnr(o, t) for o, t in zip(out, clip)]
    base = [psnr(o, t) for o, t in zip(plain, clip)]
    assert np.mean(ours[1:]) > np.mean(base[1:]) + 1.0, (np.mean(ours), np.mean(base))
    assert ours[-1] > base[-1]
    for o, g in zip(out, grey):
        keep = ((o > 0.01) & (o < 0.99)).all(dim=1, keepdim=True)
        assert (luma(o, "bt601") - g[:, :1])[keep].abs().max() < 1e-4


def test_reference_colorizer_keeps_the_detail_of_the_colour_a_still_anchors():
    clip = moving_clip(n=4)  # textured and noisy: edge-aware smoothing alone leaves it at 36 dB
    grey = [luma(f, "bt601").expand(-1, 3, -1, -1) for f in clip]
    still_shot = run(ReferenceColorizer([clip[0]]), [grey[0]] * 3)
    assert min(psnr(o, clip[0]) for o in still_shot) > 50
    pan = run(ReferenceColorizer([clip[0]]), grey)
    assert min(psnr(o, t) for o, t in zip(pan, clip)) > 40


def test_a_still_needs_some_colour_and_a_small_patch_is_enough(tmp_path):
    rng = np.random.default_rng(1)
    grey = np.repeat(rng.integers(20, 236, (100, 100, 1)), 3, 2) + rng.integers(-2, 3, (100, 100, 3))  # noise
    cv2.imwrite(str(tmp_path / "grey.png"), grey.astype(np.uint8))
    with pytest.raises(DfstreamError, match="has no colour"):
        ReferenceColorizer([tmp_path / "grey.png"])
    grey[:2, :10] = (40, 90, 200)  # a hand-coloured keyframe with one small red patch: 0.2% of the pixels
    cv2.imwrite(str(tmp_path / "touched.png"), grey.astype(np.uint8))
    assert load_still(tmp_path / "touched.png")[0, :, 0, 0].tolist() == pytest.approx([200 / 255, 90 / 255, 40 / 255])


def test_frames_in_double_precision_are_coloured_as_frames_in_single():
    clip = moving_clip(n=3)
    grey = [luma(f, "bt601").expand(-1, 3, -1, -1) for f in clip]
    single = run(ReferenceColorizer([clip[0]]), grey)
    double = run(ReferenceColorizer([clip[0]]), [g.double() for g in grey])  # the still stays single
    assert all(d.dtype == torch.float64 for d in double)
    assert max(float((d - s).abs().max()) for d, s in zip(double, single)) < 1e-4


def test_a_still_of_another_shape_is_placed_not_stretched():
    clip = moving_clip(n=2, h=144, w=256)
    grey = [luma(f, "bt601").expand(-1, 3, -1, -1) for f in clip]
    still = clip[0][..., 32:224]  # 4:3 from a 16:9 scene at the same scale: its middle three quarters
    out = run(ReferenceColorizer([still]), grey)
    middle = (..., slice(40, 216))  # stretched to 16:9 it gave 40 dB here
    assert min(psnr(o[middle], t[middle]) for o, t in zip(out, clip)) > 50


def striped_and_flat(h=64, w=128):
    """Luma striped on the left half, flat on the right; and chroma green there, red here."""
    stripes = 0.5 + 0.2 * torch.sign(torch.sin(torch.arange(w) * 1.9)).expand(h, w)
    left = torch.arange(w) < w // 2
    red, green = torch.tensor([-0.05, 0.15]), torch.tensor([-0.1, -0.12])
    luma_ = torch.where(left, stripes, torch.full((h, w), 0.5))[None, None]
    return luma_, torch.where(left, green[:, None, None], red[:, None, None])[None], red, green


def test_look_up_colours_content_by_its_texture_not_its_place():
    reference, chroma, red, green = striped_and_flat()
    lookup = ChromaLookup([reference], [chroma], reference.shape[-2:])
    frame = reference.flip(-1)  # the same textures, places swapped
    cells = lookup.cells
    found = lookup(frame, torch.ones(cells[0] * cells[1], dtype=torch.bool)).T.reshape(3, *cells)
    inner = slice(2, cells[1] // 2 - 2), slice(cells[1] // 2 + 2, -2)  # away from the seam
    assert torch.allclose(found[:2, :, inner[0]], red[:, None, None], atol=1e-6)
    assert torch.allclose(found[:2, :, inner[1]], green[:, None, None], atol=1e-6)
    assert torch.allclose(found[2, :, inner[0]], torch.tensor(1.0))  # the nearest all agree
    wanted = torch.zeros(cells[0] * cells[1], dtype=torch.bool)
    wanted[[3, 40]] = True
    assert torch.equal(lookup(frame, wanted), found.flatten(1).T[[3, 40]])


def test_look_up_finds_content_seen_nearer_than_the_still_shows_it(monkeypatch):
    torch.manual_seed(0)
    h, w = 64, 128
    left = torch.arange(w) < w // 2
    fine = 0.5 + 0.15 * torch.randn(1, 1, h, w)  # green in the still
    nearer = bilinear(0.5 + 0.15 * torch.randn(1, 1, h, w), (80, 160))[..., :h, :w]  # red: a texture like it, nearer
    reference = torch.where(left, fine, nearer)
    green, red = torch.tensor([-0.1, -0.12]), torch.tensor([-0.05, 0.15])
    chroma = torch.where(left, green[:, None, None], red[:, None, None])[None]
    frame = bilinear(reference, (80, 160))[..., :h, :w]  # the scene 1.25x nearer: its left 5/8 the fine texture

    def distances(lookup):
        cells = lookup.cells
        found = lookup(frame, torch.ones(cells[0] * cells[1], dtype=torch.bool)).T.reshape(3, *cells)[:2]
        region = found[:, 1:-1, 1 : cells[1] * 2 // 5 - 1]  # well inside the fine texture
        return [float((region - c[:, None, None]).norm(dim=0).mean()) for c in (green, red)]

    to_green, to_red = distances(ChromaLookup([reference], [chroma], (h, w)))
    assert to_green < to_red  # 0.11 against 0.17
    monkeypatch.setattr("dfstream.engines.colorize.reference.TEXTURED", 0.0)  # its own size alone, and one cell
    to_green, to_red = distances(ChromaLookup([reference], [chroma], (h, w)))
    assert to_red < 0.01 < 0.25 < to_green  # what looks alike at the still's size: red


def test_grouped_nearest_search_finds_what_topk_finds_ties_included():
    torch.manual_seed(0)
    for distances in (torch.rand(200, 640), torch.randint(0, 6, (200, 640)).float(), torch.rand(0, 640)):
        found = distances.gather(1, nearest(distances, 4))
        assert torch.equal(found.sort(1).values, distances.topk(4, largest=False).values.sort(1).values)
        assert all(len(set(row.tolist())) == 4 for row in nearest(distances, 4))  # four different cells
    assert nearest(torch.rand(3, 16), 4).shape == (3, 4)  # too few columns to group: topk itself


def test_tone_is_the_line_from_the_stills_luma_to_the_frames_through_wrong_matches():
    g = torch.Generator().manual_seed(0)
    still = torch.rand(1, 1, 60, 80, generator=g)
    frame = 0.8 * still + 0.1
    wrong = torch.rand(1, 1, 60, 80, generator=g) < 0.1  # a flow wrong there: unrelated luma
    frame[wrong] = torch.rand(int(wrong.sum()), generator=g)
    seen = torch.ones_like(still, dtype=torch.bool)
    gain, offset = tone(still, frame, seen)
    assert abs(gain - 0.8) < 0.01 and abs(offset - 0.1) < 0.005, (gain, offset)
    flat = torch.full_like(still, 0.5) + 0.01 * still  # too little contrast to tell a gain
    assert tone(flat, frame, seen) is None
    assert tone(still, 1 - still, seen) is None  # a negative: no tone curve of a photo


def test_drift_counts_content_that_changed_and_not_light_that_changed_over_a_region():
    g = torch.Generator().manual_seed(0)
    born = 0.2 + 0.6 * torch.rand(1, 1, 96, 128, generator=g)  # textured, as where chroma was taken
    x = torch.arange(128, dtype=torch.float32)
    shade = 1 - 0.4 * torch.exp(-(((x - 64) / 30) ** 2))  # a soft shadow over the middle
    shaded = born * shade
    # 0.51 in log luma at its middle; what is left, at most 0.06 here, is the offset DARKEST's (trusted 0.91 as far)
    assert float(drifted(shaded, born)[..., 8:-8, 8:-8].abs().max()) < 0.07
    branch = born.clone()
    branch[..., 40:44, :] = 0.25  # a thin dark branch carried onto the lit content
    moved = drifted(branch, born)[..., 40:44, 8:-8]
    changed = (born[..., 40:44, 8:-8] - 0.25).abs() > 0.2
    assert float(moved[changed].abs().median()) > 0.3  # trusted exp(-(0.3 / 0.2)^2) = 0.11 as far
    assert float((moved[changed].abs() > 0.17).float().mean()) > 0.95  # under half as far


def test_colour_carried_onto_content_no_still_anchors_fades_towards_the_look_up():
    y, chroma, *_ = striped_and_flat()
    still = rgb_from_ycbcr(y, chroma)
    grey = y.clone()
    grey[..., 16:48, 8:56] = 0.5  # flat where the still is striped: the still cannot anchor it
    grey = grey.expand(-1, 3, -1, -1)
    stage = ReferenceColorizer([still])
    run(stage, [grey])
    region = (..., slice(24, 40), slice(16, 48))  # inside it (chroma is worked out at full size here)
    hint = stage._hint[:, :2][region].clone()  # the look-up: flat is red in the still
    stage._chroma[region] = torch.tensor([0.3, -0.1]).view(1, 2, 1, 1)  # blue carried there wrongly
    start = (stage._chroma[region] - hint).norm(dim=1).mean()
    for _ in range(30):  # a still shot: the flow trusts every pixel, the still none in the region
        stage.process(grey, StageContext(grey, grey[:, :1], [False]))
    assert (stage._chroma[region] - hint).norm(dim=1).mean() < 0.4 * start  # 0.95^30 = 0.21 left


def test_classic_cartoonizer_is_deterministic_flat_and_inked():
    frame = moving_clip(n=1)[0]
    batch = torch.cat([frame, frame])
    outs = {name: ClassicCartoonizer(name).process(batch, None) for name in PRESETS}
    for name, out in outs.items():
        assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1
        torch.testing.assert_close(out[0], out[1])  # same frame, same result
        torch.testing.assert_close(ClassicCartoonizer(name).process(frame, None)[0], out[0])
    levels = lambda x: len(torch.unique((luma(x, "bt601") * 255).round()))  # noqa: E731
    assert levels(outs["poster"][:1]) < levels(frame)
    dark = lambda x: float((luma(x, "bt601") < 0.1).float().mean())  # noqa: E731
    assert dark(outs["comic"][:1]) > dark(outs["poster"][:1])  # ink lines only where asked for


def test_the_stabilizer_after_the_colorizer_takes_the_colorizers_flow():
    clip = object_over_background(n=4)
    grey = [luma(f, "bt601").expand(-1, 3, -1, -1) for f in clip]
    calls = []

    def counted(a, b):
        calls.append(a.shape)
        return DISFlow("medium")(a, b)

    colorizer, stabilizer = ReferenceColorizer([clip[0]]), FlowStabilizer(chroma_only=True, estimator=counted)
    batch = StageContext(torch.cat(grey), luma(torch.cat(grey), "bt601"), [True, False, False, False])
    stabilizer.process(colorizer.process(batch.source, batch), batch)
    assert calls == []  # frames 1-3 used the flow the colorizer measured at the same size
    stabilizer.process(colorizer.process(batch.source, batch), StageContext(batch.source, batch.luma, batch.cuts))
    assert len(calls) == 3


def test_flow_stabilizer_keeps_the_colourfulness_of_casts_that_swing(monkeypatch):
    """Casts of opposite hue over a faintly coloured scene, swinging from frame to frame (a
    per-channel equalization): finished one frame ahead, every frame keeps KEEP of its processed
    frame's colourfulness, which the least squares alone averages away; the last, flushed as the
    causal filter left it, as well."""
    from dfstream.engines.stabilize import flow

    clip = moving_clip(n=12)
    ys = [luma(f, "bt601") for f in clip]
    cast = [torch.tensor([0.02, -0.01] if i % 2 else [-0.02, 0.01]).view(1, 2, 1, 1) for i in range(len(clip))]
    flicker = [rgb_from_ycbcr(y, ycbcr(f, "bt601")[1] * 0.1 + c) for y, f, c in zip(ys, clip, cast)]

    def kept(keep):
        monkeypatch.setattr(flow, "KEEP", keep)
        out = run(FlowStabilizer(lookahead=True), flicker, source=clip)
        return [colourfulness(o) / colourfulness(p) for o, p in zip(out, flicker)], out

    shares, out = kept(flow.KEEP)
    assert min(shares) >= 0.95 - 1e-3, shares
    e_in, e_p, e_o = (mean_warping_error(v, clip) for v in (clip, flicker, out))
    assert e_o - e_in < 0.2 * (e_p - e_in)  # still de-flickered
    assert min(kept(0.0)[0]) < 0.9  # without the floor the casts average out
    raised = kept(1.2)[0]  # a floor the causal output never reaches: the last frame, flushed, is raised too
    assert raised[-1] >= min(raised[:-1]) > 1.1, raised
