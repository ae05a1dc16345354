"""End to end on generated clips: frames, timestamps, formats, audio, trimming, stages."""

import contextlib
import json
import math
import os
import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

import dfstream
from dfstream.engines import RecurrentStage
from dfstream.planes import ACCURATE
from tests.conftest import decode, make_clip, pattern, run_cli


def video_times(path):
    with av.open(str(path)) as c:
        return [f.time for f in c.decode(video=0)]


@pytest.mark.parametrize("pix_fmt,size,codec", [
    ("yuv420p", (96, 64), "libx264"), ("yuv444p", (97, 61), "libx264"),
    ("gray", (95, 63), "ffv1"), ("yuv420p10le", (64, 48), "libx264")])
def test_passthrough_keeps_frames_format_and_pixels(tmp_path, pix_fmt, size, codec):
    src = make_clip(tmp_path / "in.mkv", width=size[0], height=size[1], pix_fmt=pix_fmt, codec=codec)
    out = tmp_path / "out.mkv"
    lossless = ["--encoder-option", "qp=0", "--preset", "ultrafast"] if codec == "libx264" else []
    r = run_cli(src, out, "--stages", "none", "--codec", codec, *lossless)
    assert r.returncode == 0, r.stderr
    a, b = decode(src), decode(out)
    assert len(a) == len(b) == 12
    assert [f[3] for f in b] == [pix_fmt] * 12
    for fa, fb in zip(a, b):
        assert fa[0] == fb[0]
        assert np.array_equal(fa[2], fb[2])  # lossless both ways: the very same planes


def test_a_folder_of_frames_or_a_numbered_pattern_is_read_as_a_video_in_name_order(tmp_path):
    """How per-frame tools write their output (and the flicker sets hold it): a folder of images,
    or FFmpeg's frame%03d.png, at 25 fps or the framerate given (-framerate as ffmpeg's)."""
    import cv2

    folder = tmp_path / "frames [*]"  # glob's own characters in the name, read as they are
    folder.mkdir()
    images = [pattern(i, 64, 96, 0) for i in range(6)]  # moving: each frame unlike the others
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image[..., ::-1])
    (folder / "notes.txt").write_text("not a frame")
    for name, options, step in ((folder, ["--input-option", "framerate=10"], 0.1), (folder / "%03d.png", [], 0.04),
                                (folder, ["-framerate", "24000/1001"], 1001 / 24000)):
        out = tmp_path / "out.mkv"
        r = run_cli(name, out, "--stages", "none", "--crf", "0", "-y", *options)
        assert r.returncode == 0, r.stderr
        with av.open(str(out)) as c:
            got = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
        assert [t for t, _ in got] == pytest.approx([i * step for i in range(6)], abs=1e-3)  # Matroska: ms
        for (_, frame), image in zip(got, images, strict=True):
            assert np.abs(frame.astype(int) - image).mean() < 1  # this frame (the next differs by ~6)


def upright_in(path: Path, frames: int) -> list[np.ndarray]:
    """The frames of a run of ``path`` through a stage, as written, checked to carry no turn left."""
    out = path.parent / "upright.mkv"
    r = run_cli(path, out, "--stages", "stabilize", "--crf", "0")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        got = [f for f in c.decode(video=0)]
    assert len(got) == frames
    assert not [d for f in got for d in f.side_data if d.type.name == "DISPLAYMATRIX"]  # none left for players
    return [f.to_ndarray(format="rgb24") for f in got]


@pytest.mark.parametrize("degrees, flip, pix_fmt, codec, name", [
    (90, "", "yuv444p", "libx264", "phone.mp4"), (-90, "", "yuv444p", "libx264", "phone.mp4"),
    (180, "", "yuv444p", "libx264", "phone.mp4"), (90, "", "yuv420p", "libx264", "phone.mp4"),
    (90, "", "yuv422p", "libx264", "phone.mp4"), (90, "", "yuyv422", "rawvideo", "packed.mkv"),
    (0, "h", "yuv444p", "libx264", "mirror.mp4"), (0, "v", "yuv420p", "libx264", "mirror.mp4"),
    (90, "h", "yuv444p", "libx264", "mirror.mp4"), (-90, "v", "rgb24", "png", "mirror.mov")])
def test_a_phone_video_is_turned_upright_as_its_display_matrix_says(tmp_path, degrees, flip, pix_fmt, codec, name):
    """As ffmpeg's autorotation: turned, then mirrored where the matrix says so (a selfie camera's
    mirror alone read as a half turn before), with subsampled chroma, 4:2:2 whose chroma is halved
    across only, packed YUYV and packed RGB as well."""
    src = make_clip(tmp_path / name, frames=4, pix_fmt=pix_fmt, codec=codec, rotation=degrees, flip=flip)
    for i, frame in enumerate(upright_in(src, 4)):  # codes off: 0.5-0.8 at 4:4:4, 3.5-4.2 subsampled
        upright = np.rot90(pattern(i, 64, 96, 0), degrees // 90)
        upright = upright[::-1 if "v" in flip else 1, ::-1 if "h" in flip else 1]
        assert frame.shape == upright.shape
        off = np.abs(frame.astype(int) - upright).mean()
        assert off < (1 if pix_fmt in ("yuv444p", "rgb24") else 5), off  # 47 with planes garbled


def test_a_turn_other_than_a_quarter_is_left_as_coded():
    """ffmpeg rotates those inside black corners; dfstream leaves them, and reads no turn from a
    matrix that holds none."""
    from dfstream.source import UPRIGHT, display_orientation

    c, s = round(65536 * math.cos(math.radians(45))), round(65536 * math.sin(math.radians(45)))
    assert display_orientation((c, -s, 0, s, c, 0, 0, 0, 1 << 30)) == UPRIGHT
    assert display_orientation((0,) * 8 + (1 << 30,)) == UPRIGHT
    assert display_orientation((0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30)) != UPRIGHT  # a quarter turn


def test_a_palette_video_is_turned_upright_with_its_palette_kept(tmp_path):
    """A palette (pal8) is not a picture plane: the indices turn, the palette stays."""
    src, palette = tmp_path / "palette.mov", np.random.default_rng(0).integers(0, 256, (256, 3), np.uint8)
    indices = np.random.default_rng(1).integers(0, 256, (2, 64, 96), np.uint8)
    with av.open(str(src), "w") as out:
        v = out.add_stream("png", rate=25)
        v.width, v.height, v.pix_fmt = 96, 64, "pal8"
        v.set_display_rotation(90)
        for i, picture in enumerate(indices):
            frame = av.VideoFrame(96, 64, "pal8")
            np.frombuffer(memoryview(frame.planes[0]), np.uint8).reshape(64, -1)[:, :96] = picture
            colours = np.frombuffer(memoryview(frame.planes[1]), np.uint8).reshape(256, 4)
            colours[:, :3], colours[:, 3] = palette[:, ::-1], 255  # stored B, G, R, A
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    for frame, picture in zip(upright_in(src, 2), indices, strict=True):
        assert np.abs(frame.astype(int) - np.rot90(palette[picture], 1)).mean() < 1


def test_frames_of_another_size_midway_are_scaled_to_the_first(tmp_path):
    """As ffmpeg scales them: a folder with one smaller frame, or a stream whose size changes."""
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    images = [pattern(i, 64, 96, 0) for i in range(5)]
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i}.png"), (cv2.resize(image, (48, 32)) if i == 2 else image)[..., ::-1])
    out = tmp_path / "out.mkv"
    r = run_cli(folder, out, "--stages", "stabilize", "--crf", "0")
    assert r.returncode == 0, r.stderr
    assert b"scaled 1 frames of another size to the first's, 96x64" in r.stderr
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert [f.shape for f in got] == [(64, 96, 3)] * 5
    assert np.abs(got[2].astype(int) - images[2]).mean() < 20  # the picture (0.7 here; 44 with R and B swapped)


def test_a_folder_of_dpx_scans_is_read_as_a_video_in_its_depth(tmp_path):
    """DPX, the film scanner's format (10-bit R'G'B' here): a folder of them is a video, written at
    10 bits, and ``eval`` reads it (through FFmpeg, as OpenCV reads no DPX)."""
    folder = tmp_path / "reel 1"
    folder.mkdir()
    images = [pattern(i, 64, 96, 0) for i in range(4)]
    for i, image in enumerate(images):
        with av.open(str(folder / f"scan_{i:06d}.dpx"), "w", format="image2") as out:
            v = out.add_stream("dpx")
            v.width, v.height, v.pix_fmt = 96, 64, "gbrp10le"
            for packet in [*v.encode(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="gbrp10le")),
                           *v.encode()]:
                out.mux(packet)
    r = run_cli(folder, tmp_path / "reel.mkv", "--stages", "none", "--crf", "0")
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "reel.mkv")) as c:
        got = [f for f in c.decode(video=0)]
    assert [f.format.name for f in got] == ["yuv444p10le"] * 4
    for frame, image in zip(got, images, strict=True):
        assert np.abs(frame.to_ndarray(format="rgb24").astype(int) - image).mean() < 1
    r = run_cli("eval", folder, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["frames"] == 4, r.stderr


@pytest.mark.parametrize("size", [(96, 64), (97, 61)])
def test_deep_rgb_frames_go_out_at_the_deepest_4_4_4_the_encoder_takes(tmp_path, size):
    """16-bit PNG frames (read as 12-bit 4:4:4): libx264 takes no 12-bit, so 10-bit 4:4:4, not 8-bit 4:2:0,
    which loses depth and chroma and cannot hold an odd size at all."""
    import cv2

    folder = tmp_path / "deep"
    folder.mkdir()
    images = [pattern(i, size[1], size[0], 0).astype(np.uint16) * 257 + 100 for i in range(4)]
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i}.png"), image[..., ::-1])
    out = tmp_path / "out.mkv"
    r = run_cli(folder, out, "--stages", "none", "--crf", "0")
    assert r.returncode == 0, r.stderr
    assert b"writing yuv444p10le: libx264 takes no 12-bit yuv444p" in r.stderr
    with av.open(str(out)) as c:
        got = [f for f in c.decode(video=0)]
    assert [f.format.name for f in got] == ["yuv444p10le"] * 4
    for frame, image in zip(got, images, strict=True):
        assert np.abs(frame.to_ndarray(format="rgb48le").astype(int) - image).mean() < 257  # 0.5-0.6 codes of 8 bits


def test_variable_frame_rate_timestamps_survive(tmp_path):
    pts = [0, 40, 80, 100, 180, 400, 410, 420, 700, 1000]
    src = make_clip(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 1000))
    for ext in ("mkv", "mp4", "mov"):
        out = tmp_path / f"out.{ext}"
        assert run_cli(src, out, "-q", "--stages", "none").returncode == 0
        assert video_times(out) == pytest.approx([p / 1000 for p in pts], abs=1e-6)


def test_audio_packets_are_copied_byte_for_byte(tmp_path):
    src = make_clip(tmp_path / "a.mkv", frames=25, audio="aac")
    out = tmp_path / "out.mp4"
    assert run_cli(src, out, "-q", "--stages", "none").returncode == 0
    assert [p for _, p in decode(src, "audio")] == [p for _, p in decode(out, "audio")]
    assert len(decode(out)) == 25


def test_aac_is_copied_into_mpeg_ts(tmp_path):
    """MPEG-TS carries AAC, though PyAV lists only its default (MP2) for it: copied, not re-encoded;
    its muxer frames each packet with an ADTS header (7 bytes), as ffmpeg's does."""
    src = make_clip(tmp_path / "a.mkv", frames=25, audio="aac")
    out = tmp_path / "out.ts"
    r = run_cli(src, out, "--stages", "none")
    assert r.returncode == 0 and b"re-encoding" not in r.stderr, r.stderr
    copied = [p for _, p in decode(out, "audio")]
    assert all(p[:2] == b"\xff\xf1" for p in copied)
    assert [p[7:] for p in copied] == [p for _, p in decode(src, "audio")]


