"""Whole runs: luma kept code for code, depth kept, tags written, trims frame-exact."""

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

import dfstream
from dfstream.sink import EncoderSettings

from tests.conftest import MEDIA, WALKERS, make_clip, needs_media, pattern

LOSSLESS = EncoderSettings(codec="ffv1")
GOAT = MEDIA / "flicker" / "goat"


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """One plane's codes as stored, line padding cut off."""
    dtype = np.uint8 if max(x.bits for x in frame.format.components) <= 8 else np.uint16
    p = frame.planes[index]
    return np.frombuffer(p, dtype).reshape(-1, p.line_size // dtype().itemsize)[: p.height, : p.width]


def luma_planes(path) -> tuple[list[np.ndarray], av.VideoFrame]:
    """The Y' plane of every frame and the first frame."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [plane(f, 0) for f in frames], frames[0]


def write_gray(path, images, pix_fmt="gray", tags=(2, 0)) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = images[0].shape[1], images[0].shape[0], pix_fmt
        s.codec_context.colorspace, s.codec_context.color_range = tags
        for i, image in enumerate(images):
            f = av.VideoFrame.from_ndarray(image, format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@needs_media(GOAT)
def test_real_grey_film_keeps_its_luma_through_the_reference_colorizer(tmp_path):
    """Real black-and-white footage as a grey FFV1 (range unspecified, as tools write it from
    PNGs), coloured by the reference colorizer: the written luma is the input's, code for code."""
    images = [cv2.resize(cv2.imread(str(GOAT / "input" / f"{i:05d}.jpg"), cv2.IMREAD_GRAYSCALE), (320, 180),
                         interpolation=cv2.INTER_AREA) for i in range(6)]
    source = tmp_path / "grey.mkv"
    write_gray(source, images)
    reference = tmp_path / "still.png"
    cv2.imwrite(str(reference), cv2.resize(cv2.imread(str(GOAT / "processed" / "00000.jpg")), (320, 180)))
    out = tmp_path / "colour.mkv"
    dfstream.process(str(source), str(out), stages="colorize", engines={"colorize": "reference"},
                     references=[str(reference)], encoder=LOSSLESS)
    written, first = luma_planes(out)
    assert first.format.name == "yuv420p" and first.color_range == 2  # full range, as the grey was
    assert all(np.array_equal(a, b) for a, b in zip(written, images))
    assert np.abs(plane(first, 1).astype(int) - 128).mean() > 2  # it was coloured


def test_a_first_stage_reading_only_luma_gets_the_decoded_plane_and_writes_the_same(tmp_path):
    """The reference colorizer reads only the luma: no R'G'B' is decoded for it, and it writes
    code for code what it writes where R'G'B' is decoded (a colour input, so the two differ)."""
    from dfstream.engines.colorize.reference import ReferenceColorizer
    from dfstream.pipeline import Options, Pipeline

    class ReadsColour(ReferenceColorizer):
        reads_colour = True

    source = make_clip(tmp_path / "in.mkv", codec="ffv1", frames=5, width=64, height=48)
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), cv2.cvtColor(pattern(9, 48, 64), cv2.COLOR_RGB2BGR))
    written = []
    for cls in (ReferenceColorizer, ReadsColour):
        pipeline = Pipeline(str(source), Options(stages=[cls([str(still)])], encoder=LOSSLESS))
        assert pipeline.source.rgb is (cls is ReadsColour)
        pipeline.run(str(tmp_path / f"{cls.__name__}.mkv"))
        with av.open(str(tmp_path / f"{cls.__name__}.mkv")) as c:
            written.append([f.to_ndarray() for f in c.decode(video=0)])
    assert len(written[0]) == 5 and all(np.array_equal(a, b) for a, b in zip(*written))


