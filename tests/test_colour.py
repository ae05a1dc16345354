"""Colour conversion against the Rec. 601/709/2020 formulas written out independently in numpy (fp64)."""

import numpy as np
import pytest
import torch

from dfstream.colour import LAYOUTS, Colour, from_rgb, to_rgb

KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


def reference_rgb(y, cb, cr, matrix, bits, full):
    """Rec. BT.601/709/2020 decoding, written out from the standards' equations."""
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    if full:
        top = 2**bits - 1
        e_y, e_cb, e_cr = y / top, (cb - 2 ** (bits - 1)) / top, (cr - 2 ** (bits - 1)) / top
    else:
        s = 2 ** (bits - 8)
        e_y, e_cb, e_cr = (y - 16 * s) / (219 * s), (cb - 128 * s) / (224 * s), (cr - 128 * s) / (224 * s)
    r = e_y + (2 - 2 * kr) * e_cr
    b = e_y + (2 - 2 * kb) * e_cb
    g = e_y - (2 * kr * (1 - kr) / kg) * e_cr - (2 * kb * (1 - kb) / kg) * e_cb
    return np.clip(np.stack([r, g, b]), 0, 1)


@pytest.mark.parametrize("matrix", sorted(KR_KB))
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("fmt", ["yuv444p", "yuv444p10le"])
def test_to_rgb_matches_the_standard(matrix, full, fmt):
    layout = LAYOUTS[fmt]
    rng = np.random.default_rng(0)
    top = 2**layout.bits
    planes = [rng.integers(0, top, size=(2, 5, 7)) for _ in range(3)]
    got = to_rgb([torch.from_numpy(p.astype(np.int16)) for p in planes], layout, Colour(matrix, full))
    want = np.stack([reference_rgb(*[p[i].astype(np.float64) for p in planes], matrix, layout.bits, full)
                     for i in range(2)])
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


@pytest.mark.parametrize("fmt", ["yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "gray", "gray10le"])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_round_trip_keeps_luma_exactly_and_flat_chroma(fmt, matrix):
    layout = LAYOUTS[fmt]
    rng = np.random.default_rng(1)
    s = 2 ** (layout.bits - 8)
    h, w = 9, 11  # odd: chroma planes are rounded up
    y = rng.integers(40 * s, 200 * s, size=(1, h, w))
    planes = [torch.from_numpy(y.astype(np.int16))]
    if not layout.gray:
        ch, cw = -(-h // layout.sub_y), -(-w // layout.sub_x)
        planes += [torch.full((1, ch, cw), 120 * s, dtype=torch.int16),
                   torch.full((1, ch, cw), 135 * s, dtype=torch.int16)]
    colour = Colour(matrix, False)
    back = from_rgb(to_rgb(planes, layout, colour), layout, colour)
    assert [tuple(p.shape) for p in back] == [tuple(p.shape) for p in planes]
    for a, b in zip(back, planes):
        assert torch.equal(a.to(torch.int16), b.to(torch.int16))


def test_gray_layout_gives_equal_channels():
    layout = LAYOUTS["gray"]
    rgb = to_rgb([torch.tensor([[[16, 235, 126]]], dtype=torch.uint8)], layout, Colour("bt709", False))
    assert rgb.shape == (1, 3, 1, 3)
    np.testing.assert_allclose(rgb[0, :, 0].T.numpy(), [[0, 0, 0], [1, 1, 1], [110 / 219] * 3], atol=1e-6)


def test_unspecified_matrix_follows_the_frame_height():
    layout = LAYOUTS["yuv420p"]
    assert Colour.of_frame(2, 0, layout, 480).matrix == "bt601"
    assert Colour.of_frame(2, 0, layout, 720).matrix == "bt709"
    assert Colour.of_frame(9, 2, layout, 480) == Colour("bt2020", True)
    assert Colour.of_frame(1, 0, LAYOUTS["yuvj420p"], 480).full_range


@pytest.mark.parametrize("small, big", [((36, 64), (72, 128)), ((5, 7), (9, 13)), ((6, 8), (6, 16))])
def test_cpu_plane_resizing_matches_the_gpu_formulas(small, big):
    """The CPU path (OpenCV) does the same sums as torch's bilinear (half-pixel centres) and
    average pooling, which the GPU path uses."""
    import torch.nn.functional as F

    from dfstream.colour import _resize_planes

    torch.manual_seed(0)
    x = torch.rand(2, 3, *small)
    up = _resize_planes(x, big)
    assert torch.allclose(up, F.interpolate(x, size=big, mode="bilinear", align_corners=False), atol=1e-6)
    if big[0] % small[0] == 0 and big[1] % small[1] == 0:
        y = torch.rand(2, 3, *big)
        factor = (big[0] // small[0], big[1] // small[1])
        assert torch.allclose(_resize_planes(y, small), F.avg_pool2d(y, factor), atol=1e-6)


def test_nv12_reads_and_writes_like_yuv420p():
    """NV12 (NVDEC's output) is read from its interleaved plane as it is, and written back into it."""
    import av

    from dfstream.planes import frames_from_arrays, plane_lists

    def tensors(frame, name):
        return [torch.from_numpy(np.stack(x)) for x in plane_lists([frame], LAYOUTS[name])]

    rng = np.random.default_rng(0)
    planar = av.VideoFrame.from_ndarray(rng.integers(16, 236, (36, 16), np.uint8), format="yuv420p")  # 16x24
    nv12 = planar.reformat(format="nv12")  # the same samples, chroma interleaved
    colour = Colour("bt709", False)
    rgb = to_rgb(tensors(planar, "yuv420p"), LAYOUTS["yuv420p"], colour)
    assert torch.equal(to_rgb(tensors(nv12, "nv12"), LAYOUTS["nv12"], colour), rgb)
    planes = [p.numpy() for p in from_rgb(rgb, LAYOUTS["nv12"], colour)]
    (written,) = frames_from_arrays(planes, LAYOUTS["nv12"], colour)
    assert written.format.name == "nv12"
    read_back = [t[0].numpy() for t in tensors(written.reformat(format="yuv420p"), "yuv420p")]
    assert all(np.array_equal(a, b[0]) for a, b in zip(read_back, planes))
