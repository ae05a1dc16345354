from fractions import Fraction

from dfstream.timecode import shifted
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


def test_timecodes_move_on_by_frames_as_smpte_counts_them():
    """Non-drop at 25 fps; drop-frame at 29.97 leaves out ;00 and ;01 of each minute but every tenth
    (SMPTE 12M: 00:00:59;29 is followed by 00:01:00;02, 00:09:59;29 by 00:10:00;00), at 59.94 four;
    around the clock past 24 hours; what is no timecode is left alone."""
    ntsc, ntsc_double = Fraction(30000, 1001), Fraction(60000, 1001)
    assert shifted("01:00:00:00", 5, Fraction(25)) == "01:00:00:05"
    assert shifted("00:59:59:24", 1, Fraction(25)) == "01:00:00:00"
    assert shifted("00:00:59;29", 1, ntsc) == "00:01:00;02"
    assert shifted("00:09:59;29", 1, ntsc) == "00:10:00;00"
    assert shifted("00:00:00;00", 17982, ntsc) == "00:10:00;00"  # frames in ten drop-frame minutes
    assert shifted("00:00:00;00", 1800, ntsc) == "00:01:00;02"
    assert shifted("00:00:59;59", 1, ntsc_double) == "00:01:00;04"
    assert shifted("00:00:00:00", 1800, ntsc) == "00:01:00:00"  # ':' counts every frame number
    assert shifted("23:59:59:24", 2, Fraction(25)) == "00:00:00:01"
    assert shifted("not a timecode", 5, Fraction(25)) == "not a timecode"