@pytest.mark.parametrize("pix_fmt, tags", [("yuv420p", (6, 1)), ("yuv420p10le", (9, 1)), ("yuv444p12le", (1, 2))])
@pytest.mark.parametrize("stages", ["none", "gray"])
def test_none_and_gray_keep_luma_and_depth(tmp_path, pix_fmt, tags, stages):
    source = make_clip(tmp_path / "in.mkv", pix_fmt=pix_fmt, codec="ffv1", frames=4, width=34, height=20)
    retagged = tmp_path / "tagged.mkv"
    with av.open(str(source)) as c, av.open(str(retagged), "w") as out:
        s_in = c.streams.video[0]
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = s_in.width, s_in.height, pix_fmt
        s.codec_context.colorspace, s.codec_context.color_range = tags
        for f in c.decode(s_in):
            f.pts = None
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    out = tmp_path / "out.mkv"
    dfstream.process(str(retagged), str(out), stages=stages, encoder=LOSSLESS)
    (before, _), (after, first_out) = luma_planes(retagged), luma_planes(out)
    assert first_out.format.name == pix_fmt  # depth and layout kept
    assert (first_out.colorspace, first_out.color_range) == tags  # the colour space is kept
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    if stages == "gray":
        mid = 2 ** (max(c.bits for c in first_out.format.components) - 1)
        assert np.abs(plane(first_out, 1).astype(int) - mid).max() <= 1


def test_output_tags_say_what_was_written(tmp_path):
    """A passthrough keeps the input's tags as they are (unspecified stays so); a processed output
    carries the matrix and range it was written with, and the input's primaries and transfer."""
    source = make_clip(tmp_path / "in.mkv", frames=3, width=64, height=48)
    with av.open(str(source)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_primaries) == (2, 2)
    kept, processed = tmp_path / "kept.mkv", tmp_path / "processed.mkv"
    dfstream.process(str(source), str(kept), stages="none")
    dfstream.process(str(source), str(processed), stages="gray")
    with av.open(str(kept)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc) == (2, 2, 2)
    with av.open(str(processed)) as c:
        ctx = c.streams.video[0].codec_context
        # 48 lines, untagged: read as BT.601 limited, written and tagged so (SD primaries, transfer)
        assert (ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc) == (6, 1, 6, 6)


# --- trims ------------------------------------------------------------------------------------


def video_times(path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


def audio_span(path) -> tuple[float, float]:
    with av.open(str(path)) as c:
        times = [float(p.pts * p.time_base) for p in c.demux(audio=0) if p.pts is not None]
    return min(times), max(times)


@needs_media(WALKERS)
@pytest.mark.parametrize("start", [None, 2.0])
def test_trims_on_real_footage_are_frame_exact(tmp_path, start):
    """``-t 1`` on the 25 fps AVI gives 25 frames from time 0; with ``-ss 2`` too, and the audio
    of the same second comes along, starting with the video."""
    out = tmp_path / "out.mkv"
    dfstream.process(str(WALKERS), str(out), stages="none", start=start, duration=1.0)
    times = video_times(out)
    assert len(times) == 25
    assert times[0] == 0 and times[-1] == pytest.approx(0.96)
    first, last = audio_span(out)
    assert 0 <= first < 0.05 and 0.9 < last < 1.0


def test_trims_on_a_variable_frame_rate_input(tmp_path):
    """VFR: frames at irregular times; ``-ss``/``-t`` keep exactly those in the window, re-timed
    from the first kept frame, gaps kept."""
    pts = [0, 30, 45, 120, 130, 200, 330, 340, 420, 500, 610, 700, 710, 820, 900, 1000]
    source = make_clip(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), audio="aac")
    out = tmp_path / "out.mkv"
    dfstream.process(str(source), str(out), stages="none", start=0.125, duration=0.5)
    kept = [t for t in pts if t >= 125][:]
    kept = [t for t in kept if t - kept[0] < 500]
    assert video_times(out) == pytest.approx([(t - kept[0]) / 1000 for t in kept])
    first, last = audio_span(out)
    assert 0 <= first < 0.03 and last < 0.5
