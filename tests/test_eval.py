"""``dfstream eval`` against the formulas written out independently, with the same flow given to both."""

import math

import cv2
import numpy as np
import torch

from dfstream.evaluate import evaluate
from tests.test_flow import bilinear_reference, occlusion_reference

SHIFT = np.array([1.5, -0.5])  # the flow every pair gets: content moves by (1.5, -0.5) px


class FixedFlow:
    """A flow estimator that answers SHIFT forward and -SHIFT backward (by argument order)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, a, b):
        self.calls += 1
        sign = 1.0 if self.calls % 2 else -1.0
        flow = torch.zeros(a.shape[0], 2, *a.shape[-2:], dtype=torch.float32)
        flow[:, 0], flow[:, 1] = sign * SHIFT[0], sign * SHIFT[1]
        return flow


def write_frames(folder, frames):
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def colourfulness_reference(rgb):
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


def test_eval_agrees_with_the_formulas(tmp_path):
    rng = np.random.default_rng(3)
    n, h, w = 5, 18, 22
    truth = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    video = np.clip(truth.astype(int) + rng.integers(-20, 20, (n, h, w, 3)), 0, 255).astype(np.uint8)
    processed = np.clip(video.astype(int) + rng.integers(-5, 5, (n, 1, 1, 3)), 0, 255).astype(np.uint8)
    paths = {k: write_frames(tmp_path / k, v) for k, v in
             (("video", video), ("processed", processed), ("truth", truth))}
    report = evaluate(str(paths["video"]), original=str(paths["truth"]), processed=str(paths["processed"]),
                      against=str(paths["truth"]), estimator=FixedFlow())

    fw = np.broadcast_to(SHIFT[:, None, None], (2, h, w)).copy()
    bw = -fw
    mask = ~occlusion_reference(fw, bw)
    errors = []
    for t in range(n - 1):
        o_t = video[t].transpose(2, 0, 1) / 255
        warped = bilinear_reference(video[t + 1].transpose(2, 0, 1) / 255, fw)
        errors.append(np.sum(mask * (o_t - warped) ** 2) / np.sum(mask))
    assert report["video"]["warping_error"] == pytest_approx(np.mean(errors))

    mse = np.mean([np.mean((video[i] / 255 - processed[i] / 255) ** 2) for i in range(n)])
    assert report["video"]["psnr_processed"] == pytest_approx(10 * math.log10(1 / mse))
    mse_gt = np.mean([np.mean((video[i] / 255 - truth[i] / 255) ** 2) for i in range(n)])
    assert report["video"]["psnr_ground_truth"] == pytest_approx(10 * math.log10(1 / mse_gt))
    for name, other in (("processed", processed), ("ground_truth", truth)):  # each frame's PSNR, then the mean
        frames_psnr = [10 * math.log10(1 / np.mean((video[i] / 255 - other[i] / 255) ** 2)) for i in range(n)]
        assert report["video"][f"mean_frame_psnr_{name}"] == pytest_approx(np.mean(frames_psnr))
    colour = np.mean([colourfulness_reference(f) for f in video])
    assert report["video"]["colourfulness"] == pytest_approx(colour)
    assert report["frames"] == n


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=1e-5)


def test_eval_cli_json_and_length_mismatch(tmp_path):
    import json

    from tests.conftest import make_clip, run_cli

    a = make_clip(tmp_path / "a.mkv", frames=6)
    b = make_clip(tmp_path / "b.mkv", frames=4)
    r = run_cli("eval", a, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frames"] == 6 and report["video"]["warping_error"] > 0
    r = run_cli("eval", a, "--processed", b)
    assert r.returncode == 1 and b"ends after 4 frames" in r.stderr
    table = run_cli("eval", a).stdout.decode()
    assert "warping error" in table and "colourfulness" in table


def test_eval_reads_a_numbered_pattern_exactly_as_a_folder(tmp_path):
    """Frames%05d.png read as the images they are (as a folder is), found as FFmpeg finds them: from the
    first of 0-4 that exists, on to the first gap."""
    from dfstream.evaluate import numbered

    frames = np.random.default_rng(4).integers(0, 256, (4, 18, 22, 3), dtype=np.uint8)
    folder = write_frames(tmp_path / "frames", frames)
    pattern = str(folder / "%05d.png")
    assert evaluate(pattern, estimator=FixedFlow()) == evaluate(str(folder), estimator=FixedFlow())
    (folder / "00000.png").unlink()
    (folder / "00002.png").unlink()
    assert numbered(pattern) == [pattern % 1]
    assert numbered(str(tmp_path / "none%03d.png")) == []