def test_audio_the_container_cannot_hold_is_re_encoded_and_said(tmp_path):
    src = make_clip(tmp_path / "a.mkv", frames=25, audio="alac")
    out = tmp_path / "out.avi"
    r = run_cli(src, out, "--codec", "libx264", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert b"re-encoding audio stream #1 (alac) to mp3: avi cannot hold alac" in r.stderr
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.codec.name.startswith("mp3")
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples >= 48000  # a second of audio survives


def test_audio_is_resampled_to_a_rate_the_encoder_takes(tmp_path):
    """As ffmpeg does: AAC at 44.1 kHz into WebM becomes Opus, which takes 48 kHz and not 44.1."""
    src = make_clip(tmp_path / "a.mkv", frames=25, audio="aac", audio_rate=44100)
    out = tmp_path / "out.webm"
    r = run_cli(src, out, "--codec", "libvpx-vp9", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert b"re-encoding audio stream #1 (aac) to opus: webm cannot hold aac" in r.stderr
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.sample_rate == 48000
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples >= 48000  # a second of audio survives


def test_pcm_whose_channels_have_no_named_order_is_copied_into_mp4(tmp_path):
    """PCM in Matroska with '2 channels' in no named order: copied into MP4 bit for bit, labelled as
    their usual layout (stereo), which MP4's PCM needs (its trailer failed, the whole run lost)."""
    src = make_clip(tmp_path / "in.mkv", frames=10, audio="pcm_s16le")
    with av.open(str(src)) as c:
        assert [ch.name for ch in c.streams.audio[0].codec_context.layout.channels] == ["NONE", "NONE"]
    out = tmp_path / "out.mp4"
    r = run_cli(src, out, "--stages", "none")
    assert r.returncode == 0 and b"re-encoding" not in r.stderr, r.stderr
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.layout.name == "stereo"
    assert [p[1] for p in decode(out, "audio")] == [p[1] for p in decode(src, "audio")]


def test_mp3_is_copied_into_mpeg_ts_and_flac_re_encoded_for_mov(tmp_path):
    """MP3 (whose decoder FFmpeg names mp3float) is copied into MPEG-TS packet for packet, where it
    was re-encoded to MP2; FLAC, which MOV's list names and its muxer refuses (MP4 alone), is
    re-encoded to AAC with a note, where the run failed at its first packet."""
    mp3 = make_clip(tmp_path / "mp3.mkv", frames=10, audio="libmp3lame")
    r = run_cli(mp3, tmp_path / "out.ts", "--stages", "none")
    assert r.returncode == 0 and b"re-encoding" not in r.stderr, r.stderr
    assert [p[1] for p in decode(tmp_path / "out.ts", "audio")] == [p[1] for p in decode(mp3, "audio")]
    flac = make_clip(tmp_path / "flac.mkv", frames=10, audio="flac")
    r = run_cli(flac, tmp_path / "out.mov", "--stages", "none")
    assert r.returncode == 0 and b"re-encoding audio stream #1 (flac) to aac: mov cannot hold flac" in r.stderr
    assert audio_of(tmp_path / "out.mov")[0] == "aac"


def test_audio_whose_channels_have_no_named_order_is_re_encoded_as_their_usual_layout(tmp_path):
    """PCM in AVI reads as '2 channels' in no named order, which the AAC encoder refused to open:
    as ffmpeg, it is taken as stereo."""
    src = make_clip(tmp_path / "camera.avi", frames=25, codec="mjpeg", pix_fmt="yuvj420p", audio="pcm_u8",
                    audio_rate=8000)
    with av.open(str(src)) as c:
        assert [ch.name for ch in c.streams.audio[0].codec_context.layout.channels] == ["NONE", "NONE"]
    out = tmp_path / "out.mp4"
    r = run_cli(src, out, "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert b"re-encoding audio stream #1 (pcm_u8) to aac: mp4 cannot hold pcm_u8" in r.stderr
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.layout.name == "stereo"
        assert sum(f.samples for f in c.decode(audio=0)) >= 8000  # a second of audio survives


def test_a_container_that_holds_no_h264_gets_its_own_encoder(tmp_path):
    """As ffmpeg with no -c:v: WebM gets VP9 (libx264 was refused there), Ogg video VP8 (its muxer
    takes an H.264 stream, then cannot write its header), an MPEG program stream its own MPEG-1 or
    MPEG-2 (it took H.264, which players of .mpg and .vob do not expect), MP4 and MPEG-TS H.264;
    MPEG-2 asked for in MPEG-TS is timed in frames of the video's rate (it refused to open)."""
    src = make_clip(tmp_path / "in.mkv", frames=5)
    for name, codec, options in (("out.webm", "vp9", ()), ("out.ogv", "vp8", ()), ("out.mp4", "h264", ()),
                                 ("out.ts", "h264", ()), ("out.mpg", "mpeg1video", ()), ("out.vob", "mpeg2video", ()),
                                 ("mpeg2.ts", "mpeg2video", ("-c:v", "mpeg2video"))):
        r = run_cli(src, tmp_path / name, "--stages", "none", *options)
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp_path / name)) as c:
            assert c.streams.video[0].codec_context.name == codec
            times = [float(f.time) for f in c.decode(video=0)]
        assert len(times) == 5 and np.allclose(np.diff(times[1:]), 0.04)  # (Ogg reads its first at 0.039 s)


def test_python_writes_a_webm_as_the_command_line_does(tmp_path):
    """``dfstream.process`` with no encoder settings, or settings that name no codec, picks the
    encoder as the command line does; a codec named is kept."""
    src = make_clip(tmp_path / "in.mkv", frames=5)
    for name, encoder, codec in (("plain.webm", None, "vp9"), ("crf.webm", dfstream.EncoderSettings(crf=40), "vp9"),
                                 ("named.webm", dfstream.EncoderSettings("libvpx"), "vp8")):
        settings = {"encoder": encoder} if encoder else {}
        dfstream.process(str(src), str(tmp_path / name), stages="gray", **settings)
        with av.open(str(tmp_path / name)) as c:
            assert c.streams.video[0].codec_context.name == codec and sum(1 for _ in c.decode(video=0)) == 5


@pytest.mark.parametrize("size, layout", [((96, 64), "yuv422p10le"), ((97, 61), "yuv444p10le")])
def test_an_encoder_that_takes_none_of_the_sources_formats_gets_the_one_that_loses_least(tmp_path, size, layout):
    """As ffmpeg picks one (ProRes for an edit from 8-bit 4:2:0): no depth or chroma lost, else the
    smallest; 4:4:4 where the size is odd."""
    width, height = size
    src = make_clip(tmp_path / "in.mkv", width=width, height=height, frames=3, pix_fmt="yuv420p" if width % 2 == 0
                    else "yuv444p")
    out = tmp_path / "out.mov"
    r = run_cli(src, out, "--codec", "prores_ks", "--stages", "gray")
    assert r.returncode == 0, r.stderr
    assert f"writing {layout}: prores_ks takes no".encode() in r.stderr
    with av.open(str(out)) as c:
        frames = [f for f in c.decode(video=0)]
    assert len(frames) == 3 and (frames[0].width, frames[0].height) == size
    assert frames[0].format.name.startswith(layout[:7])  # FFmpeg decodes ProRes 4444 as 12-bit


SUBRIP = "1\n00:00:00,000 --> 00:00:00,300\n<i>hello</i>\n\n2\n00:00:01,000 --> 00:00:01,450\nworld\n"


def with_subtitles(tmp_path, name: str, codec: str | None = None):
    """A clip with the SUBRIP subtitles (as ``codec``, else copied as SubRip) in container ``name``."""
    srt = tmp_path / "s.srt"
    srt.write_text(SUBRIP)
    video = make_clip(tmp_path / "v.mkv", frames=40)
    src = tmp_path / name
    with av.open(str(video)) as v, av.open(str(srt)) as s, av.open(str(src), "w") as out:
        vo = out.add_stream_from_template(v.streams.video[0])
        decoder = s.streams[0].codec_context
        decoder.open(strict=False)
        so = out.add_stream(codec) if codec else out.add_stream_from_template(s.streams[0])
        if codec:
            so.codec_context.subtitle_header = decoder.subtitle_header
        for p in v.demux():
            if p.size:
                p.stream = vo
                out.mux(p)
        for p in s.demux():
            if p.size:
                q = so.codec_context.encode_subtitle(decoder.decode2(p)) if codec else p
                q.pts, q.dts, q.duration, q.time_base, q.stream = p.pts, p.dts, p.duration, p.time_base, so
                out.mux(q)
    return src


def subtitles(path) -> list:
    """(start, duration in s, text without styling, italic) of each subtitle, and the codec."""
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        found = []
        for p in c.demux(s):
            subtitle = s.codec_context.decode2(p) if p.size else None
            for rect in subtitle or []:
                text = rect.ass.decode().split(",", 8)[-1]
                found.append((round(float(p.pts * p.time_base), 3), round(float(p.duration * p.time_base), 3),
                              re.sub(r"{[^}]*}", "", text), "\\i1" in text))
        return s.codec_context.name, found


def test_subtitles_are_copied(tmp_path):
    src = with_subtitles(tmp_path, "vs.mkv")
    out = tmp_path / "out.mkv"
    assert run_cli(src, out, "-q", "--stages", "none").returncode == 0
    assert decode(out, "subtitle") == decode(src, "subtitle")


@pytest.mark.parametrize("source, codec, target, written", [("vs.mkv", None, "out.mp4", "mov_text"),
                                                            ("vs.mp4", "mov_text", "out.mkv", "ssa"),
                                                            ("vs.mkv", None, "out.webm", "webvtt")])
def test_text_subtitles_a_container_cannot_hold_are_converted(tmp_path, source, codec, target, written):
    """SubRip into MP4 becomes mov_text, an MP4's mov_text into Matroska ASS, as ffmpeg's
    ``-c:s mov_text`` and its defaults do: the same texts, times and italics, not dropped."""
    src = with_subtitles(tmp_path, source, codec)
    out = tmp_path / target
    r = run_cli(src, out, "--stages", "none", "--codec", "libvpx-vp9" if target.endswith("webm") else "libx264")
    assert r.returncode == 0, r.stderr
    assert b"converting subtitle stream #1" in r.stderr
    expected = [(0.0, 0.3, "hello", True), (1.0, 0.45, "world", False)]
    assert subtitles(src)[1] == expected
    assert subtitles(out) == (written, expected)


def test_c_s_converts_text_subtitles_to_the_codec_asked_for(tmp_path):
    """-c:s ass turns Matroska's SubRip into ASS (same texts, times and italics), -scodec webvtt into
    WebVTT; a codec the container cannot hold (mov_text in Matroska), or no text subtitle encoder,
    is refused before any output; -c:s copy is the default, copying SubRip as it is."""
    src = with_subtitles(tmp_path, "vs.mkv")
    expected = [(0.0, 0.3, "hello", True), (1.0, 0.45, "world", False)]
    for option, codec, written in (("-c:s", "ass", "ssa"), ("-scodec", "webvtt", "webvtt"), ("-c:s", "copy", "srt")):
        out = tmp_path / f"{codec}.mkv"
        r = run_cli(src, out, "--stages", "none", option, codec)
        assert r.returncode == 0 and b"note" not in r.stderr, r.stderr
        assert subtitles(out) == (written, expected)
    for codec, message in (("mov_text", "matroska cannot hold mov_text subtitles (-c:s mov_text)"),
                           ("dvdsub", "'dvdsub' is no text subtitle encoder"), ("aac", "no text subtitle encoder")):
        r = run_cli(src, tmp_path / "refused.mkv", "--stages", "none", "-c:s", codec)
        assert r.returncode == 2 and message in r.stderr.decode() and not (tmp_path / "refused.mkv").exists()


def tagged(tmp_path, late: int = 0):
    """A clip with a title, an audio stream in French with mkvmerge's statistics (stale once
    re-encoded or cut), marked default, and two chapters of a second each; ``late``: seconds
    its timeline, chapters included, starts after 0 (a part cut from a longer file)."""
    clip = make_clip(tmp_path / "plain.mkv", frames=50, audio="aac")
    src = tmp_path / "tagged.mkv"
    with av.open(str(clip)) as i, av.open(str(src), "w") as o:
        o.metadata.update({"title": "My film", "software": "Lavf58.76.100"})  # as an AVI's writer
        video = o.add_stream_from_template(i.streams.video[0])
        audio = o.add_stream_from_template(i.streams.audio[0])
        audio.metadata.update({"language": "fra", "title": "French", "BPS-eng": "96000", "NUMBER_OF_FRAMES-eng": "99"})
        audio.disposition = av.stream.Disposition.default
        o.set_chapters([{"id": n, "start": 1000 * (n - 1 + late), "end": 1000 * (n + late),
                         "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                        for n, title in ((1, "One"), (2, "Two"))])
        for p in i.demux():
            if p.size:
                shift = round(late / p.time_base)
                p.pts, p.dts = p.pts + shift, None if p.dts is None else p.dts + shift
                p.stream = video if p.stream.type == "video" else audio
                o.mux(p)
    return src


@pytest.mark.parametrize("name, trim, chapters", [("out.mkv", (), [(0.0, 1.0, "One"), (1.0, 2.0, "Two")]),
                                                  ("out.mp4", ("-ss", "0.5", "-t", "1"),
                                                   [(0.0, 0.5, "One"), (0.5, 1.0, "Two")])])
def test_tags_dispositions_and_chapters_are_kept(tmp_path, name, trim, chapters):
    """As ffmpeg copies them: the title, the audio's language, title and default flag, and the
    chapters, moved and cut with -ss/-t; not the statistics of the input's encoding."""
    out = tmp_path / name
    r = run_cli(tagged(tmp_path), out, "--stages", "none", *trim)
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        assert c.metadata["title"] == "My film" and "software" not in {k.lower() for k in c.metadata}
        assert audio.language == "fra" and audio.metadata.get("title", audio.metadata.get("name")) == "French"
        assert not any(k.startswith(("BPS", "NUMBER_OF_FRAMES")) for k in audio.metadata)
        assert audio.disposition & av.stream.Disposition.default
        assert [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]), ch["metadata"]["title"])
                for ch in c.chapters()] == chapters


@pytest.mark.parametrize("trim, chapters", [((), [(1.0, 2.0, "One"), (2.0, 3.0, "Two")]),
                                            (("-ss", "0.5"), [(0.0, 0.5, "One"), (0.5, 1.5, "Two")]),
                                            (("-t", "1.5"), [(0.0, 1.0, "One"), (1.0, 1.5, "Two")]),
                                            (("-frames:v", "20"), [(0.0, 0.8, "One")])])
def test_chapters_follow_the_video_in_a_file_that_starts_late(tmp_path, trim, chapters):
    """In a file whose timeline starts at 1 s, -ss and -t count from that start, as ffmpeg's, and
    the chapters move with the video; untrimmed, both keep the input's times, and its Matroska
    durations, which count from 0, are read as its end (not a file cut short). -frames:v cuts the
    chapters at the end of its last frame."""
    src = tagged(tmp_path, late=1)
    out = tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "none", *trim)
    assert r.returncode == 0 and b"may be incomplete" not in r.stderr, r.stderr
    if not trim:  # Matroska's durations count from 0: the video's DURATION tag of 3 s is its end, 50 frames on
        assert re.search(rb"frames \d+/50 ", r.stderr), r.stderr
    with av.open(str(src)) as c:
        assert c.start_time == 1_000_000
    with av.open(str(out)) as c:
        first = next(c.demux(c.streams.video[0]))
        assert float(first.pts * first.time_base) == chapters[0][0]
        assert [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]), ch["metadata"]["title"])
                for ch in c.chapters()] == chapters


