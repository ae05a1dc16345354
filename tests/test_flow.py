"""Flow, warping and the occlusion test against the formulas written out in numpy."""

import numpy as np
import pytest
import torch

from dfstream.engines.flow import DISFlow, Sampling, leaves, likeness, occlusion, warp


def bilinear_reference(img, flow):
    """out(y,x) = img(y+v, x+u), bilinear, coordinates clamped to the image (edge replicate)."""
    c, h, w = img.shape
    out = np.zeros_like(img)
    for y in range(h):
        for x in range(w):
            sx = min(max(x + flow[0, y, x], 0), w - 1)
            sy = min(max(y + flow[1, y, x], 0), h - 1)
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
            ax, ay = sx - x0, sy - y0
            out[:, y, x] = ((1 - ax) * (1 - ay) * img[:, y0, x0] + ax * (1 - ay) * img[:, y0, x1]
                            + (1 - ax) * ay * img[:, y1, x0] + ax * ay * img[:, y1, x1])
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # float32: OpenCV's remap (OpenCV 5)
def test_warp_matches_bilinear_formula(dtype):
    rng = np.random.default_rng(0)
    img = rng.random((2, 7, 9))
    flow = rng.normal(0, 2, (2, 7, 9))
    got = warp(torch.from_numpy(img.astype(dtype))[None], torch.from_numpy(flow.astype(dtype))[None])[0].numpy()
    np.testing.assert_allclose(got, bilinear_reference(img, flow), atol=1e-9 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # grid_sample's warp, OpenCV's remap
def test_sampling_pulls_as_warp_does_and_pushes_with_its_exact_transpose(dtype):
    """pull = the bilinear formula (positions inside, between pixels and far outside the frame);
    push is its transpose: <pull x, y> = <x, push y>, and push of the indicator spreads exactly the
    bilinear weights (each read's four weights sum to one)."""
    rng = np.random.default_rng(4)
    flow, x, y = (rng.normal(0, 4, (2, 9, 13)), rng.random((3, 9, 13)), rng.random((3, 9, 13)))
    sampling = Sampling(torch.from_numpy(flow).to(dtype)[None])
    pulled = sampling.pull(torch.from_numpy(x).to(dtype)[None])
    np.testing.assert_allclose(pulled[0].double().numpy(), bilinear_reference(x, flow), atol=1e-5)
    pushed = sampling.push(torch.from_numpy(y).to(dtype)[None])
    np.testing.assert_allclose(float((pulled.double() * torch.from_numpy(y)).sum()),
                               float((torch.from_numpy(x) * pushed.double()).sum()), rtol=1e-5)
    ones = torch.ones(1, 1, 9, 13, dtype=dtype)
    assert float(sampling.push(ones).sum()) == pytest.approx(9 * 13, rel=1e-5)


def test_integer_shift_is_exact():
    img = torch.arange(60.0).view(1, 1, 6, 10)
    flow = torch.zeros(1, 2, 6, 10)
    flow[:, 0] = 2  # look two pixels to the right
    torch.testing.assert_close(warp(img, flow)[..., :8], img[..., 2:], atol=1e-4, rtol=0)


def occlusion_reference(fw, bw):
    """Lai et al.: forward-backward check and motion boundaries, per pixel."""
    _, h, w = fw.shape
    bw_warped = bilinear_reference(bw, fw)
    occ = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            f, b = fw[:, y, x], bw_warped[:, y, x]
            if np.sum((f + b) ** 2) > 0.01 * (np.sum(f**2) + np.sum(b**2)) + 0.5:
                occ[y, x] = True
            du = [fw[0, y, x + 1] - fw[0, y, x] if x + 1 < w else 0.0,
                  fw[0, y + 1, x] - fw[0, y, x] if y + 1 < h else 0.0]
            dv = [fw[1, y, x + 1] - fw[1, y, x] if x + 1 < w else 0.0,
                  fw[1, y + 1, x] - fw[1, y, x] if y + 1 < h else 0.0]
            if du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2 > 0.01 * np.sum(f**2) + 0.002:
                occ[y, x] = True
    return occ


def test_occlusion_matches_lai_formula():
    rng = np.random.default_rng(1)
    fw = np.zeros((2, 12, 14))
    fw[0, :, 7:] = 3.0  # a moving half: motion boundary at column 6/7
    bw = -fw.copy()
    bw[:, 4:7, 2:5] += rng.normal(0, 2, (2, 3, 3))  # an inconsistent patch
    got = occlusion(torch.from_numpy(fw)[None], torch.from_numpy(bw)[None])[0, 0].numpy().astype(bool)
    want = occlusion_reference(fw, bw)
    assert got.tolist() == want.tolist()
    assert want.any() and not want.all()


def test_likeness_over_a_window_fails_pixels_that_match_by_chance():
    rng = np.random.default_rng(5)
    y = rng.random((1, 1, 12, 14))
    error = np.zeros_like(y)
    error[..., 3:9, 4:10] = 0.2 * (np.indices((6, 6)).sum(0) % 2)  # every other pixel off, the rest exact
    y_t, pulled = torch.from_numpy(y), torch.from_numpy(y + error)
    np.testing.assert_allclose(likeness(y_t, pulled).numpy(), np.exp(-50 * error**2))
    padded = np.pad(error[0, 0] ** 2, 1)  # windows cut at the borders: the count, not padding, divides
    count = np.pad(np.ones((12, 14)), 1)
    sums = sum(padded[i : i + 12, j : j + 14] for i in range(3) for j in range(3))
    counts = sum(count[i : i + 12, j : j + 14] for i in range(3) for j in range(3))
    window = likeness(y_t, pulled, radius=1).numpy()[0, 0]
    np.testing.assert_allclose(window, np.exp(-50 * sums / counts), rtol=1e-6)
    exact = error[0, 0, 5:7, 6:8] == 0
    assert exact.any() and window[5:7, 6:8].max() < 0.5  # inside: the exact pixels fail with their neighbours


def test_leaves_marks_the_pixels_whose_flow_reads_beyond_the_margin_outside_the_image():
    rng = np.random.default_rng(5)
    flow = rng.uniform(-12, 12, (2, 2, 9, 13)).astype(np.float32)  # two flows of a batch
    ys, xs = np.mgrid[0:9, 0:13]
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    expected = (x < -2.5) | (x > 12 + 2.5) | (y < -2.5) | (y > 8 + 2.5)
    found = leaves(torch.from_numpy(flow), 2.5)
    assert found.shape == (2, 1, 9, 13) and 0 < expected.sum() < expected.size
    assert np.array_equal(found[:, 0].numpy(), expected)


def test_dis_recovers_a_translation():
    rng = np.random.default_rng(2)
    base = torch.from_numpy(rng.random((1, 1, 80, 120))).float()
    base = torch.nn.functional.avg_pool2d(base, 5, 1, 2)  # texture with structure
    base = (base - base.min()) / (base.max() - base.min())
    shifted = torch.roll(base, shifts=(2, 3), dims=(2, 3))  # content moves 3 right, 2 down
    flow = DISFlow("medium")(base, shifted)[0, :, 10:-10, 10:-10]
    assert abs(flow[0].median() - 3) < 0.3 and abs(flow[1].median() - 2) < 0.3


@pytest.mark.parametrize("max_side", [1024, 120])
def test_dis_searched_from_a_flow_near_the_motion_finds_a_shift_too_far_for_a_search_from_none(max_side):
    """Content moved 40 pixels, further than ultrafast's coarsest scale of a 160x240 frame reaches:
    from none it is not found; from a flow 4 pixels off, carried on from the frames before, it is,
    the start scaled with the frame where DIS works on it at a smaller size (``max_side``)."""
    rng = np.random.default_rng(3)
    base = torch.nn.functional.avg_pool2d(torch.from_numpy(rng.random((1, 1, 160, 240))).float(), 5, 1, 2)
    base = (base - base.min()) / (base.max() - base.min())
    shifted = torch.roll(base, shifts=40, dims=3)  # content moves 40 right
    dis, inner = DISFlow("ultrafast", max_side=max_side), (..., slice(20, -20), slice(50, -50))
    start = torch.zeros(1, 2, 160, 240)
    start[:, 0] = 36
    assert (DISFlow("ultrafast", max_side=max_side)(base, shifted)[:, 0][inner] - 40).abs().median() > 10
    assert (dis(base, shifted, start)[:, 0][inner] - 40).abs().median() < 1


def test_dis_searching_from_a_flow_leaves_later_searches_from_none_as_opencv_gives_them():
    """OpenCV 5.1's DIS is left changed by a search from an initial flow (a later search from none
    on another pair moved by up to 0.005 pixel, enough to move a colorizer's checks): the searches
    from a flow have an OpenCV instance of their own."""
    import cv2

    rng = np.random.default_rng(5)
    a, c = (torch.nn.functional.avg_pool2d(torch.from_numpy(rng.random((1, 1, 90, 160))).float(), 7, 1, 3)
            for _ in range(2))
    a, c = ((x - x.min()) / (x.max() - x.min()) for x in (a, c))
    b, d = torch.roll(a, 4, dims=3), torch.roll(c, 9, dims=2)
    dis = DISFlow("ultrafast")
    dis(c, d, torch.full((1, 2, 90, 160), 7.0))
    u8 = [(x[0, 0] * 255).round().to(torch.uint8).numpy() for x in (a, b)]
    fresh = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST).calc(*u8, None)
    np.testing.assert_array_equal(dis(a, b)[0].permute(1, 2, 0).numpy(), fresh)


