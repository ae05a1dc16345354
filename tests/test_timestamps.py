from dfstream.timestamps import Timestamps


def run(stamps, frames):
    out = []
    for i, (pts, dts) in enumerate(frames):
        out += [ts for _, ts in stamps.push(i, pts, dts)]
    return out + [ts for _, ts in stamps.flush()]


def test_avi_style_decode_order_pts_are_restored_to_presentation_order():
    # What FFmpeg 8 reports for the AVI footage: every fifth frame's pts is late.
    pts = [2, 6, 8, 10, 12, 4, 16, 18, 20, 22, 14, 26, 28, 30, 32, 24]
    assert run(Timestamps(window=8), [(p, None) for p in pts]) == list(range(2, 34, 2))


def test_correct_vfr_timestamps_pass_unchanged():
    pts = [0, 40, 50, 130, 131, 400, 1000]
    assert run(Timestamps(window=8), [(p, None) for p in pts]) == pts
    assert run(Timestamps(window=0), [(p, None) for p in pts]) == pts


def test_missing_pts_fall_back_to_dts_then_to_the_frame_step():
    frames = [(0, 0), (None, 2), (None, None), (None, None), (9, 9)]
    assert run(Timestamps(window=2, step=2), frames) == [0, 2, 4, 6, 9]


def test_duplicates_become_strictly_increasing():
    assert run(Timestamps(window=0), [(5, None), (5, None), (4, None)]) == [5, 6, 7]


def test_window_bounds_the_frames_held_back():
    stamps = Timestamps(window=3)
    released = [list(stamps.push(i, i, None)) for i in range(6)]
    assert [len(r) for r in released] == [0, 0, 0, 1, 1, 1]
