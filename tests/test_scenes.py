from fractions import Fraction

import torch

from dfstream.scenes import SceneCuts

TB = Fraction(1, 25)


def frames(values, size=(36, 64)):
    """Luma frames with a moving gradient whose brightness level is ``values[i]``."""
    y = torch.linspace(0, 1, size[1]).expand(size)
    return torch.stack([(0.2 * torch.roll(y, i, 1) + v).clamp(0, 1) for i, v in enumerate(values)])[:, None]


def test_first_frame_and_a_hard_cut_are_cuts_motion_is_not():
    luma = frames([0.1] * 5 + [0.7] * 5)
    assert SceneCuts().detect(luma, list(range(10)), TB) == [True] + [False] * 4 + [True] + [False] * 4


def test_state_carries_across_batches():
    luma = frames([0.1] * 4 + [0.7] * 4)
    scenes = SceneCuts()
    first = scenes.detect(luma[:4], [0, 1, 2, 3], TB)
    second = scenes.detect(luma[4:], [4, 5, 6, 7], TB)
    assert first == [True, False, False, False]
    assert second == [True, False, False, False]
    single = SceneCuts()
    assert [single.detect(luma[i : i + 1], [i], TB)[0] for i in range(8)] == first + second


def test_a_timestamp_gap_is_a_cut():
    luma = frames([0.3] * 4)
    assert SceneCuts(max_gap=1.0).detect(luma, [0, 1, 2, 200], TB) == [True, False, False, True]


def test_reset_starts_a_new_scene():
    luma = frames([0.3] * 2)
    scenes = SceneCuts()
    scenes.detect(luma, [0, 1], TB)
    scenes.reset()
    assert scenes.detect(luma, [2, 3], TB) == [True, False]
