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



def test_the_first_frame_shown_after_a_dip_to_black_is_a_cut():
    """A fade out over 10 frames and a fade in, each frame too little changed for the threshold: the
    first frame shown after the black ones (their brightest pixels over SHOWN) starts a scene. At its
    darkest the dip is black as blackdetect counts it, not quite 0 (gain 0.1: luma 0.09 at most)."""
    gains = [k / 10 for k in range(10, 0, -1)] + [k / 10 for k in range(1, 11)]  # 1 .. 0.1, 0.1 .. 1
    luma = frames([0.7] * len(gains)) * torch.tensor(gains)[:, None, None, None]  # luma 0.7-0.9 at full
    flags = SceneCuts().detect(luma, list(range(len(gains))), TB)
    assert flags == [True] + [False] * 10 + [True] + [False] * 8, flags


def levels(values):
    return torch.tensor(values)[:, None, None, None].expand(-1, 1, 36, 64)


def test_dark_frames_cut_only_when_shown_after_black():
    """A dark scene that never falls to BLACK does not cut; one whose brightest pixels swing between
    black and just over it cuts once each time it has fallen to BLACK, not at every frame."""
    assert SceneCuts().detect(levels([0.12, 0.11, 0.14, 0.12, 0.2]), list(range(5)), TB) == [True] + [False] * 4
    swinging = levels([0.08, 0.18, 0.12, 0.18, 0.12, 0.18, 0.09, 0.18])
    assert SceneCuts().detect(swinging, list(range(8)), TB) == [True, True] + [False] * 4 + [False, True]