def test_map_metadata_and_map_chapters_minus_one_leave_the_input_s_out(tmp_path):
    """-map_metadata -1: none of the input's tags (the title, the audio's language and title), as
    ffmpeg's, while -metadata still sets one; -map_chapters -1: no chapters."""
    out = tmp_path / "out.mkv"
    r = run_cli(tagged(tmp_path), out, "--stages", "none", "-map_metadata", "-1", "-map_chapters", "-1",
                "-metadata", "comment=ours")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        assert {k.lower(): v for k, v in c.metadata.items() if k.lower() != "encoder"} == {"comment": "ours"}
        assert not {"language", "title", "name"} & {k.lower() for k in c.streams.audio[0].metadata}
        assert c.chapters() == []


def test_metadata_sets_and_removes_the_file_tags(tmp_path):
    """As ffmpeg's -metadata: a tag given is written over the input's, an empty one removed."""
    out = tmp_path / "out.mkv"
    r = run_cli(tagged(tmp_path), out, "--stages", "none", "-metadata", "comment=coloured from a still",
                "-metadata", "title=")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        tags = {k.lower(): v for k, v in c.metadata.items()}  # Matroska writes COMMENT
        assert tags.get("comment") == "coloured from a still" and "title" not in tags
        assert c.streams.audio[0].language == "fra"


def with_fonts(tmp_path) -> Path:
    """A Matroska clip with two attachments, as subtitled films carry their fonts."""
    clip = make_clip(tmp_path / "plain.mkv", frames=10)
    src = tmp_path / "fonts.mkv"
    with av.open(str(clip)) as i, av.open(str(src), "w") as o:
        video = o.add_stream_from_template(i.streams.video[0])
        o.add_attachment("title.ttf", "font/ttf", b"\x00\x01\x00\x00 title font")
        o.add_attachment("text.otf", "font/otf", b"OTTO text font").metadata["title"] = "Text"
        for p in i.demux(i.streams.video[0]):
            if p.size:
                p.stream = video
                o.mux(p)
    return src


@pytest.mark.parametrize("name", ["out.mkv", "out.mp4", "out.webm"])
def test_attachments_are_kept_where_the_container_holds_them(tmp_path, name):
    """A Matroska's fonts (for its ASS subtitles) come along into Matroska, as ffmpeg's -map 0
    -c copy keeps them (before: dropped without a word); MP4 refuses them, WebM drops them: a note
    says so."""
    out = tmp_path / name
    r = run_cli(with_fonts(tmp_path), out, "--stages", "none")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        kept = [(a.name, a.mimetype, bytes(a.data), a.metadata.get("title")) for a in c.streams.attachments]
        assert len(decode(out)) == 10
    if name.endswith(".mkv"):
        assert kept == [("title.ttf", "font/ttf", b"\x00\x01\x00\x00 title font", None),
                        ("text.otf", "font/otf", b"OTTO text font", "Text")]
    else:
        assert kept == []
        fmt = name.split(".")[1].encode()
        assert b"dropping 2 attachments (title.ttf, text.otf): " + fmt + b" cannot hold attachments; write .mkv" \
            in r.stderr


def many_streams(tmp_path) -> Path:
    """25 frames of video (#0), English AAC (#1), French FLAC (#2), SubRip (#3) and a font (#4)."""
    english = make_clip(tmp_path / "en.mkv", frames=25, audio="aac")
    french = make_clip(tmp_path / "fr.mkv", frames=25, audio="flac")
    subtitled = with_subtitles(tmp_path, "s.mkv")
    src = tmp_path / "many.mkv"
    with av.open(str(english)) as e, av.open(str(french)) as f, av.open(str(subtitled)) as s, \
            av.open(str(src), "w") as o:
        kept = [e.streams.video[0], e.streams.audio[0], f.streams.audio[0], s.streams.subtitles[0]]
        outs = {id(k): o.add_stream_from_template(k) for k in kept}
        for out, language in zip(list(outs.values())[1:], ("eng", "fra", "eng")):
            out.metadata["language"] = language
        o.add_attachment("text.otf", "font/otf", b"OTTO")
        packets = [p for c, k in ((e, kept[:2]), (f, kept[2:3]), (s, kept[3:])) for p in c.demux(*k) if p.size]
        for p in sorted(packets, key=lambda p: float(p.dts * p.time_base)):
            p.stream = outs[id(p.stream)]
            o.mux(p)
    return src


def kinds(path) -> list[str]:
    """Each stream of a file as type, codec and language (or file name)."""
    with av.open(str(path)) as c:
        return [f"{s.type} {s.name if s.type == 'attachment' else s.codec_context.name} "
                f"{s.metadata.get('language', '')}".strip() for s in c.streams]


@pytest.mark.parametrize("options, written", [
    ((), ["video h264", "audio aac eng", "audio flac fra", "subtitle srt eng", "attachment text.otf"]),
    (("-map", "0:v", "-map", "0:a:1"), ["video h264", "audio flac fra"]),
    (("-map", "0:v", "-map", "0:m:language:fra", "-map", "0:a:m:language:eng"),
     ["video h264", "audio flac fra", "audio aac eng"]),
    (("-map", "0", "-map", "-0:a:0", "-map", "-0:t", "-map", "0:s:3?"), ["video h264", "audio flac fra", "subtitle srt eng"]),
    (("-an",), ["video h264", "subtitle srt eng", "attachment text.otf"]),
    (("-map", "0:0", "-map", "0:a", "-sn"), ["video h264", "audio aac eng", "audio flac fra"])])
def test_map_an_and_sn_choose_the_streams_kept(tmp_path, options, written):
    """As ffmpeg's -map (in the order mapped; a leading - leaves out, a trailing ? may match
    nothing), -an and -sn; by default every stream is kept."""
    out = tmp_path / "out.mkv"
    r = run_cli(many_streams(tmp_path), out, "--stages", "gray", *options)
    assert r.returncode == 0, r.stderr
    assert kinds(out) == written
    assert len(decode(out)) == 25


@pytest.mark.parametrize("options, status, message", [
    (("-map", "0:a:2"), 1, b"-map '0:a:2' matches no stream of"),
    (("-map", "0:a"), 1, b"-map selects no video stream of"),
    (("-map", "1:a"), 2, b"-map '1:a' names input 1, and dfstream reads one: number its streams from input 0: -map 0:a"),
    (("-map", "0:x"), 2, b"-map '0:x' is not a stream specifier"),
    (("-t", "1", "-to", "2"), 2, b"not allowed with argument"),
    (("-ss", "0.5", "-to", "0.5"), 2, b"-to 0.5 is not after -ss 0.5")])
def test_stream_choices_that_cannot_be_met_are_refused(tmp_path, options, status, message):
    out = tmp_path / "out.mkv"
    r = run_cli(many_streams(tmp_path), out, "--stages", "gray", *options)
    assert r.returncode == status and message in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob("out*"))


@pytest.mark.parametrize("argv", [["-i", "in.mkv", "out.mkv"], ["-y", "out.mkv", "-i", "in.mkv"],
                                  ["run", "-map", "-0:s", "-i", "in.mkv", "out.mkv", "-an"]])
def test_ffmpeg_s_i_names_the_input(argv):
    """``-i IN`` anywhere, as ffmpeg takes it, and negative maps read as maps, not options."""
    from dfstream.cli import parse

    args = parse(argv)
    assert (args.input, args.output) == ("in.mkv", "out.mkv")
    assert args.maps == (["-0:s"] if "-map" in argv else [])


@pytest.mark.parametrize("argv, message", [(["-i", "a.mkv", "-i", "b.mkv", "out.mkv"], "-i is given twice"),
                                           (["out.mkv", "-i"], "-i names no input")])
def test_ffmpeg_s_i_refused_where_it_names_no_one_input(argv, message):
    from dfstream.cli import parse

    with pytest.raises(dfstream.DfstreamError, match=message):
        parse(argv)


def test_metadata_s_sets_a_stream_s_tags(tmp_path):
    """-metadata:s:a:1 language=ger tags the second audio stream written, as ffmpeg's; an empty
    value removes the tag; a stream the output lacks is a one-line error, with nothing written."""
    src, out = many_streams(tmp_path), tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "none", "-metadata:s:a:1", "language=ger", "-metadata:s:s:0", "language=",
                "-metadata:s:v", "title=Restored", "-metadata:s:d?", "title=none")
    assert r.returncode == 0, r.stderr
    assert kinds(out) == ["video h264", "audio aac eng", "audio flac ger", "subtitle srt", "attachment text.otf"]
    with av.open(str(out)) as c:
        assert c.streams.video[0].metadata.get("title") == "Restored"
    failed = tmp_path / "failed.mkv"
    r = run_cli(src, failed, "--stages", "none", "-metadata:s:a:2", "language=ger")
    assert r.returncode == 2 and b"-metadata:s:a:2 matches no stream of the output" in r.stderr, r.stderr
    assert not list(tmp_path.glob("failed*"))


def test_disposition_sets_a_stream_s_flags(tmp_path):
    """-disposition:a:1 default+forced sets the second audio stream's flags, as ffmpeg's; '-default'
    takes one away, '0' clears them, no specifier means every stream; an unknown flag or a stream
    the output lacks is a one-line error, with nothing written."""
    src, out = many_streams(tmp_path), tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "none", "-disposition", "0", "-disposition:a:1", "default+forced",
                "-disposition:s:0", "+forced")
    assert r.returncode == 0, r.stderr
    D = av.stream.Disposition
    with av.open(str(out)) as c:
        assert [s.disposition for s in c.streams if s.type != "attachment"] == [D(0), D(0), D.default | D.forced,
                                                                                  D.forced]
    again = tmp_path / "again.mkv"
    assert run_cli(out, again, "--stages", "none", "-disposition:a:1", "-default").returncode == 0
    with av.open(str(again)) as c:
        assert c.streams.audio[1].disposition == D.forced
    for options, words in ((("-disposition:a:2", "default"), b"-disposition:a:2 matches no stream of the output"),
                           (("-disposition:a:0", "loud"), b"-disposition loud: no flag 'loud'")):
        r = run_cli(src, tmp_path / "failed.mkv", "--stages", "none", *options)
        assert r.returncode == 2 and words in r.stderr, r.stderr
    assert not list(tmp_path.glob("failed*"))


@pytest.mark.parametrize("options, fates", [
    ((), ["processed", "kept", "kept", "kept", "kept"]),
    (("-map", "0:v", "-map", "0:a:1", "-sn"), ["processed", "left out", "kept", "left out", "left out"])])
def test_info_says_what_a_run_does_with_each_stream(tmp_path, options, fates):
    """``dfstream info IN`` lists the streams as ffprobe does, each with what a run with the same
    -map/-an/-sn does with it, so that a map can be written from it."""
    r = run_cli("info", many_streams(tmp_path), *options)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].endswith("many.mkv: Matroska / WebM, 1.45 s")
    assert lines[1] == "  #0 video h264 96x64 25 fps yuv420p: processed"
    assert lines[3] == f"  #2 audio flac 48000 Hz stereo fra: {fates[2]}"
    assert [line.split(": ")[1].split(" (")[0] for line in lines[1:]] == fates
    r = run_cli("info", tagged(tmp_path))
    assert r.stdout.decode().splitlines()[0].endswith(", 'My film', 2 chapters"), r.stdout


def test_aspect_sets_the_shape_the_picture_is_shown_at(tmp_path):
    """-aspect 16:9 on 96x64 pixels writes them 32:27 wide, as ffmpeg's -aspect, and the stages
    (the colorizer placing its still) and the preview take that shape too."""
    src, out = make_clip(tmp_path / "in.mkv", frames=5), tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "none", "-aspect", "16:9")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(32, 27)
    pipeline = dfstream.pipeline.Pipeline(str(src), dfstream.Options(aspect=Fraction(16, 9)))
    assert pipeline.source.aspect == 32 / 27
    pipeline.source.close()


def test_s_writes_and_processes_the_frames_at_a_size(tmp_path):
    """-s 48x32 writes every frame as FFmpeg's bicubic scaling makes it (lossless here, so exactly),
    with no note of frames scaled; -s keeps the shape on screen: 96x64 (3:2) at 96x32 has pixels
    1:2, an anamorphic 4:3-pixel clip at 48x64 8:3; hd720 is FFmpeg's name of 1280x720 (27:32)."""
    src = make_clip(tmp_path / "in.mkv", frames=4)
    out = tmp_path / "small.mkv"
    r = run_cli(src, out, "--stages", "none", "-c:v", "ffv1", "-s", "48x32")
    assert r.returncode == 0 and b"note" not in r.stderr, r.stderr
    with av.open(str(src)) as c:
        truth = [f.reformat(48, 32, interpolation="BICUBIC").to_ndarray() for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio in (None, Fraction(1))
        written = [f.to_ndarray() for f in c.decode(video=0)]
    assert len(written) == 4 and all(np.array_equal(w, t) for w, t in zip(written, truth))
    anamorphic = make_clip(tmp_path / "sar.mkv", frames=2, sar=Fraction(4, 3))
    for clip, size, written, sar in ((src, "96x32", "96x32", Fraction(1, 2)), (anamorphic, "48x64", "48x64", Fraction(8, 3)),
                                     (src, "hd720", "1280x720", Fraction(27, 32))):
        r = run_cli(clip, tmp_path / "out.mkv", "--stages", "gray", "-s", size, "-y")
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp_path / "out.mkv")) as c:
            video = c.streams.video[0]
            assert (f"{video.width}x{video.height}", video.sample_aspect_ratio) == (written, sar)


