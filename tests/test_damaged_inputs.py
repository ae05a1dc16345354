"""Damaged copies of a real clip (seeded): a one-line error and nothing left behind, or an output
that decodes. Never a traceback, a hang, or a status 0 with a broken file."""

import random
from fractions import Fraction

import av
import pytest

import dfstream
from dfstream.errors import DfstreamError
from tests.conftest import MEDIA, make_clip, needs_media, run_cli

WALKERS = MEDIA / "walkers_720p_aac.avi"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first second of the real walkers clip at 320x180 in Matroska, with its audio."""
    path = tmp_path_factory.mktemp("clip") / "clip.mkv"
    with av.open(str(WALKERS)) as src, av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        audio = out.add_stream_from_template(src.streams.audio[0])
        count = 0
        for packet in src.demux(src.streams.video[0], src.streams.audio[0]):
            if packet.pts is None or packet.pts * packet.time_base > 1:
                continue
            if packet.stream.type == "audio":
                packet.stream = audio
                out.mux(packet)
            for frame in packet.decode() if packet.stream.type == "video" else ():
                small = frame.reformat(width=320, height=180, format="yuv420p")
                small.pts, small.time_base, count = count, Fraction(1, 25), count + 1
                out.mux(video.encode(small))
        out.mux(video.encode(None))
    return path.read_bytes()


def mutations(data: bytes, seed: int):
    rng = random.Random(seed)
    yield "after the header", data[:1500]
    for i in range(9):
        kind = ("truncated", "bit-flipped", "spliced", "zeroed")[i % 4]
        b = bytearray(data)
        if kind == "truncated":
            b = b[: rng.randrange(200, len(b))]
        elif kind == "bit-flipped":
            for _ in range(rng.randrange(1, 40)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == "spliced":
            a, c = sorted(rng.sample(range(len(b)), 2))
            b = b[:a] + b[c:]
        else:
            a = rng.randrange(len(b))
            b[a : a + rng.randrange(16, 4096)] = bytes(min(len(b) - a, 4096))
        yield kind, bytes(b)


@needs_media(WALKERS)
def test_damaged_inputs_fail_cleanly_or_give_a_decodable_output(tmp_path, clip):
    for n, (kind, data) in enumerate(mutations(clip, seed=18)):
        src, out = tmp_path / f"in{n}.mkv", tmp_path / f"out{n}.mkv"
        src.write_bytes(data)
        try:
            dfstream.process(str(src), str(out), stages="gray")
        except DfstreamError as err:
            assert "\n" not in str(err), (kind, err)
            assert not out.exists(), kind
        else:
            with av.open(str(out)) as c:
                assert sum(1 for _ in c.decode(video=0)) > 0, kind
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], kind
    truncated = tmp_path / "in0.mkv"
    with pytest.raises(DfstreamError, match="no video frame could be decoded"):
        dfstream.process(str(truncated), str(tmp_path / "again.mkv"))


def test_a_file_cut_short_is_named_in_a_note(tmp_path):
    """Matroska's header gives the whole duration: a copy cut at 40% decodes to its cut, and the
    note says where it ends against its header; the whole file gets no note."""
    whole = make_clip(tmp_path / "whole.mkv", frames=75, audio="aac")
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 4 // 10])
    notes = {}
    for src in (whole, cut):
        r = run_cli(src, tmp_path / f"out-{src.name}", "--stages", "gray")
        assert r.returncode == 0, r.stderr
        notes[src.name] = [line for line in r.stderr.decode().splitlines() if "may be incomplete" in line]
    assert notes["whole.mkv"] == []
    assert len(notes["cut.mkv"]) == 1 and "its header says 3." in notes["cut.mkv"][0]