def test_dis_measures_frames_smaller_than_it_takes():
    """OpenCV's DIS refuses images under 12 pixels on both sides: an 8x8 pair (the chroma of a
    16x16 video, or -s 8x8) is measured scaled up to 12x12, the flow scaled back to 8x8; a strip
    wider than 32 pixels is measured at 32 high at least (under that, OpenCV 5.1's DIS can crash the
    process: 200x12, 100x24)."""
    for h, w in ((8, 8), (12, 1024), (12, 200), (24, 100), (1500, 12)):  # strips: OpenCV 5.1 crashed on some
        base = torch.zeros(1, 1, h, w)
        base[..., 2:5, 2:5] = 1.0
        flow = DISFlow("ultrafast", max_side=640)(base, torch.roll(base, shifts=1, dims=3))
        assert flow.shape == (1, 2, h, w) and torch.isfinite(flow).all()


def test_dis_reuses_a_frame_it_converted_only_for_that_same_frame():
    """DIS keeps the 8-bit frames it made, known by identity: a sequence of calls gives what
    OpenCV's DIS gives on each pair converted afresh (moving texture, where DIS is repeatable)."""
    import cv2

    rng = np.random.default_rng(2)
    base = torch.nn.functional.avg_pool2d(torch.from_numpy(rng.random((1, 1, 80, 120))).float(), 5, 1, 2)
    base = (base - base.min()) / (base.max() - base.min())
    frames = [torch.roll(base, shifts=(i, 2 * i), dims=(2, 3)) for i in range(4)]
    u8 = [(f[0, 0] * 255).round().to(torch.uint8).numpy() for f in frames]
    kept = DISFlow("medium")
    for a, b in [(0, 1), (1, 0), (2, 1), (1, 2), (3, 0), (0, 3)]:
        fresh = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(u8[a], u8[b], None)
        np.testing.assert_array_equal(kept(frames[a], frames[b])[0].permute(1, 2, 0).numpy(), fresh)
