import io
import json
import subprocess
import sys

from dfstream.progress import Progress
from dfstream.source import Source
from tests.conftest import make_clip


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal_plain_lines_otherwise():
    tty, log = Terminal(), io.StringIO()
    bar, plain = Progress("auto", total=100, stream=tty), Progress("auto", total=100, stream=log)
    assert (bar.mode, plain.mode) == ("bar", "plain")
    for p in (bar, plain):
        p.update(50)
        p.close()
    assert "\r[###############" in tty.getvalue() and "50/100" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    assert log.getvalue().startswith("frames 50/100  fps")


def test_a_total_passed_is_dropped_rather_than_shown_wrong():
    """A still looped (-loop 1 -i still.png -t 2) is guessed one frame long: past the guess the
    line shows the frames alone, with no total and no ETA (it had shown 'frames 8/1')."""
    log = io.StringIO()
    p = Progress("plain", total=1, stream=log)
    p.update(8)
    assert log.getvalue().startswith("frames 8  fps") and "eta --:--" in log.getvalue()


def test_json_lines_and_silence():
    out = io.StringIO()
    p = Progress("json", total=10, stream=out)
    p.update(3, media_time=0.12)
    record = json.loads(out.getvalue().splitlines()[0])
    assert record["frames"] == 3 and record["total"] == 10 and record["time"] == 0.12
    quiet = io.StringIO()
    q = Progress("none", total=10, stream=quiet)
    q.update(5)
    q.close()
    assert quiet.getvalue() == ""


def peak_rss_mb(seconds: int, out) -> float:
    """Peak memory of a run over ``seconds`` of generated 320x240 video (decode outruns encode)."""
    code = (
        "import resource, dfstream;"
        f"dfstream.process('testsrc2=size=320x240:rate=50', '{out}', stages='gray', overwrite=True,"
        f" input_format='lavfi', duration={seconds}, encoder=dfstream.pipeline.EncoderSettings(preset='medium'));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    return float(out.stdout.strip())


def test_memory_stays_flat_on_long_input(tmp_path):
    out = tmp_path / "o.nut"
    short, long = peak_rss_mb(4, out), peak_rss_mb(40, out)  # 200 and 2000 frames of 115 kB each
    assert long - short < 40, (short, long)


def test_the_total_is_the_videos_own_length_in_matroska(tmp_path):
    """Matroska gives no stream durations, only the file's (the longest stream's: AAC's 2.13 s
    here) and a DURATION tag per stream: the total counts the video's 50 frames, not 53."""
    clip = make_clip(tmp_path / "in.mkv", frames=50, audio="aac")
    source = Source(str(clip))
    try:
        assert source.container.duration / 1e6 > 2.1 and source.expected_frames() == 50
    finally:
        source.close()