def fps_filtered(path, rate: str) -> list[tuple[float, np.ndarray]]:
    """The video's frames through FFmpeg's fps filter: (time, picture) of each."""
    with av.open(str(path)) as c:
        graph = av.filter.Graph()
        graph.link_nodes(graph.add_buffer(template=c.streams.video[0]), graph.add("fps", rate),
                         graph.add("buffersink")).configure()
        out = []
        for frame in [*c.decode(video=0), None]:
            graph.push(frame)
            with contextlib.suppress(av.error.BlockingIOError, av.error.EOFError):
                while True:
                    out.append(graph.pull())
        return [(float(f.pts * f.time_base), f.to_ndarray()) for f in out]


def test_r_writes_frames_at_a_constant_rate_as_ffmpeg_s_fps_filter(tmp_path):
    """-r drops or repeats frames to a constant rate: the same frames at the same times as FFmpeg's
    fps filter gives, from 25 fps to 12, 50 and 30000/1001, and from frames at uneven times; the
    rate is the stream's; a note counts the frames dropped and repeated; -frames:v counts the frames
    written."""
    steady = make_clip(tmp_path / "cfr.mkv", frames=20)
    uneven = make_clip(tmp_path / "vfr.mkv", frames=12, pts=[0, 40, 50, 130, 140, 150, 260, 300, 310, 420, 430, 500],
                       time_base=Fraction(1, 1000))
    for clip, rate in ((steady, "12"), (steady, "50"), (steady, "30000/1001"), (uneven, "25")):
        out = tmp_path / "out.mkv"
        r = run_cli(clip, out, "--stages", "none", "-c:v", "ffv1", "-r", rate, "-y")
        assert r.returncode == 0, r.stderr
        truth = fps_filtered(clip, rate)
        with av.open(str(out)) as c:
            assert c.streams.video[0].average_rate == Fraction(rate)
            written = [(float(f.pts * f.time_base), f.to_ndarray()) for f in c.decode(video=0)]
        assert len(written) == len(truth) > 0
        assert all(abs(t - u) < 1e-3 and np.array_equal(a, b) for (t, a), (u, b) in zip(written, truth))
        if clip == steady and rate in ("12", "50"):  # the frames dropped and repeated, as ffmpeg's drop and dup
            said = {"12": f"0 frames repeated, {20 - len(truth)} dropped", "50": "20 frames repeated, 0 dropped"}
            assert f"note: -r {rate}: {said[rate]}".encode() in r.stderr, r.stderr
    r = run_cli(steady, tmp_path / "ten.mkv", "--stages", "none", "-r", "50", "-frames:v", "10")
    assert r.returncode == 0 and len(decode(tmp_path / "ten.mkv")) == 10, r.stderr


def timecoded(path, timecode: str, frames: int = 10):
    """A MOV at 25 fps whose first frame's timecode is ``timecode`` (a tmcd track, as cameras write)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata["timecode"] = timecode
        for i in range(frames):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")))
        out.mux(video.encode())
    return path


def test_timecode_follows_the_first_frame_written(tmp_path):
    """-ss 0.2 cuts 5 frames at 25 fps: the timecode written (MOV's track, Matroska's tag) is the
    first frame's, 01:00:00:05, where ffmpeg copies 01:00:00:00; -timecode sets another. The input's
    timecode track is not noted as a data stream left out (nor by info): its timecode is kept."""
    src = timecoded(tmp_path / "tc.mov", "01:00:00:00")
    for name, options, expected in (("cut.mov", ("-ss", "0.2"), "01:00:00:05"), ("cut.mkv", ("-ss", "0.2"), "01:00:00:05"),
                                    ("whole.mov", (), "01:00:00:00"), ("set.mov", ("-timecode", "10:00:00:00"), "10:00:00:00"),
                                    ("set.mkv", ("-timecode", "10:00:00:00"), "10:00:00:00")):
        r = run_cli(src, tmp_path / name, "--stages", "none", *options)
        assert r.returncode == 0 and b"ignoring data stream" not in r.stderr, r.stderr  # the tmcd track's is kept
        with av.open(str(tmp_path / name)) as c:
            tags = {k.lower(): v for k, v in c.streams.video[0].metadata.items()}
            assert tags["timecode"] == expected
            if name.endswith(".mov"):
                assert [s.metadata.get("timecode") for s in c.streams.data] == [expected]  # the tmcd track
    assert run_cli("info", src).stdout.decode().splitlines()[2].endswith(": its timecode goes with the video's tags "
                                                                          "(MOV, MP4 and MXF write it again)")
    r = run_cli(tmp_path / "cut.mkv", tmp_path / "again.mkv", "--stages", "none", "-timecode", "03:00:00:00")
    with av.open(str(tmp_path / "again.mkv")) as c:  # Matroska's TIMECODE replaced, not written beside
        assert [(k, v) for k, v in c.streams.video[0].metadata.items() if k.lower() == "timecode"] == [
            ("TIMECODE", "03:00:00:00")]


def test_options_before_i_are_the_input_s_as_in_ffmpeg(tmp_path):
    """ffmpeg's way to join reels, -f concat -safe 0 -i LIST: -f before -i is the input's format and
    -safe, an option dfstream lacks, the demuxer's (the list names its files by absolute paths, which
    the concat demuxer refuses unless safe is 0); -r before -i is the rate of frames read as images,
    and refused before a video, which dfstream reads at its own times."""
    reels = [make_clip(tmp_path / f"reel{n}.mkv", frames=5) for n in (1, 2)]
    (tmp_path / "list.txt").write_text("".join(f"file '{reel}'\n" for reel in reels))
    r = run_cli("-f", "concat", "-safe", "0", "-i", tmp_path / "list.txt", tmp_path / "joined.mkv", "--stages", "none")
    assert r.returncode == 0 and len(decode(tmp_path / "joined.mkv")) == 10, r.stderr
    refused = run_cli("-f", "concat", "-i", tmp_path / "list.txt", tmp_path / "unsafe.mkv", "--stages", "none")
    assert refused.returncode != 0
    for n in range(3):
        cv2.imwrite(str(tmp_path / f"f{n:04d}.png"), pattern(n, 64, 96)[..., ::-1])
    r = run_cli("-r", "10", "-i", tmp_path / "f%04d.png", tmp_path / "frames.mkv", "--stages", "none")
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "frames.mkv")) as c:
        assert c.streams.video[0].average_rate == 10 and c.streams.video[0].frames in (0, 3)
    r = run_cli("-r", "16", "-i", reels[0], tmp_path / "r.mkv", "--stages", "none")
    assert r.returncode == 2 and b"give -r after -i" in r.stderr


def test_sseof_keeps_the_end_of_the_input(tmp_path):
    """-sseof -0.4, as ffmpeg's, keeps the last 0.4 s of a 2 s clip: its last 10 frames, the same
    as -ss 1.6 writes; -sseof -00:00:00.4 is the same time; -to with it is refused (it counts from
    the start)."""
    src = make_clip(tmp_path / "in.mkv", frames=50)
    for name, options in (("end.mkv", ("-sseof", "-0.4")), ("clock.mkv", ("-sseof", "-00:00:00.4")),
                          ("ss.mkv", ("-ss", "1.6"))):
        r = run_cli(src, tmp_path / name, "--stages", "none", "-c:v", "ffv1", *options)
        assert r.returncode == 0, r.stderr
    with av.open(str(src)) as c:
        last = [f.to_ndarray() for f in c.decode(video=0)][40:]
    for name in ("end.mkv", "clock.mkv", "ss.mkv"):
        with av.open(str(tmp_path / name)) as c:
            frames = list(c.decode(video=0))
        assert float(frames[0].time) == 0 and all(np.array_equal(f.to_ndarray(), t) for f, t in zip(frames, last))
        assert len(frames) == 10
    r = run_cli(src, tmp_path / "to.mkv", "--stages", "none", "-sseof", "-1", "-to", "1.9")
    assert r.returncode == 2 and b"give -t for a duration" in r.stderr


def test_to_stops_at_a_time_of_the_input(tmp_path):
    """-ss 0.2 -to 0.6 keeps the frames from 0.2 s up to 0.6 s of the input, as -ss 0.2 -t 0.4; so
    do ffmpeg's other spellings of those times, 200ms and 00:00.6."""
    src = make_clip(tmp_path / "in.mkv", frames=25)
    for times in (("-ss", "0.2", "-to", "0.6"), ("-ss", "200ms", "-to", "00:00.6")):
        out = tmp_path / "out.mkv"
        r = run_cli(src, out, "--stages", "none", "-y", *times)
        assert r.returncode == 0, r.stderr
        assert len(decode(out)) == 10


def audio_of(path) -> tuple[str, int | None, float]:
    """The first audio stream's codec, bitrate and decoded length in seconds."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(stream))
        return stream.codec_context.name, stream.codec_context.bit_rate, samples / stream.codec_context.sample_rate


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_audio_is_re_encoded_with_c_a_at_b_a(tmp_path, name):
    """-c:a aac -b:a 96k re-encodes FLAC to AAC at about 96 kb/s (MP4 records the rate), all of
    it; -c:a copy (the default) keeps it packet for packet. ffmpeg's video aliases work too."""
    src = make_clip(tmp_path / "in.mkv", frames=50, audio="flac")
    out = tmp_path / name
    r = run_cli(src, out, "--stages", "none", "-c:a", "aac", "-b:a", "96k",
                "-c:v", "libx264", "-crf", "30", "-preset", "ultrafast", "-pix_fmt", "yuv444p")
    assert r.returncode == 0, r.stderr
    codec, rate, seconds = audio_of(out)
    assert codec == "aac" and abs(seconds - audio_of(src)[2]) < 0.03  # AAC's last frame padded
    if name.endswith(".mp4"):
        assert 80_000 < rate < 115_000
    assert decode(out)[0][3] == "yuv444p"
    copied = tmp_path / "copy.mkv"
    assert run_cli(src, copied, "--stages", "none", "-acodec", "copy").returncode == 0
    with av.open(str(src)) as a, av.open(str(copied)) as b:
        assert [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size] == \
               [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]


def test_audio_quality_q_a_sets_a_variable_bitrate(tmp_path):
    """-q:a drives MP3's variable bitrate as ffmpeg's does (0 best, 9 worst): 0 takes several times
    the rate of 9; ffmpeg's older words work too: -ab for -b:a, -strict -2, -x264opts."""
    src = make_clip(tmp_path / "in.mkv", frames=50, audio="pcm_s16le")
    sizes = {}
    for q in ("0", "9"):
        r = run_cli(src, tmp_path / f"q{q}.mkv", "--stages", "none", "-c:a", "libmp3lame", "-q:a", q)
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp_path / f"q{q}.mkv")) as c:
            sizes[q] = sum(p.size for p in c.demux(c.streams.audio[0]))
    assert sizes["0"] > 3 * sizes["9"], sizes
    r = run_cli(src, tmp_path / "old.mp4", "--stages", "none", "-acodec", "aac", "-ab", "96k", "-strict", "-2",
                "-vcodec", "libx264", "-x264opts", "keyint=5")
    assert r.returncode == 0, r.stderr
    assert 80_000 < audio_of(tmp_path / "old.mp4")[1] < 115_000
    with av.open(str(tmp_path / "old.mp4")) as c:
        assert [p.is_keyframe for p in c.demux(video=0) if p.size][:6] == [True, False, False, False, False, True]


@pytest.mark.parametrize("options, target, message", [
    (("-b:a", "96k"), "out.mkv", b"-b:a sets the bitrate of re-encoded audio, and the audio is copied: add -c:a"),
    (("-q:a", "2"), "out.mkv", b"-q:a sets the quality of re-encoded audio, and the audio is copied: add -c:a"),
    (("-c:a", "libopus", "-q:a", "2"), "out.mkv", b"-q:a sets the quality of the libmp3lame, libvorbis, aac encoders, "
                                                  b"not of libopus: give -b:a for it"),
    (("-c:a", "libx264"), "out.mkv", b"'libx264' is no audio encoder FFmpeg has here"),
    (("-c:a", "aac", "--codec", "libvpx-vp9"), "out.webm", b"webm cannot hold aac audio (-c:a aac): pass a -c:a that "
                                                           b"webm holds (its own: opus), or write .mkv")])
def test_audio_encoders_that_cannot_serve_are_refused(tmp_path, options, target, message):
    out = tmp_path / target
    r = run_cli(make_clip(tmp_path / "in.mkv", frames=10, audio="flac"), out, "--stages", "none", *options)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not list(tmp_path.glob("out*"))


