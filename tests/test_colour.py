"""Writing colour: codes against the Rec. 601/709/2020 formulas written out independently in numpy (fp64)."""

import numpy as np
import pytest
import torch

from dfstream.colour import LAYOUTS, Colour, from_rgb

KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


def reference_codes(rgb, matrix, bits, full):
    """Rec. BT.601/709/2020 encoding of R'G'B' to Y'CbCr codes, written out from the standards."""
    kr, kb = KR_KB[matrix]
    r, g, b = rgb
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 - 2 * kb), (r - y) / (2 - 2 * kr)
    if full:
        top = 2**bits - 1
        return y * top, cb * top + 2 ** (bits - 1), cr * top + 2 ** (bits - 1)
    s = 2 ** (bits - 8)
    return 16 * s + 219 * s * y, 128 * s + 224 * s * cb, 128 * s + 224 * s * cr


@pytest.mark.parametrize("matrix", sorted(KR_KB))
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("fmt", ["yuv444p", "yuv444p10le", "yuv444p12le"])
def test_from_rgb_matches_the_standard(matrix, full, fmt):
    layout = LAYOUTS[fmt]
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, size=(2, 3, 5, 7))
    got = from_rgb(torch.from_numpy(rgb).float(), layout, Colour(matrix, full))
    for i in range(2):
        for plane, want in zip(got, reference_codes(rgb[i], matrix, layout.bits, full)):
            assert np.abs(plane[i].numpy().astype(np.float64) - want).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("fmt", ["yuv420p", "yuv422p"])
def test_subsampled_chroma_is_sited_as_h264_sites_it(fmt):
    """Chroma of 4:2:x is the chroma of the R'G'B' around where H.264 sites it (FFmpeg's "left"):
    on each even column, weighted 1/4, 1/2, 1/4 across it (the first column repeated at the edge),
    and for 4:2:0 half way between a pair of rows (their mean)."""
    layout = LAYOUTS[fmt]
    rng = np.random.default_rng(2)
    rgb = rng.uniform(0, 1, size=(1, 3, 4, 6))
    got = from_rgb(torch.from_numpy(rgb).float(), layout, Colour("bt709", False))
    rows = rgb[0].reshape(3, 4 // layout.sub_y, layout.sub_y, 6).mean(2)
    padded = np.concatenate([rows[..., :1], rows], -1)  # column -1 is column 0
    mean = 0.25 * padded[..., 0:6:2] + 0.5 * padded[..., 1:7:2] + 0.25 * padded[..., 2:7:2]
    _, cb, cr = reference_codes(mean, "bt709", 8, False)
    assert np.abs(got[1][0].numpy() - cb).max() <= 0.5 + 1e-3
    assert np.abs(got[2][0].numpy() - cr).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("small, big", [((36, 64), (72, 128)), ((6, 8), (6, 16)), ((5, 7), (10, 7))])
def test_cpu_chroma_downsampling_matches_the_gpu_formula(small, big):
    """The CPU path (OpenCV) does the same sums as torch's average pooling, which the GPU path uses."""
    import torch.nn.functional as F

    from dfstream.geometry import area

    torch.manual_seed(0)
    y = torch.rand(2, 3, *big)
    factor = (big[0] // small[0], big[1] // small[1])
    assert torch.allclose(area(y, small), F.avg_pool2d(y, factor), atol=1e-6)


def test_cpu_chroma_siting_matches_the_gpu_formula():
    """``cosited`` through OpenCV (CPU float32) does the same sums as its torch path (the GPU's)."""
    from dfstream.colour import cosited

    torch.manual_seed(0)
    y = torch.rand(2, 3, 10, 14)
    for sub_y in (1, 2):
        assert torch.allclose(cosited(y, sub_y, 2).double(), cosited(y.double(), sub_y, 2), atol=1e-6)


def test_nv12_is_written_like_yuv420p():
    """NV12 (NVDEC's layout) gets the same samples as yuv420p, interleaved in one plane."""

    from dfstream.colour import Tags
    from dfstream.planes import frames_from_arrays, plane_lists

    rng = np.random.default_rng(0)
    rgb = torch.from_numpy(rng.uniform(0, 1, (1, 3, 24, 16))).float()
    colour = Colour("bt709", False)
    planes = [p.numpy() for p in from_rgb(rgb, LAYOUTS["nv12"], colour)]
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(planes, from_rgb(rgb, LAYOUTS["yuv420p"], colour)))
    (written,) = frames_from_arrays(planes, LAYOUTS["nv12"], Tags().written(colour, 24))
    assert written.format.name == "nv12"
    read_back = [np.stack(x) for x in plane_lists([written.reformat(format="yuv420p")], LAYOUTS["yuv420p"])]
    assert all(np.array_equal(a, b) for a, b in zip(read_back, planes))
