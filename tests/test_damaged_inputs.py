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


def damaging(real):
    """``demuxed`` as a damaged file reads: the 20th audio packet garbage, the 30th's times three
    packets back (as bit flips in a header give them)."""
    def demuxed(container, *streams):
        count = 0
        for packet in real(container, *streams):
            if packet.stream.type == "audio" and packet.size:
                count += 1
                if count == 20:
                    garbage = av.Packet(bytes([0xA5]) * packet.size)
                    garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                    garbage.stream = packet.stream
                    packet = garbage
                elif count == 30:
                    packet.pts, packet.dts = packet.pts - 3 * packet.duration, packet.dts - 3 * packet.duration
            yield packet
    return demuxed


@pytest.mark.parametrize("source, target, notes", [
    ("in.ts", "out.mp4", ["left out 1 damaged audio or subtitle packets the muxer refused",  # ADTS: its filter
                          "moved 1 packets whose decode times went back"]),
    ("in.mkv", "out.webm", ["skipped 1 damaged packets of stream #1 in re-encoding it",
                            "moved 1 packets whose decode times went back"])])
def test_damaged_audio_is_left_out_or_mended_as_ffmpeg_does(tmp_path, monkeypatch, source, target, notes):
    """A garbage audio packet and one whose times go back: copied, the muxer would refuse both
    and the run stopped with a bare FFmpeg error; re-encoded, the decoder refused the garbage."""
    clip = make_clip(tmp_path / "clip.mkv", frames=50, audio="aac")
    src = tmp_path / source
    if source.endswith(".ts"):  # AAC in ADTS, as broadcast recordings carry it
        assert run_cli(clip, src, "--stages", "none").returncode == 0
    else:
        src = clip
    monkeypatch.setattr(dfstream.source, "demuxed", damaging(dfstream.source.demuxed))
    encoder = dfstream.EncoderSettings(codec="libvpx-vp9" if target.endswith(".webm") else "libx264")
    summary = dfstream.process(str(src), str(tmp_path / target), stages="gray", encoder=encoder)
    assert summary.frames == 50
    assert all(any(n.startswith(want) for n in summary.notes) for want in notes), summary.notes
    with av.open(str(tmp_path / target)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 50
    with av.open(str(tmp_path / target)) as c:
        assert sum(f.samples for f in c.decode(audio=0)) > 1.5 * c.streams.audio[0].rate  # of 2 s


def test_a_recording_that_gains_a_stream_midway_is_read_to_its_end(tmp_path):
    """MPEG-TS whose programme gains streams midway (a recording across a channel's change):
    PyAV's flush at the end read past its list of streams, and the run stopped with IndexError
    after every frame; the film's 200 frames come out."""
    parts = []
    for n, (frames, audio, options) in enumerate([(200, None, {}), (25, "aac", {"mpegts_start_pid": "0x300",
                                                                                "mpegts_pmt_start_pid": "0x1200",
                                                                                "mpegts_service_id": "7"})]):
        clip = make_clip(tmp_path / f"part{n}.mkv", frames=frames, width=64, height=48, audio=audio)
        part = tmp_path / f"part{n}.ts"
        with av.open(str(clip)) as i, av.open(str(part), "w", options=options) as o:
            streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
            for p in i.demux():
                if p.size:
                    p.stream = streams[p.stream.index]
                    o.mux(p)
        parts.append(part.read_bytes())
    src = tmp_path / "grown.ts"
    src.write_bytes(b"".join(parts))
    with av.open(str(src)) as c:
        assert len(c.streams) == 1  # the second part's streams are not known at the start
    summary = dfstream.process(str(src), str(tmp_path / "out.mkv"), stages="gray")
    assert summary.frames == 200