def audio_times(path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(p.pts * p.time_base) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.mark.parametrize("delay", [0.3, -0.3])
def test_audio_delay_moves_the_sound_against_the_picture(tmp_path, delay):
    """--audio-delay 0.3 moves every audio packet 0.3 s later; -0.3 earlier, those that would then
    come before the film's first frame left out; the frames keep their times. Copied or re-encoded."""
    src = make_clip(tmp_path / "in.mkv", frames=50, audio="flac")
    moved = [t + delay for t in audio_times(src) if t + delay >= 0]
    for name, options in (("copy.mkv", ()), ("aac.mkv", ("-c:a", "aac"))):
        r = run_cli(src, tmp_path / name, "--stages", "none", "--audio-delay", str(delay), *options)
        assert r.returncode == 0, r.stderr
        assert video_times(tmp_path / name) == video_times(src)
    assert audio_times(tmp_path / "copy.mkv") == pytest.approx(moved, abs=1e-3)
    with av.open(str(tmp_path / "aac.mkv")) as c:
        assert abs(next(c.decode(audio=0)).time - moved[0]) < 0.03
    assert abs(audio_of(tmp_path / "aac.mkv")[2] - audio_of(tmp_path / "copy.mkv")[2]) < 0.03


def test_subtitle_delay_moves_the_subtitles(tmp_path):
    """--subtitle-delay 0.5 shows each subtitle half a second later, copied (Matroska) or converted
    (mov_text into MP4)."""
    src = with_subtitles(tmp_path, "vs.mkv")
    for name in ("out.mkv", "out.mp4"):
        r = run_cli(src, tmp_path / name, "--stages", "none", "--subtitle-delay", "0.5")
        assert r.returncode == 0, r.stderr
        assert [(round(t - 0.5, 3), *rest) for t, *rest in subtitles(tmp_path / name)[1]] == subtitles(src)[1]


def test_a_data_stream_left_out_is_named(tmp_path):
    """An MPEG-TS's KLV metadata stream cannot be written: a note says so (before: dropped
    without a word); mapped away, nothing is said."""
    src = tmp_path / "klv.ts"
    with av.open(str(make_clip(tmp_path / "in.mkv", frames=10))) as i, av.open(str(src), "w") as o:
        video, data = o.add_stream_from_template(i.streams.video[0]), o.add_data_stream("klv")
        for n, p in enumerate(p for p in i.demux(i.streams.video[0]) if p.size):
            p.stream = video
            o.mux(p)
            klv = av.Packet(b"\x06\x0e\x2b\x34" + bytes(12))
            klv.stream, klv.time_base, klv.pts = data, Fraction(1, 90000), n * 3600
            o.mux(klv)
    out = tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert b"ignoring data stream #1 (klv): dfstream writes video, audio, subtitles and attachments" in r.stderr
    assert kinds(out) == ["video h264"]
    r = run_cli(src, out, "--stages", "none", "-map", "0:v", "-y")
    assert r.returncode == 0 and b"data stream" not in r.stderr, r.stderr


def test_frames_v_stops_after_so_many_frames_with_the_audio_cut_there(tmp_path):
    """-frames:v 10 on 25 fps keeps 10 frames and cuts the audio where -t 0.4 cuts it (before the
    last frame is known, audio demuxed ahead of it waits); more frames than the input has keeps
    it all, audio included."""
    src = make_clip(tmp_path / "in.mkv", frames=50, audio="flac")
    written = {}
    for name, options in (("frames", ("-frames:v", "10")), ("t", ("-t", "0.4")), ("all", ("-vframes", "500")),
                          ("whole", ())):
        out = tmp_path / f"{name}.mkv"
        r = run_cli(src, out, "--stages", "none", *options)
        assert r.returncode == 0, r.stderr
        written[name] = video_times(out), audio_of(out)[2]
    assert written["frames"] == written["t"] and len(written["frames"][0]) == 10
    assert written["frames"][1] < 0.5
    assert written["all"] == written["whole"] and len(written["all"][0]) == 50 and written["all"][1] > 2


def test_ac_and_ar_mix_and_resample_the_re_encoded_audio(tmp_path):
    """-c:a aac -ac 1 -ar 32000, as ffmpeg's: stereo FLAC at 48 kHz comes out mono AAC at 32 kHz, as
    long as it went in."""
    src = make_clip(tmp_path / "in.mkv", frames=50, audio="flac")
    out = tmp_path / "out.mp4"
    r = run_cli(src, out, "--stages", "none", "-c:a", "aac", "-ac", "1", "-ar", "32000")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        audio = c.streams.audio[0].codec_context
        assert (audio.layout.name, audio.sample_rate) == ("mono", 32000)
    assert audio_of(out)[2] == pytest.approx(audio_of(src)[2], abs=0.05)
    refused = run_cli(src, tmp_path / "opus.mkv", "--stages", "none", "-c:a", "libopus", "-ar", "44100")
    assert refused.returncode == 2 and b"-ar 44100: libopus takes 48000, " in refused.stderr
    assert not (tmp_path / "opus.mkv").exists()


def test_a_map_chooses_the_video_processed(tmp_path):
    """Of the video streams mapped, the one processed: -map 0:v:0 takes the thumbnail track that
    dfstream would leave aside by default."""
    out = tmp_path / "out.mkv"
    r = run_cli(with_picture(tmp_path, "thumb.mkv", cover=False), out, "--stages", "gray", "-map", "0:v:0")
    assert r.returncode == 0, r.stderr
    assert b"ignoring video stream" not in r.stderr
    frames = decode(out)
    assert frames[0][2].shape == (32 * 3 // 2, 32)


def with_picture(tmp_path, name: str, *, cover: bool) -> Path:
    """A clip with a 32x32 MJPEG picture stream ahead of its streams: a thumbnail track ahead of
    the film (30 frames), or cover art (an attached picture) beside audio alone."""
    clip = make_clip(tmp_path / "clip.mkv", frames=30, audio="aac" if cover else None)
    src = tmp_path / name
    with av.open(str(clip)) as i, av.open(str(src), "w") as o:
        picture = o.add_stream("mjpeg", rate=25)
        picture.width, picture.height, picture.pix_fmt = 32, 32, "yuvj420p"
        if cover:
            picture.disposition = av.stream.Disposition.attached_pic
        kept = i.streams.audio if cover else i.streams.video
        streams = {s.index: o.add_stream_from_template(s) for s in kept}
        still = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
        for p in [*picture.encode(still.reformat(format="yuvj420p")), *picture.encode(None)]:
            p.pts = 0
            o.mux(p)
        for p in i.demux(*kept):
            if p.size:
                p.stream = streams[p.stream.index]
                o.mux(p)
    return src


def test_the_video_stream_is_the_one_ffmpeg_maps(tmp_path):
    """A small picture stream ahead of the film (a thumbnail track) is not the film: the largest
    is processed, as ffmpeg maps it, and the other is named in a note (before: 1 frame out of 30)."""
    out = tmp_path / "out.mkv"
    r = run_cli(with_picture(tmp_path, "thumb.mkv", cover=False), out, "--stages", "gray")
    assert r.returncode == 0, r.stderr
    assert b"ignoring video stream #0 (mjpeg 32x32): dfstream processes one, #1" in r.stderr
    frames = decode(out)
    assert len(frames) == 30 and frames[0][2].shape == (64 * 3 // 2, 96)


def test_cover_art_alone_is_processed_as_a_picture_that_moves(tmp_path):
    """With nothing else, cover art is the video, as ffmpeg maps it; written, it is not marked an
    attached picture (MP4 refuses an H.264 stream so marked: the run failed at the header)."""
    out = tmp_path / "out.mp4"
    r = run_cli(with_picture(tmp_path, "song.mp4", cover=True), out, "--stages", "gray")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        assert not c.streams.video[0].disposition & av.stream.Disposition.attached_pic
        assert sum(1 for _ in c.decode(video=0)) == 1


def test_an_audio_stream_that_holds_nothing_is_left_out(tmp_path):
    """A recording whose audio PID carries no packets reads as audio of no rate and no channels;
    no muxer could start a file with it (the run failed at the header): the video comes out."""
    clip = make_clip(tmp_path / "v.mkv", frames=25)
    src = tmp_path / "empty-audio.ts"
    with av.open(str(clip)) as i, av.open(str(src), "w") as o:
        video = o.add_stream_from_template(i.streams.video[0])
        o.add_stream("mp2", rate=48000)  # declared in the programme, never written
        for p in i.demux():
            if p.size:
                p.stream = video
                o.mux(p)
    with av.open(str(src)) as c:
        assert c.streams.audio[0].codec_context.sample_rate == 0
    out = tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "gray")
    assert r.returncode == 0, r.stderr
    assert b"ignoring audio stream #1" in r.stderr
    with av.open(str(out)) as c:
        assert not c.streams.audio and sum(1 for _ in c.decode(video=0)) == 25


@pytest.mark.parametrize("name, rotation, shown", [("out.mkv", 0, Fraction(64, 45)), ("out.mp4", 0, Fraction(64, 45)),
                                                   ("out.mkv", 90, Fraction(45, 64))])
def test_anamorphic_video_keeps_its_shape(tmp_path, name, rotation, shown):
    """A widescreen DVD's 720x576 at 64:45 pixels: the output keeps the pixels' shape, or players
    show it squeezed (it was written square); turned a quarter upright, the shape turns too."""
    src = make_clip(tmp_path / "dvd.mkv", frames=5, sar=Fraction(64, 45), rotation=rotation)
    r = run_cli(src, tmp_path / name, "--stages", "gray")
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / name)) as c:
        assert c.streams.video[0].sample_aspect_ratio == shown


def fields_apart(path: Path, interlaced: bool, frames: int = 8, apart: int = 6, width: int = 160,
                 height: int = 96) -> Path:
    """A bright bar moving 8 pixels a frame, its bottom field caught half a frame later (``apart``
    pixels on), as a TV camera writes it; coded as interlaced (top field first) or as progressive."""
    with av.open(str(path), "w") as out:
        params = {"x264-params": "interlaced=1:tff=1"} if interlaced else {}
        v = out.add_stream("libx264", rate=25, options={"qp": "0", **params})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), 40, np.uint8)
            for row in range(height):
                x = i * 8 % (width - 20) + apart * (row % 2)
                image[row, x : x + 12] = 220
            for packet in v.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path


def telecined(path: Path, frames: int = 48, audio: bool = False) -> Path:
    """Film at 23.976 fps telecined to 29.97 (3:2 pulldown), as NTSC broadcasts and some DVDs hold
    it: a bar 3 pixels further on each film frame, whose fields are laid out 2, 3, 2, 3, ... over
    interlaced frames (top field first), 60 frames of 48; ``audio``: PCM beside it, in packets
    of 1 ms."""
    pictures = []
    for i in range(frames):
        picture = np.full((96, 160), 40, np.uint8)
        picture[:, 3 * i : 3 * i + 12] = 220
        pictures += [picture] * (2 if i % 2 == 0 else 3)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=Fraction(30000, 1001),
                           options={"qp": "0", "x264-params": "interlaced=1:tff=1"})
        v.width, v.height, v.pix_fmt = 160, 96, "yuv420p"
        if audio:
            a = out.add_stream("pcm_s16le", rate=48000, layout="mono")
            for n in range(len(pictures) // 2 * 1001 // 30 + 1):
                sound = av.AudioFrame.from_ndarray(np.zeros((1, 48), np.int16), format="s16", layout="mono")
                sound.sample_rate, sound.pts = 48000, 48 * n
                for packet in a.encode(sound):
                    out.mux(packet)
        for top, bottom in zip(pictures[0::2], pictures[1::2]):
            woven = top.copy()
            woven[1::2] = bottom[1::2]
            for packet in v.encode(av.VideoFrame.from_ndarray(np.stack([woven] * 3, -1), format="rgb24")):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path


def test_a_pulldown_is_undone_when_asked(tmp_path):
    """``--deinterlace ivtc``: each film frame comes back once, whole, at 23.976 fps evenly timed."""
    src = telecined(tmp_path / "ntsc.mkv")
    out = tmp_path / "film.mkv"
    r = run_cli(src, out, "--stages", "none", "--deinterlace", "ivtc", "--encoder-option", "qp=0")
    assert r.returncode == 0, r.stderr
    assert b"undid the 3:2 pulldown" in r.stderr and b"48 frames at 23.976 fps" in r.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == Fraction(24000, 1001)
        frames = list(c.decode(video=0))
    lumas = [f.to_ndarray(format="gray").astype(int) for f in frames]
    assert [int(np.argmax(y[40] > 128)) for y in lumas] == [3 * i for i in range(48)]
    assert max(np.abs(y[0::2] - y[1::2]).mean() for y in lumas) < 1
    steps = np.diff([f.time for f in frames])
    assert np.allclose(steps, 1001 / 24000, atol=1.5e-3)
    refused = run_cli(src, tmp_path / "x.mkv", "--stages", "stabilize", "--original", src, "--deinterlace", "ivtc")
    assert refused.returncode != 0 and b"cannot pair a video with its --original" in refused.stderr


def test_frames_v_after_a_pulldown_cuts_the_audio_at_the_last_film_frame(tmp_path):
    """-frames:v 24 after ``ivtc`` keeps 24 film frames and the audio to the end of the last, 24 x
    1001/24000 s, as -t 1.001 does (not a 29.97 fps frame after its start, 8 ms short)."""
    src = telecined(tmp_path / "ntsc.mkv", audio=True)
    ends = {}
    for name, options in (("frames", ("-frames:v", "24")), ("t", ("-t", "1.001"))):
        out = tmp_path / f"{name}.mkv"
        r = run_cli(src, out, "--stages", "none", "--deinterlace", "ivtc", *options)
        assert r.returncode == 0, r.stderr
        assert len(video_times(out)) == 24
        ends[name] = audio_of(out)[2]
    assert ends["frames"] == pytest.approx(1.001, abs=0.0015) and ends["frames"] == ends["t"]


def test_telecined_film_is_told_from_interlaced_video(tmp_path):
    """Deinterlaced as it comes, a telecined film gets a note that ``ivtc`` would bring back its film
    frames (FFmpeg's idet finds a field repeated in 2 of every 5 frames); video shot interlaced does not."""
    r = run_cli(telecined(tmp_path / "ntsc.mkv"), tmp_path / "a.mkv", "--stages", "none")
    assert r.returncode == 0 and b"looks like film telecined to 29.97 fps (a field repeated in 24 of 60" in r.stderr
    r = run_cli(fields_apart(tmp_path / "tv.mkv", interlaced=True, frames=30), tmp_path / "b.mkv", "--stages", "none")
    assert r.returncode == 0 and b"deinterlaced 30" in r.stderr and b"looks like film" not in r.stderr, r.stderr


def combs(path: Path) -> tuple[float, list[int]]:
    """How far the rows of one field stand from the other's (mean absolute luma), and the pts."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    lumas = [f.to_ndarray(format="gray").astype(float) for f in frames]
    return float(np.mean([np.abs(y[0::2] - y[1::2]).mean() for y in lumas])), [f.pts for f in frames]


def test_interlaced_video_is_deinterlaced_unless_asked_not_to(tmp_path):
    """Written progressive, fields left as they came show as combs on every moving edge: frames
    marked interlaced go through FFmpeg's bwdif, one frame out per frame in, timestamps kept."""
    src = fields_apart(tmp_path / "tv.mkv", interlaced=True)
    r = run_cli(src, tmp_path / "auto.mkv", "--stages", "gray")
    assert r.returncode == 0, r.stderr
    assert b"deinterlaced 8 interlaced frames" in r.stderr
    comb, pts = combs(tmp_path / "auto.mkv")
    assert comb < 2 and pts == combs(src)[1]
    assert run_cli(src, tmp_path / "off.mkv", "--stages", "gray", "--deinterlace", "off").returncode == 0
    assert combs(tmp_path / "off.mkv")[0] > 8


def test_interlaced_video_that_changes_size_midway_is_deinterlaced_and_scaled_as_any(tmp_path):
    """The filters start again at the new size, as ffmpeg's do; the frames are then scaled to the
    first's like any others, with the note."""
    first = fields_apart(tmp_path / "a.ts", interlaced=True)
    second = fields_apart(tmp_path / "b.ts", interlaced=True, width=128, height=80)
    out = tmp_path / "out.mkv"
    r = run_cli(f"concat:{first}|{second}", out, "--stages", "none", "--encoder-option", "qp=0")
    assert r.returncode == 0, r.stderr
    assert b"deinterlaced 16 interlaced" in r.stderr and b"scaled 8 frames of another size" in r.stderr
    comb, pts = combs(out)
    assert comb < 2 and len(pts) == 16


def test_an_ffmpeg_without_the_deinterlacer_is_a_one_line_error(tmp_path, monkeypatch):
    from dfstream import deinterlace

    monkeypatch.setitem(deinterlace.CHAINS, "auto", [("nosuchfilter", ""), deinterlace.BWDIF])
    out = tmp_path / "out.mkv"
    with pytest.raises(dfstream.DfstreamError, match="has no nosuchfilter filter.*pass --deinterlace off"):
        dfstream.process(str(fields_apart(tmp_path / "tv.mkv", interlaced=True)), str(out), stages="gray")
    assert not out.exists()


@pytest.mark.parametrize("interlaced", [False, True])
def test_progressive_pictures_are_left_whole(tmp_path, interlaced):
    """Progressive video, and progressive pictures coded interlaced (a film on a PAL DVD: both fields
    of a frame show one instant, as FFmpeg's idet finds), come out as they went in."""
    src = fields_apart(tmp_path / "film.mkv", interlaced=interlaced, apart=0)
    r = run_cli(src, tmp_path / "auto.mkv", "--stages", "gray")
    assert r.returncode == 0 and b"deinterlaced" not in r.stderr, r.stderr
    assert (b"left 8 frames of '" in r.stderr) == interlaced
    assert run_cli(src, tmp_path / "off.mkv", "--stages", "gray", "--deinterlace", "off").returncode == 0
    auto, off = decode(tmp_path / "auto.mkv"), decode(tmp_path / "off.mkv")
    assert len(auto) == len(off) == 8 and all(np.array_equal(a[2], b[2]) for a, b in zip(auto, off))


def program_stream(path: Path, frames: int = 30) -> Path:
    """MPEG-2 in an MPEG program stream of 2048-byte packs, as a DVD's VOB files hold it."""
    with av.open(str(path), "w", format="vob") as out:
        v = out.add_stream("mpeg2video", rate=25, options={"g": "12", "b": "2M"})
        v.width, v.height, v.pix_fmt = 160, 96, "yuv420p"
        v.codec_context.time_base = Fraction(1, 25)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, 96, 160), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path


