import numpy as np
import pytest
import torch

from dfstream.geometry import crop, pad_to_multiple, resize, work_size


def test_work_size_caps_height_keeps_aspect_and_even_sides():
    assert work_size(1080, 1920, 720) == (720, 1280)
    assert work_size(480, 854, 360) == (360, 640)
    assert work_size(480, 640, None) == (480, 640)
    assert work_size(360, 640, 720) == (360, 640)
    h, w = work_size(1081, 1441, 301)
    assert (h % 2, w % 2) == (0, 0) and abs(w / h - 1441 / 1081) < 0.02


def test_pad_reflects_and_crop_restores():
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    p = pad_to_multiple(x, 4)
    assert p.shape == (2, 3, 8, 8)
    assert torch.equal(p[..., 5, :7], x[..., 3, :])  # reflection: row 5 mirrors row 3
    assert torch.equal(p[..., :5, 7], x[..., :, 5])
    assert torch.equal(crop(p, 5, 7), x)
    assert pad_to_multiple(x, 1) is x


def test_resize_is_identity_at_the_same_size_and_keeps_range():
    x = torch.rand(1, 3, 20, 30)
    assert resize(x, (20, 30)) is x
    y = resize(x, (10, 15))
    assert y.shape == (1, 3, 10, 15) and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("size, target", [((36, 64), (9, 16)), ((7, 10), (7, 5)), ((30, 40), (20, 30))])
def test_area_matches_torchs_area_interpolation(size, target):
    """Whole factors go through OpenCV, others through torch: both give torch's box means."""
    import torch.nn.functional as F

    from dfstream.geometry import area

    x = torch.rand(2, 3, *size)
    assert torch.allclose(area(x, target), F.interpolate(x, size=target, mode="area"), atol=1e-6)


@pytest.mark.parametrize("size, target", [((9, 16), (36, 64)), ((7, 10), (15, 21)), ((30, 40), (20, 27))])
def test_bilinear_through_opencv_matches_torchs_bilinear_interpolation(size, target):
    import torch.nn.functional as F

    from dfstream.geometry import bilinear

    x = torch.rand(2, 3, *size)
    want = F.interpolate(x.double(), size=target, mode="bilinear", align_corners=False)
    assert torch.allclose(bilinear(x, target).double(), want, atol=1e-5)


@pytest.mark.parametrize("radius", [1, 3])
def test_box_blur_through_opencv_is_the_mean_over_windows_cut_at_the_borders(radius):
    import torch.nn.functional as F

    from dfstream.engines.filters import box_blur

    x = torch.rand(1, 2, 9, 13, dtype=torch.float64)  # float64: torch's own path, the reference
    k = 2 * radius + 1
    want = F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)
    assert torch.allclose(box_blur(x, radius), want)
    assert torch.allclose(box_blur(x.float(), radius).double(), want, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.5, 1.25, 3.0])
def test_gaussian_blur_is_opencvs_over_edges_replicated(sigma):
    import math

    import cv2

    from dfstream.engines.filters import gaussian_blur

    x = torch.rand(1, 2, 12, 17)
    k = 2 * math.ceil(3 * sigma) + 1
    want = np.stack([cv2.GaussianBlur(p.numpy(), (k, k), sigma, borderType=cv2.BORDER_REPLICATE) for p in x[0]])
    assert torch.allclose(gaussian_blur(x, sigma)[0], torch.from_numpy(want), atol=1e-6)
    assert gaussian_blur(x, 0.0) is x
