import pytest

from dfstream.realtime import ReadRate, Realtime


def test_lowers_the_work_size_before_dropping_and_keeps_cuts():
    rt = Realtime(budget=0.2, hold=1.0)
    assert rt.plan([0.05, 0.1], [True, False], now=0.0) == [True, True] and rt.scale == 1.0
    assert rt.plan([0.9, 0.9], [False, False], now=1.0) == [True, True] and rt.scale == 0.75
    assert rt.plan([0.9, 0.9], [False, False], now=1.5) == [True, True] and rt.scale == 0.75  # held
    assert rt.plan([0.9, 0.15, 0.9], [False, False, True], now=2.0) == [False, True, True]
    assert rt.scale == 0.5 and rt.dropped == 1
    assert "dropped 1 of" in rt.report() and "50%" in rt.report()


def test_steps_back_up_when_the_lag_stays_low():
    rt = Realtime(budget=0.2, hold=1.0)
    rt.plan([1.0], [False], now=1.0)
    rt.plan([0.01], [False], now=2.0)
    assert rt.scale == 0.75
    rt.plan([0.01], [False], now=4.5)
    assert rt.scale == 1.0


def test_first_signal_stops_reading_second_one_stops_at_once():
    import os
    import signal

    import pytest

    from dfstream.signals import stop_on_signals

    seen = []
    with stop_on_signals(seen.append):
        os.kill(os.getpid(), signal.SIGINT)
        assert seen == ["SIGINT"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_stateful_engines_follow_a_change_of_work_size():
    import torch

    from dfstream.colour import luma
    from dfstream.engines import StageContext
    from dfstream.engines.colorize.reference import ReferenceColorizer
    from dfstream.engines.stabilize.flow import FlowStabilizer

    big = torch.rand(1, 3, 64, 96)
    small = torch.nn.functional.interpolate(big, size=(32, 48), mode="area")
    for stage in (FlowStabilizer(), ReferenceColorizer([big])):
        for i, frame in enumerate((big, big, small, small, big)):
            out = stage.process(frame, StageContext(frame, luma(frame, "bt601"), [i == 0]))
            assert out.shape == frame.shape


def test_chroma_work_shrinks_with_a_lowered_work_size():
    import torch

    from dfstream.colour import luma
    from dfstream.engines import StageContext
    from dfstream.engines.colorize.reference import ReferenceColorizer
    from dfstream.geometry import chroma_size

    assert chroma_size(360, 640) == chroma_size(270, 480) == chroma_size(180, 320) == (180, 320)  # the floor
    assert chroma_size(270, 480, scale=0.75) == (135, 240) and chroma_size(180, 320, scale=0.5) == (90, 160)
    assert chroma_size(810, 1440, scale=0.75) == chroma_size(1080, 1920, scale=0.75) == (202, 360)  # the cap
    frame = torch.rand(1, 3, 180, 320)
    for scale, size in ((1.0, (180, 320)), (0.5, (90, 160))):
        stage = ReferenceColorizer([frame])
        stage.process(frame, StageContext(frame, luma(frame, "bt601"), [True], scale=scale))
        assert stage._size == size


class Clock:
    """Time that passes only when slept, and what was slept."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_re_hands_frames_on_at_their_own_pace(tmp_path, monkeypatch):
    """-re: a file's frames go on at their times in the video (the first at once), -readrate 2 at
    twice that; a frame already late is not waited for; in a run, the frames as read."""
    from fractions import Fraction

    from dfstream import source
    from tests.conftest import make_clip

    for speed, due in ((1.0, 0.04), (2.0, 0.02)):
        clock = Clock()
        pace = ReadRate(speed, clock=lambda: clock.now, sleep=clock.sleep)
        for t in (0.0, 0.04, 0.08, 0.12):
            pace.wait(t)
        assert clock.sleeps == pytest.approx([due] * 3)
    clock = Clock()
    pace = ReadRate(1.0, clock=lambda: clock.now, sleep=clock.sleep)
    pace.wait(0.0)
    clock.now += 0.5  # the work took longer than the frames' time
    pace.wait(0.04)
    assert clock.sleeps == []
    clock = Clock()
    monkeypatch.setattr(source, "ReadRate", lambda speed: ReadRate(speed, lambda: clock.now, clock.sleep))
    src = source.Source(str(make_clip(tmp_path / "in.mkv", frames=10)), readrate=1.0)
    assert sum(1 for i in src.items() if isinstance(i, source.VideoItem)) == 10
    src.close()
    assert sum(clock.sleeps) == pytest.approx(float(9 * Fraction(1, 25)))