def test_a_start_in_an_mpeg_program_stream_keeps_its_first_frames(tmp_path):
    """A DVD's VOB (MPEG-2 in an MPEG program stream): FFmpeg's seek there lands on a packet just past
    the time asked for that is no keyframe, and decoding started at the next keyframe, up to a GOP
    on; the seek is tried again earlier until the frame asked for comes."""
    src = program_stream(tmp_path / "dvd.vob")
    frames = decode(src)
    assert frames[0][1] == 0.54  # where the program stream starts: -ss counts from there, as ffmpeg's
    r = run_cli(src, tmp_path / "out.mkv", "-ss", "0.08", "-t", "0.4", "--stages", "none",
                "--encoder-option", "qp=0")
    assert r.returncode == 0, r.stderr
    out = decode(tmp_path / "out.mkv")
    assert len(out) == 10 and np.abs(out[0][2].astype(int) - frames[2][2]).mean() < 1


def transport_stream(path: Path, frames: int = 10) -> Path:
    """H.264 in MPEG-TS, one keyframe for the whole clip (as a broadcast recording's long GOPs), the
    file starting after 0 (its first decode time, 0.08 s, as FFmpeg's muxer writes it)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"g": "250"})
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        for i in range(frames):
            for packet in v.encode(av.VideoFrame.from_ndarray(pattern(i, 64, 96), format="rgb24")):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path


def test_a_start_counts_from_the_file_s_start_and_finds_a_keyframe_before_it(tmp_path):
    """-ss 0.2 in an MPEG-TS whose frames start at 0.08 s keeps the frames from 0.28 s, as ffmpeg's
    -ss counts (from the file's start); FFmpeg's seek lands past its only keyframe, where nothing
    can be decoded, and is tried again earlier (before: no frame at all, an error)."""
    src = transport_stream(tmp_path / "tv.ts")
    frames = decode(src)
    assert [f[1] for f in frames][:2] == [0.08, 0.12]
    r = run_cli(src, tmp_path / "out.mkv", "-ss", "0.2", "--stages", "none", "--encoder-option", "qp=0")
    assert r.returncode == 0, r.stderr
    out = decode(tmp_path / "out.mkv")
    assert len(out) == 5 and out[0][1] == 0
    assert np.abs(out[0][2].astype(int) - frames[5][2]).mean() < 1 < np.abs(out[0][2].astype(int) - frames[3][2]).mean()


def test_a_film_split_over_vob_files_is_read_whole_through_ffmpegs_concat_protocol(tmp_path):
    """A DVD holds a film as VTS_01_1.VOB, VTS_01_2.VOB, ..., split at a pack; ffmpeg reads them as
    one with concat:A|B, which dfstream took for a missing file."""
    whole = program_stream(tmp_path / "whole.vob").read_bytes()
    cut = len(whole) // 2 // 2048 * 2048
    (tmp_path / "VTS_01_1.VOB").write_bytes(whole[:cut])
    (tmp_path / "VTS_01_2.VOB").write_bytes(whole[cut:])
    parts = f"concat:{tmp_path / 'VTS_01_1.VOB'}|{tmp_path / 'VTS_01_2.VOB'}"
    r = run_cli(parts, tmp_path / "film.mkv", "--stages", "none")
    assert r.returncode == 0, r.stderr
    times = [[round(f[1], 3) for f in decode(path)] for path in (tmp_path / "film.mkv", tmp_path / "whole.vob")]
    assert times[0] == times[1] and len(times[0]) == 30
    r = run_cli("concat:" + str(tmp_path / "VTS_01_9.VOB"), tmp_path / "x.mkv")
    assert r.returncode == 1 and b"cannot open 'concat:" in r.stderr and b"\n" not in r.stderr.strip(), r.stderr


def test_a_dvds_folder_is_read_as_its_largest_title_set(tmp_path):
    """The disc's root (or its VIDEO_TS): the title set whose VOB files are largest, the film, as
    most rippers pick it, not the menu (VIDEO_TS.VOB, VTS_NN_0.VOB) or a short extra."""
    whole = program_stream(tmp_path / "whole.vob").read_bytes()
    cut = len(whole) // 2 // 2048 * 2048
    folder = tmp_path / "disc" / "VIDEO_TS"
    folder.mkdir(parents=True)
    for name, part in (("VTS_01_1.VOB", whole[:cut]), ("VTS_01_2.VOB", whole[cut:]), ("VIDEO_TS.VOB", whole),
                       ("VTS_01_0.VOB", whole), ("VTS_02_1.VOB", whole[: 4 * 2048])):
        (folder / name).write_bytes(part)
    r = run_cli(tmp_path / "disc", tmp_path / "film.mkv", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert b"reading the DVD's largest title set, VTS_01_1.VOB to VTS_01_2.VOB" in r.stderr
    assert len(decode(tmp_path / "film.mkv")) == 30
    r = run_cli("eval", tmp_path / "disc", "--json")  # measured as it is read
    assert r.returncode == 0 and json.loads(r.stdout)["frames"] == 30, r.stderr


def test_a_blu_rays_folder_is_read_as_its_largest_stream_file(tmp_path):
    stream = tmp_path / "bd" / "BDMV" / "STREAM"
    stream.mkdir(parents=True)
    make_clip(stream / "00800.m2ts", frames=12)
    make_clip(stream / "00001.m2ts", frames=3)  # a trailer
    for given in (tmp_path / "bd", tmp_path / "bd" / "BDMV"):
        r = run_cli(given, tmp_path / "film.mkv", "--stages", "none", "-y")
        assert r.returncode == 0 and b"reading the Blu-ray's largest stream file, 00800.m2ts" in r.stderr, r.stderr
        assert len(decode(tmp_path / "film.mkv")) == 12


def test_a_still_colours_anamorphic_video_as_it_is_shown(tmp_path):
    """A widescreen DVD's pixels are wider than high; a still of the scene (a photo, square pixels)
    is placed by the shape both are shown at, not letterboxed into the stored frame's 4:3."""
    import cv2

    shown = [pattern(i, 72, 128, 0) for i in range(4)]  # the scene at square pixels, 16:9
    stored = [cv2.resize(image, (96, 72), interpolation=cv2.INTER_AREA) for image in shown]  # 4:3 pixels
    cv2.imwrite(str(tmp_path / "still.png"), shown[0][..., ::-1])
    src = tmp_path / "dvd.mkv"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"qp": "0"})
        v.width, v.height, v.pix_fmt = 96, 72, "yuv444p"
        v.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for image in stored:
            grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            for packet in v.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    out = tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "colorize", "--reference", tmp_path / "still.png", "--pix-fmt", "yuv444p",
                "--crf", "0")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
    psnrs = [10 * math.log10(255**2 / np.mean((g - t) ** 2)) for g, t in zip(got, stored, strict=True)]
    assert min(psnrs) > 33, psnrs  # letterboxed into 4:3 as before, 23.9 dB


def test_trim_with_start_and_duration(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=50, audio="aac")
    out = tmp_path / "out.mkv"
    assert run_cli(src, out, "-ss", "0.4", "-t", "1", "-q", "--stages", "none").returncode == 0
    times = video_times(out)
    assert len(times) == 25
    assert times[0] == pytest.approx(0.0, abs=1e-3)
    frames = decode(out)
    source = decode(src)
    nearest = np.argmin([np.abs(f[2].astype(int) - frames[0][2]).mean() for f in source])
    assert nearest == 10  # the frame at 0.4 s
    audio_pts = [pts for pts, _ in decode(out, "audio")]
    assert audio_pts and max(audio_pts) / 1000 < 1.05


def test_gray_stage_converts_on_the_device_and_keeps_luma(tmp_path):
    src = make_clip(tmp_path / "in.mkv", pix_fmt="yuv444p")
    out = tmp_path / "out.mkv"
    r = run_cli(src, out, "--stages", "gray", "--crf", "0", "--preset", "ultrafast", "--pix-fmt", "yuv444p")
    assert r.returncode == 0, r.stderr
    with av.open(str(src)) as a, av.open(str(out)) as b:
        for fa, fb in zip(a.decode(video=0), b.decode(video=0)):
            ya, yb = fa.to_ndarray()[0].astype(int), fb.to_ndarray()
            assert np.abs(yb[1:].astype(int) - 128).max() <= 1  # chroma neutral
            # BT.601 luma of the decoded RGB; the source is tagged BT.601 (under 720 lines)
            assert np.abs(yb[0].astype(int) - ya).mean() < 1.5


def test_gray_input_processed_goes_out_in_colour_format(tmp_path):
    src = make_clip(tmp_path / "in.mkv", pix_fmt="gray")
    out = tmp_path / "out.mkv"
    assert run_cli(src, out, "--stages", "gray", "-q").returncode == 0
    assert decode(out)[0][3] == "yuv420p"


def test_max_height_processes_smaller_and_outputs_source_size(tmp_path):
    seen = []

    class Probe(dfstream.engines.BatchStage):
        name = "probe"
        multiple = 8

        def process(self, rgb, ctx):
            seen.append(tuple(rgb.shape[-2:]))
            return rgb

    src = make_clip(tmp_path / "in.mkv", width=96, height=64)
    out = tmp_path / "out.mkv"
    dfstream.process(str(src), str(out), stages=[Probe()], max_height=30)
    assert seen and all(s == (32, 48) for s in seen)  # 30x46 work size padded to 8
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (96, 64)


def test_a_lowered_work_size_keeps_the_source_luma_in_full_for_the_weights_free_chain(tmp_path):
    """The colorizer and the chroma-only stabilizer keep the source's luma: at half the work size the
    output's Y' is still the source's, not scaled down and up again (only chroma is worked out smaller)."""
    src = make_clip(tmp_path / "in.mkv", width=96, height=64, pix_fmt="yuv444p")
    still = tmp_path / "still.png"
    av.VideoFrame.from_ndarray(pattern(0, 64, 96), format="rgb24").save(str(still))
    for stages in ("colorize", "colorize,stabilize"):
        out = tmp_path / "out.mkv"
        dfstream.process(str(src), str(out), stages=stages, references=[str(still)], max_height=32, overwrite=True,
                         encoder=dfstream.EncoderSettings(pix_fmt="yuv444p", options={"qp": "0"}))
        for (*_, a, _), (*_, b, _) in zip(decode(src), decode(out)):
            assert np.abs(b[0].astype(int) - a[0]).max() <= 2, stages  # Y' codes: rounding only
            assert np.abs(b[1:].astype(int) - 128).mean() > 2  # and coloured


