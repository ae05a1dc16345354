"""The real footage: AVI with H.264 and AAC, broken presentation timestamps, 25 fps in a 50 fps time base."""

import av
import av.logging
import pytest

from tests.conftest import WALKERS, decode, needs_media, run_cli

pytestmark = [needs_media(WALKERS), pytest.mark.media]


def decode_with_warnings(path):
    """Decode every stream and return FFmpeg's warnings and errors."""
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as c:
            for _ in c.decode(*c.streams):
                pass
    finally:
        av.logging.set_level(None)
    return [line for line in logs if line[0] <= av.logging.WARNING]


@pytest.fixture(scope="module")
def passthrough(tmp_path_factory):
    out = tmp_path_factory.mktemp("walkers") / "out.mkv"
    r = run_cli(WALKERS, out, "--stages", "none", "--preset", "veryfast", timeout=600)
    assert r.returncode == 0, r.stderr
    return out


def test_frame_count_and_every_timestamp(passthrough):
    # ffprobe -show_entries frame=best_effort_timestamp on the input: 2, 4, ..., 680 (1/50 s),
    # then one last frame without a timestamp.
    with av.open(str(passthrough)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) == 341
    assert times[:340] == pytest.approx([t / 50 for t in range(2, 682, 2)], abs=1e-9)
    assert 680 / 50 < times[340] <= 682 / 50


def test_audio_packets_byte_for_byte(passthrough):
    src, out = decode(WALKERS, "audio"), decode(passthrough, "audio")
    assert len(src) == 593
    assert [p for _, p in src] == [p for _, p in out]


def test_output_decodes_without_warnings(passthrough):
    assert decode_with_warnings(passthrough) == []


def test_mp4_output_too(tmp_path):
    out = tmp_path / "out.mp4"
    r = run_cli(WALKERS, out, "--stages", "gray", "-t", "2", "--preset", "ultrafast", timeout=600)
    assert r.returncode == 0, r.stderr
    assert decode_with_warnings(out) == []
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.colorspace == 1  # BT.709 tag kept
        assert sum(1 for _ in c.decode(video=0)) == 50  # 0.00 s .. 1.96 s at 25 fps: the output starts at the first kept frame
