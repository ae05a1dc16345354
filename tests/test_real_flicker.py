"""The weights-free stabilizer on real per-frame flicker (../shared/media/flicker), at a small size."""

import numpy as np
import pytest
import torch.nn.functional as F

from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.colorize.reference import load_image
from dfstream.engines.flow import DISFlow
from dfstream.engines.metrics import colourfulness, frame_warping_error
from dfstream.engines.stabilize.flow import FlowStabilizer
from tests.conftest import MEDIA, needs_media

FLICKER = MEDIA / "flicker"


def frames(folder, count=16):
    files = sorted(folder.glob("*.jpg"))[:count]
    return [F.interpolate(load_image(f), scale_factor=0.5, mode="area") for f in files]


def warping_error(video, guide):
    """Lai et al.'s warping error with the flow of the unprocessed input, as ``dfstream eval``."""
    flow = DISFlow("medium")
    ys = [luma(g, "bt601") for g in guide]
    return np.mean([frame_warping_error(video[t], video[t + 1], flow(ys[t], ys[t + 1]), flow(ys[t + 1], ys[t]))
                    for t in range(len(video) - 1)])


@needs_media(FLICKER)
@pytest.mark.parametrize("name", ["goat", "bike-packing"])
def test_flow_stabilizer_removes_real_per_frame_flicker(name):
    original, processed = frames(FLICKER / name / "input"), frames(FLICKER / name / "processed")
    stage = FlowStabilizer()
    out = [stage.process(p, StageContext(i, luma(i, "bt601"), [t == 0]))
           for t, (i, p) in enumerate(zip(original, processed))]
    e_in, e_p, e_o = (warping_error(v, original) for v in (original, processed, out))
    assert e_p > 1.3 * e_in  # the processed video flickers
    removed = 1 - (e_o - e_in) / (e_p - e_in)
    fidelity = 10 * np.log10(1 / np.mean([float(((o - p) ** 2).mean()) for o, p in zip(out, processed)]))
    kept = np.mean([colourfulness(o) for o in out]) / np.mean([colourfulness(p) for p in processed])
    assert removed > 0.8 and fidelity > 33 and kept > 0.92, (removed, fidelity, kept)