def test_a_lowered_work_size_keeps_the_input_in_full_for_the_stabilizer_alone(tmp_path):
    """The flow stabilizer adds a change: at half the work size only its change is scaled up, so a
    still shot of fine grain (nothing to stabilize) comes out as it went in, not blurred."""
    grain = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    src = make_clip(tmp_path / "grain.mkv", frames=6, pix_fmt="yuv444p", picture=grain)
    out = tmp_path / "out.mkv"
    dfstream.process(str(src), str(out), stages="stabilize", max_height=32,
                     encoder=dfstream.EncoderSettings(pix_fmt="yuv444p", options={"qp": "0"}))
    for (*_, a, _), (*_, b, _) in zip(decode(src), decode(out), strict=True):
        assert np.abs(b.astype(int) - a).max() <= 2  # codes: rounding only


class Counter(RecurrentStage):
    """Writes the number of frames since its last reset into the red channel."""

    name = "counter"

    def __init__(self):
        self.count = 0
        self.resets = 0

    def reset(self):
        self.count = 0
        self.resets += 1

    def step(self, rgb, ctx):
        self.count += 1
        out = rgb.clone()
        out[:, 0] = self.count / 50
        return out


@pytest.mark.parametrize("batch", [1, 3, 8, 64])
def test_stateful_stage_resets_at_the_scene_cut_whatever_the_batch(tmp_path, batch):
    src = make_clip(tmp_path / "cut.mkv", frames=14, cut_at=9)
    counter = Counter()
    frames = list(dfstream.frames(str(src), stages=[counter], batch=batch))
    reds = [round(f.image[..., 0].mean() / 255 * 50) for f in frames]
    assert reds == list(range(1, 10)) + list(range(1, 6))
    assert counter.resets == 2


class Ahead(RecurrentStage):
    """Looks one frame ahead: writes its count since the last reset into red, and into green the count
    of the frame that came after it in its scene (0: none came)."""

    name = "ahead"
    delay = 1

    def __init__(self):
        self.reset()

    def reset(self):
        self.count, self.held = 0, None

    def step(self, rgb, ctx):
        self.count += 1
        done, self.held = self.held, rgb.clone()
        self.held[:, 0], self.held[:, 1] = self.count / 50, 0
        if done is not None:
            done[:, 1] = self.count / 50
        return done

    def flush(self):
        done, self.held = self.held, None
        return done


@pytest.mark.parametrize("batch", [1, 3, 8, 64])
def test_a_stage_that_looks_ahead_gets_every_frame_in_order_with_its_time(tmp_path, batch):
    src = make_clip(tmp_path / "cut.mkv", frames=14, cut_at=9)
    counter = Counter()
    out = tmp_path / "out.mkv"
    summary = dfstream.process(str(src), str(out), stages=[Ahead(), counter], batch=batch,
                               encoder=dfstream.EncoderSettings(pix_fmt="yuv444p", options={"qp": "0"}))
    frames = list(dfstream.frames(str(out)))
    reds = [round(f.image[..., 0].mean() / 255 * 50) for f in frames]
    greens = [round(f.image[..., 1].mean() / 255 * 50) for f in frames]
    assert summary.frames == 14 and [f[0] for f in decode(out)] == [f[0] for f in decode(src)]
    assert greens == list(range(2, 10)) + [0] + list(range(2, 6)) + [0]  # the next frame's count, none at the ends
    assert reds == list(range(1, 10)) + list(range(1, 6))  # the stage after it: reset at the cut in step
    assert counter.resets == 2


def test_the_flow_stabilizer_looks_one_frame_ahead_except_in_live_runs_or_as_flow_causal(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=3)
    delays = {}
    for latency in ("normal", "low"):
        pipeline = dfstream.Pipeline(str(src), dfstream.Options(stages="stabilize", latency=latency))
        delays[latency] = [s.delay for s in pipeline.stages]
        pipeline.close()
    assert delays == {"normal": [1], "low": [0]}
    pipeline = dfstream.Pipeline(str(src), dfstream.Options(stages="stabilize", engines={"stabilize": "flow:causal"}))
    assert [s.delay for s in pipeline.stages] == [0]
    pipeline.close()
    r = run_cli(src, tmp_path / "out.mkv", "--stages", "stabilize", "--stabilizer", "flow:ahead")
    assert r.returncode != 0 and b"unknown flow stabilizer variant 'ahead'" in r.stderr and b"flow:causal" in r.stderr
    assert not (tmp_path / "out.mkv").exists()


def test_frames_api_yields_rgb_with_times(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=5)
    frames = list(dfstream.frames(str(src)))
    assert [f.pts for f in frames] == [0, 40, 80, 120, 160]  # Matroska counts milliseconds
    assert frames[2].time == pytest.approx(0.08)
    assert frames[0].image.shape == (64, 96, 3) and frames[0].image.dtype == np.uint8
    with av.open(str(src)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24", interpolation=ACCURATE)
    assert np.array_equal(frames[0].image, first)  # libswscale's accurate reading of the frame
    diff = np.abs(frames[0].image.astype(int) - pattern(0, 64, 96))
    assert diff.mean() < 2 and diff.max() <= 10  # 4:2:0 chroma, lossless luma


def test_process_api_returns_a_summary(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=6)
    summary = dfstream.process(str(src), str(tmp_path / "out.mp4"), stages="gray")
    assert summary.frames == 6 and summary.output.endswith("out.mp4")
    assert set(summary.stage_seconds) == {"gray"}


def test_a_stage_failing_midway_leaves_nothing_behind(tmp_path):
    class Broken(dfstream.engines.BatchStage):
        name = "broken"
        calls = 0

        def process(self, rgb, ctx):
            Broken.calls += 1
            if Broken.calls == 2:
                raise RuntimeError("boom")
            return rgb

    src = make_clip(tmp_path / "in.mkv", frames=30)
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        dfstream.process(str(src), str(out), stages=[Broken()], batch=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_json_progress_lines(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=10)
    r = run_cli(src, tmp_path / "o.mkv", "--progress", "json", "--stages", "none")
    import json

    records = [json.loads(line) for line in r.stderr.decode().splitlines() if line.startswith("{")]
    assert records and records[-1]["frames"] == 10 and records[-1]["total"] == 10
    assert b"10 frames in" in r.stderr


def test_ffmpeg_s_progress_report_goes_to_a_file_or_a_pipe(tmp_path):
    """-progress FILE and -progress pipe:1 write ffmpeg's key=value blocks, each ending in progress=,
    the last 'end' with every frame and the last frame's time (out_time_ms in microseconds too, as
    ffmpeg's)."""
    src = make_clip(tmp_path / "in.mkv", frames=10)
    r = run_cli(src, tmp_path / "o.mkv", "--stages", "none", "-progress", tmp_path / "report.txt")
    assert r.returncode == 0, r.stderr
    piped = run_cli(src, tmp_path / "p.mkv", "--stages", "none", "-progress", "pipe:1")
    for text in ((tmp_path / "report.txt").read_text(), piped.stdout.decode()):
        blocks = [dict(line.split("=", 1) for line in block.strip().splitlines())
                  for block in re.split(r"(?<=progress=continue\n)|(?<=progress=end\n)", text) if block.strip()]
        assert [b["progress"] for b in blocks] == ["continue"] * (len(blocks) - 1) + ["end"]
        assert all(list(b) == ["frame", "fps", "out_time_us", "out_time_ms", "out_time", "speed", "progress"]
                   for b in blocks)
        assert (blocks[-1]["frame"], blocks[-1]["out_time_us"], blocks[-1]["out_time_ms"], blocks[-1]["out_time"]) == (
            "10", "360000", "360000", "00:00:00.360000")
    clash = run_cli(src, "-", "-f", "nut", "--stages", "none", "-progress", "pipe:1")
    assert clash.returncode == 2 and b"both write to standard output" in clash.stderr and not clash.stdout


def test_info_lists_devices_backends_and_stages():
    r = run_cli("info")
    assert r.returncode == 0
    text = r.stdout.decode()
    for word in ("devices: cpu", "onnxruntime", "tensorrt", "gray", "FFmpeg", "decoding: software"):
        assert word in text
    assert torch.__version__ in text


def top_boxes(path) -> list[str]:
    """The names of an MP4's top-level boxes, in file order."""
    data, at, names = Path(path).read_bytes(), 0, []
    while at < len(data):
        names.append(data[at + 4 : at + 8].decode())
        at += int.from_bytes(data[at : at + 4], "big")
    return names


def test_movflags_faststart_puts_the_index_first(tmp_path):
    """-movflags +faststart, as ffmpeg's: the MP4's index (moov) ahead of its media (mdat), so that a
    web player starts before the file is in; without it the index comes last."""
    src = make_clip(tmp_path / "in.mkv", frames=8)
    for name, options in (("fast.mp4", ("-movflags", "+faststart")), ("plain.mp4", ())):
        r = run_cli(src, tmp_path / name, "--stages", "none", *options)
        assert r.returncode == 0, r.stderr
    fast, plain = top_boxes(tmp_path / "fast.mp4"), top_boxes(tmp_path / "plain.mp4")
    assert fast.index("moov") < fast.index("mdat") and plain.index("moov") > plain.index("mdat")
    assert len(decode(tmp_path / "fast.mp4")) == 8


def test_a_fractional_crf_and_ffmpeg_s_encoder_options_reach_the_encoder(tmp_path):
    """-crf 20.5, and ffmpeg's -g, -bf, -keyint_min, -sc_threshold, -maxrate, -bufsize and -x264-params,
    as ffmpeg takes them: x264 records the settings it encoded with in the stream."""
    out = tmp_path / "out.mkv"
    r = run_cli(make_clip(tmp_path / "in.mkv", frames=4), out, "--stages", "none", "-crf", "20.5", "-g", "12",
                "-bf", "0", "-keyint_min", "3", "-sc_threshold", "0", "-maxrate", "2M", "-bufsize", "4M",
                "-x264-params", "ref=2")
    assert r.returncode == 0, r.stderr
    settings = out.read_bytes()
    assert all(f" {s} ".encode() in settings for s in ("crf=20.5", "keyint=12", "bframes=0", "ref=2", "keyint_min=3",
                                                       "scenecut=0", "vbv_maxrate=2000", "vbv_bufsize=4000"))


@pytest.mark.parametrize("name, codec, exact", [("key.png", "png", True), ("key.tif", "tiff", True),
                                                ("key.dpx", "dpx", True), ("key.jpg", "mjpeg", False)])
def test_an_image_name_writes_one_still(tmp_path, name, codec, exact):
    """OUT named as an image is one still, the first frame from -ss on (a keyframe to colour by hand
    for --reference): PNG, TIFF and DPX in R'G'B' exactly as the frame reads, JPEG within its
    losses; the sound is not asked for, so not noted as dropped."""
    src = make_clip(tmp_path / "in.mkv", frames=30, audio="aac")
    r = run_cli(src, tmp_path / name, "--stages", "none", "-ss", "1")
    assert r.returncode == 0 and b"dropping" not in r.stderr, r.stderr
    with av.open(str(src)) as c:
        frame = list(c.decode(video=0))[25]
    truth = frame.reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int)
    with av.open(str(tmp_path / name)) as c:
        assert c.streams.video[0].codec_context.name == codec
        pictures = [f.reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int)
                    for f in c.decode(video=0)]
    assert len(pictures) == 1
    error = np.abs(pictures[0] - truth)
    assert error.max() == 0 if exact else 0 < error.mean() < 2.5


@pytest.mark.parametrize("name, codec", [("out.gif", None), ("out.apng", None), ("out.mov", "qtrle")])
def test_encoders_of_r_g_b_alone_keep_the_colour(tmp_path, name, codec):
    """Animated PNG and QuickTime Animation take R'G'B' and no Y'CbCr of dfstream's: they get every
    frame in R'G'B' exactly as it reads; a GIF gets each frame quantized to a palette of its own
    (FFmpeg's palettegen and paletteuse), not a fixed one. All had been written grey. An encoder that
    takes no colour format dfstream writes is refused."""
    src = make_clip(tmp_path / "in.mkv", frames=4)
    r = run_cli(src, tmp_path / name, "--stages", "none", *(("-c:v", codec) if codec else ()))
    assert r.returncode == 0, r.stderr
    with av.open(str(src)) as c:
        truth = [f.reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int) for f in c.decode(video=0)]
    with av.open(str(tmp_path / name)) as c:
        frames = list(c.decode(video=0))
    pictures = [f.to_ndarray(format="rgb24").astype(int) for f in frames]
    assert [round(float(f.time), 2) for f in frames] == [0.0, 0.04, 0.08, 0.12]
    errors = [np.square(p - t).mean() for p, t in zip(pictures, truth)]
    with av.open(str(src)) as c:  # libswscale's fixed palette of 3-3-2 bits, as a GIF of 256 colours
        fixed = [np.square(f.reformat(format="rgb24", interpolation=ACCURATE).reformat(format="rgb8")
                           .to_ndarray(format="rgb24").astype(int) - t).mean() for f, t in zip(c.decode(video=0), truth)]
    assert max(errors) == 0 if name != "out.gif" else 0 < max(e / f for e, f in zip(errors, fixed)) < 1 / 3
    assert np.abs(pictures[0][..., 0] - pictures[0][..., 2]).mean() > 10  # colour, not grey
    r = run_cli(src, tmp_path / "a64.avi", "--stages", "none", "-c:v", "a64multi")
    assert r.returncode == 2 and b"a64multi takes none of the pixel formats" in r.stderr


