from dfstream.realtime import Realtime


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