def test_fs_stops_once_the_output_holds_that_size(tmp_path):
    """-fs SIZE, as ffmpeg's: once the packets written reach SIZE, nothing more is written and the
    reading stops; the output is a whole file of the first frames, and a note says how many (the
    encoder's delayed frames are not counted). With --workers it is refused."""
    src = make_clip(tmp_path / "in.mkv", frames=60, audio="aac")
    r = run_cli(src, tmp_path / "out.mkv", "--stages", "none", "-fs", "6k", "-c:v", "libx264", "-crf", "0")
    assert r.returncode == 0, r.stderr
    frames = len(decode(tmp_path / "out.mkv"))
    assert 0 < frames < 60 and f"stopped at -fs 6000 bytes: the output holds the first {frames} frames".encode() \
        in r.stderr, r.stderr
    assert 6000 <= (tmp_path / "out.mkv").stat().st_size < 6000 + 4000  # the packet that crossed it, the trailer
    r = run_cli(src, tmp_path / "w.mkv", "--stages", "none", "-fs", "6k", "--workers", "2")
    assert r.returncode == 2 and b"--workers cannot be combined with" in r.stderr


def test_an_encoder_keeps_its_own_default_bitrate(tmp_path):
    """VC-2 (SMPTE's Dirac) codes at its own default of 600 Mb/s, which PyAV's streams leave unset:
    without it the encoder refused every frame ("Invalid argument"); -b:v still sets it. A rate too
    low for it is refused frame by frame: a one-line error that names the encoder and the fix."""
    src = make_clip(tmp_path / "in.mkv", frames=3)
    sizes = []
    for extra in ((), ("-b:v", "2M")):
        r = run_cli(src, tmp_path / "vc2.mkv", "--stages", "none", "-c:v", "vc2", "-y", *extra)
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp_path / "vc2.mkv")) as c:
            assert len(list(c.decode(video=0))) == 3
        sizes.append((tmp_path / "vc2.mkv").stat().st_size)
    assert sizes[1] < sizes[0] / 2, sizes
    r = run_cli(src, tmp_path / "low.mkv", "--stages", "none", "-c:v", "vc2", "-b:v", "200k")
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1 and not (tmp_path / "low.mkv").exists()
    assert r.stderr.startswith(b"dfstream: error: encoder 'vc2' refused frame 1: ") and b"check -b:v" in r.stderr


def test_raw_frames_go_to_a_pipe_in_the_format_asked(tmp_path):
    """-f rawvideo writes frames as they are, as ffmpeg does (it had written H.264 into the raw
    stream), in -pix_fmt rgb24, bgr24 or rgb48le as a program reading the pipe asks, each frame as
    it reads (R'G'B' had been refused); -f framemd5 hashes raw frames too; R'G'B' H.265 (gbrp) goes
    out in R'G'B' (it had been written as 12-bit Y'CbCr, which the encoder takes too)."""
    src = make_clip(tmp_path / "in.mkv", frames=3)
    with av.open(str(src)) as c:
        truth = np.stack([f.reformat(format="rgb24", interpolation=ACCURATE).to_ndarray() for f in c.decode(video=0)])
    r = run_cli(src, "-f", "rawvideo", "-", "--stages", "none", "-q")
    assert r.returncode == 0 and len(r.stdout) == 3 * 96 * 64 * 3 // 2, r.stderr  # yuv420p as it came
    for pix_fmt, dtype, order in (("rgb24", np.uint8, [0, 1, 2]), ("bgr24", np.uint8, [2, 1, 0]),
                                  ("rgb48le", np.dtype("<u2"), [0, 1, 2])):
        r = run_cli(src, "-f", "rawvideo", "-pix_fmt", pix_fmt, "-", "--stages", "none", "-q")
        assert r.returncode == 0, r.stderr
        frames = np.frombuffer(r.stdout, dtype).reshape(3, 64, 96, 3)[..., order].astype(float)
        deep = dtype != np.uint8  # against 8-bit codes: their rounding, and the 12-bit Y'CbCr it comes by
        assert np.abs(frames / (257 if deep else 1) - truth).max() <= (1.5 if deep else 1.0), pix_fmt
    r = run_cli(src, "-f", "framemd5", "-", "--stages", "none", "-q")
    assert r.returncode == 0 and b"#codec_id 0: rawvideo" in r.stdout and r.stdout.count(b"\n0,") == 3
    r = run_cli(src, tmp_path / "rgb.mkv", "--stages", "none", "-c:v", "libx265", "-pix_fmt", "gbrp",
                "-x265-params", "lossless=1")
    with av.open(str(tmp_path / "rgb.mkv")) as c:
        written = list(c.decode(video=0))
    assert r.returncode == 0 and written[0].format.name == "gbrp"
    written = np.stack([f.to_ndarray(format="rgb24") for f in written]).astype(float)
    assert np.abs(written - truth).max() <= 1


@pytest.mark.parametrize("pattern, exact", [("frame%05d.png", True), ("%03d.dpx", True), ("f%d.jpg", False)])
def test_an_image_pattern_writes_a_sequence(tmp_path, pattern, exact):
    """OUT with FFmpeg's number pattern writes one image per frame, numbered from 1 as FFmpeg's
    image2 muxer numbers them (how scans are handed on): PNG and DPX in R'G'B' exactly as each frame
    reads, JPEG within its losses; images hold no sound, so none is noted as dropped; nothing else
    is left in the folder. The first image there already is refused without -y; with -y, images an
    earlier, longer run left after the new ones are noted."""
    src = make_clip(tmp_path / "in.mkv", frames=4, audio="aac")
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / pattern
    r = run_cli(src, target, "--stages", "none")
    assert r.returncode == 0 and b"note" not in r.stderr, r.stderr
    with av.open(str(src)) as c:
        truth = [f.reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int) for f in c.decode(video=0)]
    files = sorted(os.listdir(tmp_path / "out"))
    assert files == sorted(pattern % n for n in range(1, 5))
    for n, frame in enumerate(truth, 1):
        with av.open(str(tmp_path / "out" / (pattern % n))) as c:
            picture = next(c.decode(video=0)).reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int)
        error = np.abs(picture - frame)
        assert error.max() == 0 if exact else 0 < error.mean() < 4  # JPEG at its encoder's default quality
    again = run_cli(src, target, "--stages", "none")
    assert again.returncode == 1 and f"'{tmp_path / 'out' / (pattern % 1)}' exists".encode() in again.stderr
    shorter = run_cli(src, target, "--stages", "none", "-y", "-frames:v", "2")
    assert shorter.returncode == 0 and f"'{tmp_path / 'out' / (pattern % 3)}' and the images after it are an " \
                                      f"earlier run's".encode() in shorter.stderr, shorter.stderr
    assert sorted(os.listdir(tmp_path / "out")) == files


def test_start_number_numbers_a_sequence_written_and_read(tmp_path):
    """-start_number 1001 after -i numbers the images written from 1001 (scans keep their frame
    numbers); before -i, as ffmpeg reads it, the first image read: 1003 reads the last two of four;
    for a video output it is refused."""
    src = make_clip(tmp_path / "in.mkv", frames=4)
    (tmp_path / "scan").mkdir()
    pattern = tmp_path / "scan" / "f%05d.png"
    r = run_cli(src, pattern, "--stages", "none", "-start_number", "1001")
    assert r.returncode == 0 and sorted(os.listdir(tmp_path / "scan")) == [f"f{n:05d}.png" for n in range(1001, 1005)]
    r = run_cli("-start_number", "1003", "-i", pattern, tmp_path / "read.mkv", "--stages", "none")
    assert r.returncode == 0 and len(decode(tmp_path / "read.mkv")) == 2, r.stderr
    r = run_cli(src, tmp_path / "video.mkv", "--stages", "none", "-start_number", "1001")
    assert r.returncode == 2 and b"-start_number numbers a sequence of images" in r.stderr
    r = run_cli(src, "-f", "image2", tmp_path / "scan" / "g%d.png", "--stages", "none")  # the format named
    with av.open(str(tmp_path / "scan" / "g1.png")) as c:
        assert r.returncode == 0 and c.streams.video[0].codec_context.name == "png"  # as the name says, not MJPEG


def test_transparency_left_out_is_noted(tmp_path):
    """A video with an alpha channel (QuickTime Animation in ARGB, as titles are made) is written
    without it, as every format dfstream writes is opaque: a note says so; an opaque one has none."""
    src = tmp_path / "titles.mov"
    with av.open(str(src), "w") as out:
        video = out.add_stream("qtrle", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "argb"
        picture = np.zeros((48, 64, 4), np.uint8)
        picture[:, :32] = 255  # opaque white on the left, transparent on the right
        out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgba")))
        out.mux(video.encode())
    r = run_cli(src, tmp_path / "out.mkv", "--stages", "none")
    assert r.returncode == 0 and b"note: leaving out the transparency of '" in r.stderr, r.stderr
    r = run_cli(make_clip(tmp_path / "opaque.mkv", frames=2), tmp_path / "opaque_out.mkv", "--stages", "none")
    assert r.returncode == 0 and b"transparency" not in r.stderr


def test_a_still_of_deep_video_keeps_its_depth(tmp_path):
    """A 10-bit film's still is a 16-bit PNG, within half a 10-bit code of the frame."""
    src = make_clip(tmp_path / "in.mkv", frames=3, pix_fmt="yuv420p10le", codec="ffv1")
    r = run_cli(src, tmp_path / "key.png", "--stages", "none")
    assert r.returncode == 0, r.stderr
    with av.open(str(src)) as c:
        truth = next(c.decode(video=0)).reformat(format="gbrp16le", interpolation=ACCURATE).to_ndarray()
    with av.open(str(tmp_path / "key.png")) as c:
        still = next(c.decode(video=0))
    assert still.format.name == "rgb48be"
    assert np.abs(still.to_ndarray().astype(int) - truth.astype(int)).max() <= 64 / 2


def test_q_v_sets_a_jpeg_still_s_quantizer(tmp_path):
    """-q:v, as ffmpeg's: 2 keeps a JPEG still nearer the frame than 31, in more bytes."""
    src = make_clip(tmp_path / "in.mkv", frames=3, width=320, height=192)
    with av.open(str(src)) as c:
        truth = next(c.decode(video=0)).reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int)
    written = {}
    for q in ("2", "31"):
        out = tmp_path / f"q{q}.jpg"
        r = run_cli(src, out, "--stages", "none", "-q:v", q)
        assert r.returncode == 0, r.stderr
        with av.open(str(out)) as c:
            still = next(c.decode(video=0)).reformat(format="rgb24", interpolation=ACCURATE).to_ndarray().astype(int)
        written[q] = np.abs(still - truth).mean(), out.stat().st_size
    assert written["2"][0] < written["31"][0] / 2 and written["2"][1] > 2 * written["31"][1]


def test_ffmpeg_s_log_options_choose_what_is_printed(tmp_path):
    """-hide_banner, -nostdin and -dn are taken; -loglevel error prints nothing of a run that works,
    -v warning its notes alone, -nostats all but the progress line, as ffmpeg's."""
    src = make_clip(tmp_path / "in.mkv", frames=10, audio="pcm_u8", audio_rate=8000)
    printed = {}
    for name, options in (("error", ("-hide_banner", "-nostdin", "-dn", "-loglevel", "error")),
                          ("warning", ("-v", "warning")),
                          ("nostats", ("-nostats",)), ("info", ())):
        r = run_cli(src, tmp_path / f"{name}.mp4", "--stages", "none", *options)
        assert r.returncode == 0 and (tmp_path / f"{name}.mp4").exists(), r.stderr
        printed[name] = r.stderr.decode().splitlines()
    note = "note: re-encoding audio stream #1 (pcm_u8) to aac: mp4 cannot hold pcm_u8"
    assert printed["error"] == [] and printed["warning"] == [note]
    assert note in printed["nostats"] and any(line.startswith("10 frames in") for line in printed["nostats"])
    assert not any(line.startswith("frames ") for line in printed["nostats"])
    assert any(line.startswith("frames ") for line in printed["info"])


@pytest.mark.parametrize("codec, banner", [("libx265", "x265 [info]"), ("hevc", "x265 [info]"), ("libsvtav1", "Svt[info]")])
def test_encoders_that_print_themselves_follow_loglevel(tmp_path, codec, banner):
    """x265 and SVT-AV1 write to standard error on their own: -loglevel error silences them, as it
    does dfstream; verbose shows their banners."""
    src = make_clip(tmp_path / "in.mkv", frames=3, width=64, height=64)
    for level, shown in (("error", False), ("verbose", True)):
        r = run_cli(src, tmp_path / f"{level}.mkv", "--stages", "none", "-c:v", codec, "-loglevel", level,
                    *(("-x265-params", "keyint=5") if codec != "libsvtav1" else ("-g", "5")))
        assert r.returncode == 0, r.stderr
        assert (banner in r.stderr.decode()) == shown and (r.stderr == b"") == (not shown), r.stderr


def test_a_codec_s_name_means_ffmpeg_s_encoder_for_it(tmp_path):
    """-c:v h264 is libx264, as in ffmpeg, with dfstream's settings for it: crf 18, not x264's 23."""
    out = tmp_path / "out.mkv"
    r = run_cli(make_clip(tmp_path / "in.mkv", frames=3), out, "--stages", "none", "-c:v", "h264")
    assert r.returncode == 0 and b" crf=18.0 " in out.read_bytes(), r.stderr


def test_a_photo_goes_through_the_chain_into_a_still(tmp_path):
    """One image in, one still out: the photo through the stages (gray here), PNG to PNG."""
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(0, 64, 96)[..., ::-1])
    r = run_cli(photo, tmp_path / "grey.png", "--stages", "gray")
    assert r.returncode == 0 and b"\n1 frame in " in b"\n" + r.stderr, r.stderr
    with av.open(str(tmp_path / "grey.png")) as c:
        pictures = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    assert len(pictures) == 1 and pictures[0].shape == (64, 96, 3)
    assert np.abs(pictures[0] - pictures[0][..., :1]).max() <= 1  # grey: R' = G' = B'
    assert pictures[0].std() > 10  # the photo's picture, not a flat frame
