"""Colour conformance: the R'G'B' the stages see is what libswscale (FFmpeg's converter, behind
ffmpeg, ffplay and PyAV's to_ndarray) makes of the same frame, for every pixel format, range and
matrix tag, and what dfstream writes reads back as it was meant.

The expected interpretation of each tag is written out here on its own (``swscale_reading``):
gray and yuvj formats are full range whatever their tag says (libswscale ignores it), other
Y'CbCr limited unless tagged full;
an unspecified matrix is BT.601 below 720 lines and BT.709 from 720 up.
"""


import av
import numpy as np
import pytest
import torch

from dfstream.colour import LAYOUTS, Colour, Tags, from_rgb, rgb_from_packed
from dfstream.engines import BatchStage
from dfstream.planes import ACCURATE, RGBReader, frames_from_arrays, plane_arrays, white_code

FORMATS = [
    "gray", "gray10le", "gray12le", "gray16le", "ya8",
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuv411p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le", "yuv422p12le", "yuv444p12le",
    "yuva420p", "nv12", "nv21", "p010le", "yuyv422", "uyvy422",
    "rgb24", "bgr24", "rgba", "bgra", "bgr0", "gbrp", "gbrp10le", "gbrp12le", "rgb48le", "pal8",
]
RANGES = {"unspecified": 0, "limited": 1, "full": 2}
MATRIX_TAGS = {"unspecified": 2, "bt470bg": 5, "smpte170m": 6, "bt709": 1, "bt2020nc": 9, "fcc": 4,
               "smpte240m": 7}
SWS_NAMES = {5: "itu601", 6: "itu601", 1: "itu709", 9: "bt2020", 4: "fcc", 7: "smpte240m"}
MSB_ALIGNED = {"p010le": 6}
LOSSLESS = {"qp": "0"}  # libx264


def swscale_reading(frame: av.VideoFrame, out: str = "rgb24") -> np.ndarray:
    """libswscale's R'G'B' of a frame, with the interpretation spelled out from the rules above."""
    fmt = frame.format
    if fmt.is_rgb or fmt.has_palette:
        return frame.to_ndarray(format=out)
    gray = len(fmt.components) <= 2
    full = frame.color_range == 2 or fmt.name.startswith("yuvj") or gray
    matrix = SWS_NAMES.get(frame.colorspace, "itu601" if frame.height < 720 else "itu709")
    return frame.to_ndarray(format=out, src_colorspace=matrix, src_color_range="JPEG" if full else "MPEG",
                            interpolation=ACCURATE if out == "rgb24" else None)


def patch_interiors(height: int, width: int, first_column: int = 2) -> np.ndarray:
    """Rows 2 to 5 and columns ``first_column`` to 5 of each 8x8 patch: away from where subsampled
    chroma blends patches."""
    rows = [i % 8 in range(2, 6) for i in range(height)]
    return np.outer(rows, [j % 8 in range(first_column, 6) for j in range(width)])


def full_scale_reading(frame: av.VideoFrame, colour: Colour) -> np.ndarray:
    """libswscale's 16-bit R'G'B' of a frame brought to full scale by its format's white, in 8-bit codes."""
    white = white_code(frame.format.name, colour)
    return np.minimum(swscale_reading(frame, "rgb48le") * (65535 / white), 65535) / 257


def stages_see(frame: av.VideoFrame) -> np.ndarray:
    """What the runtime hands the stages for this frame, as [H, W, 3] float codes of 8 bits."""
    colour = Colour.of_stream(frame.format, frame.colorspace, frame.color_range, frame.height)
    rgb = rgb_from_packed(torch.from_numpy(RGBReader(colour)(frame)[None]))
    return rgb[0].permute(1, 2, 0).double().numpy() * 255


def noise_frame(name: str, width: int, height: int, seed: int) -> av.VideoFrame:
    """Random codes in every plane (any value the format can hold)."""
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(width, height, name)
    bits = max(c.bits for c in frame.format.components)
    for index, plane in enumerate(frame.planes):
        if name == "pal8" and index == 1:
            np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, np.uint8)
            np.frombuffer(plane, np.uint8)[3::4] = 255  # opaque palette entries
        elif bits > 8 and bits < 16:
            a = np.frombuffer(plane, np.uint16)
            a[:] = rng.integers(0, 2**bits, a.size).astype(np.uint16) << MSB_ALIGNED.get(name, 0)
        else:
            np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, np.uint8)
    return frame


def gradient_frame(name: str, width: int, height: int, seed: int) -> av.VideoFrame:
    """Smooth colour ramps with a little noise, converted into the format by libswscale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    planes = [0.1 + 0.8 * x, 0.5 + 0.35 * np.sin(4 * y + 1), 0.5 + 0.35 * np.cos(3 * x + 2 * y)]
    array = np.stack([np.clip(p + rng.normal(0, 0.01, p.shape), 0, 1) for p in planes], -1)
    if name == "pal8":  # libswscale cannot write palettes: a ramp of indices into a smooth palette
        frame = noise_frame(name, width, height, seed)
        np.frombuffer(frame.planes[0], np.uint8)[:] = (np.arange(frame.planes[0].buffer_size) * 7) % 256
        palette = np.frombuffer(frame.planes[1], np.uint8).reshape(256, 4)
        palette[:, :3] = np.linspace([20, 200, 90], [240, 30, 160], 256).astype(np.uint8)
        return frame
    source = av.VideoFrame.from_ndarray((array * 65535).astype(np.uint16), format="rgb48le")
    return source.reformat(format=name)


def tagged(frame: av.VideoFrame, colorspace: int, color_range: int) -> av.VideoFrame:
    frame.colorspace, frame.color_range = colorspace, color_range
    return frame


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("content", [noise_frame, gradient_frame])
def test_stages_see_what_libswscale_reads(name, content):
    """Every format x range tag x matrix tag, at even and odd sizes: within 1 code value of
    libswscale's rgb24 (its rgb48 for deeper formats)."""
    sizes = [(32, 18), (17, 11)] if name not in ("yuyv422", "uyvy422", "yuv411p") else [(32, 18)]
    for width, height in sizes:
        for range_name, color_range in RANGES.items():
            for matrix_name, colorspace in MATRIX_TAGS.items():
                frame = tagged(content(name, width, height, seed=width + color_range + colorspace), colorspace, color_range)
                got = stages_see(frame)
                where = f"{name} {width}x{height} range {range_name} matrix {matrix_name}"
                if max(c.bits for c in frame.format.components) > 8:
                    # deeper than 8 bits: libswscale's 16-bit R'G'B' brought to full scale (its
                    # 8-bit output of such frames is dithered and takes other chroma filters: up
                    # to 3 codes off on noise)
                    deep = full_scale_reading(frame, Colour.of_stream(frame.format, colorspace, color_range, height))
                    assert np.abs(got - deep).max() <= 1e-2, where
                else:
                    assert np.abs(got - swscale_reading(frame)).max() <= 1.0, where


@pytest.mark.parametrize("name", ["yuv420p", "yuv422p", "yuv444p", "nv12", "yuvj420p", "yuv420p10le",
                                  "yuv422p10le", "yuv444p12le", "gray10le"])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_stages_see_the_standard_colours(name, matrix):
    """Y'CbCr codes read as the matrix's formula says, checked inside flat chroma patches against
    float64 arithmetic written out here: 8-bit frames to about the rounding of 8-bit R'G'B'
    (libswscale's default fast path reads them about 1 code dark, up to 4 off), deeper ones
    closer (libswscale's 16-bit output of them runs up to 0.4% short of full scale)."""
    rng = np.random.default_rng(5)
    layout = LAYOUTS[name]
    frame = av.VideoFrame(64, 48, name)
    full = layout.full_range or layout.gray
    frame.colorspace, frame.color_range = {"bt601": 6, "bt709": 1}[matrix], 2 if full else 1
    planes = plane_arrays(frame, layout)
    shift = layout.bits - 8
    luma = rng.integers(16 << shift, (235 << shift) + 1, (48, 64))
    luma[0, :2] = (16 << shift, 235 << shift) if not full else (0, (1 << layout.bits) - 1)  # black, white
    planes[0][...] = luma
    chroma = rng.integers(80 << shift, 177 << shift, (2, 6, 8))  # one value per 8x8 patch
    for plane, values in zip(planes[1:], chroma):
        plane[...] = values.repeat(plane.shape[0] // 6, 0).repeat(plane.shape[1] // 8, 1)
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
    top = (1 << layout.bits) - 1
    y = luma / top if full else (luma / (1 << shift) - 16) / 219
    cb, cr = ((c.repeat(8, 0).repeat(8, 1) / (1 << shift) - 128) / (255 if full else 224) for c in chroma)
    if layout.gray:
        cb = cr = np.zeros_like(y)
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    want = np.clip(np.stack([r, (y - kr * r - kb * b) / (1 - kr - kb), b], -1), 0, 1) * 255
    inner = patch_interiors(48, 64)
    inner[0, :2] = True
    error = (stages_see(frame) - want)[inner]
    bound = 0.6 if layout.bits == 8 else 0.05  # libswscale's fixed point: 0.51 and 0.01 codes
    assert np.abs(error).max() <= bound and abs(error.mean()) < 0.1


def test_gray_with_unspecified_range_is_full_range():
    """The bug that started this: a grey FFV1 from PNGs reads code for code, not stretched."""
    frame = av.VideoFrame.from_ndarray(np.arange(256, dtype=np.uint8).reshape(16, 16), format="gray")
    assert frame.color_range == 0
    np.testing.assert_allclose(stages_see(frame)[..., 0], np.arange(256).reshape(16, 16), atol=1e-4)


def test_unspecified_matrix_follows_the_frame_height():
    fmt = av.VideoFormat("yuv420p")
    assert Colour.of_stream(fmt, 2, 0, 480) == Colour("bt601", False)
    assert Colour.of_stream(fmt, 2, 0, 720) == Colour("bt709", False)
    assert Colour.of_stream(fmt, 9, 2, 480) == Colour("bt2020", True)
    assert Colour.of_stream(av.VideoFormat("yuvj420p"), 1, 1, 480).full_range
    assert Colour.of_stream(av.VideoFormat("gray"), 2, 0, 480).full_range
    assert Colour.of_stream(av.VideoFormat("gray10le"), 2, 1, 480).full_range  # as libswscale reads it


# --- writing ------------------------------------------------------------------------------------

WRITTEN = ["yuv420p", "yuvj420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv444p10le", "yuv420p12le", "gray",
           "gray10le", "nv12"]


@pytest.mark.parametrize("name", WRITTEN)
@pytest.mark.parametrize("matrix", ["bt601", "bt709", "bt2020", "smpte240m", "fcc"])
@pytest.mark.parametrize("full", [False, True])
def test_written_frames_read_back_by_libswscale(name, matrix, full):
    """R'G'B' written by ``from_rgb`` and tagged reads back as the colours meant (through libswscale
    as dfstream reads): flat patches of random colours, compared away from their edges (where
    chroma subsampling blends them), within the codes' own rounding (read with libswscale's
    default flags, 8-bit 4:2:0 was up to 3.2 codes off, deeper frames 1.2)."""
    layout = LAYOUTS[name]
    rng = np.random.default_rng(7)
    patches = rng.uniform(0.05, 0.95, (3, 3, 4))
    if layout.gray:
        patches = np.repeat(patches[:1], 3, 0)
    rgb = patches.repeat(8, 1).repeat(8, 2)  # 3 x 24 x 32: 8x8 patches
    colour = Colour(matrix, full or layout.full_range or layout.gray)
    planes = [p.numpy() for p in from_rgb(torch.from_numpy(rgb[None]).float(), layout, colour)]
    (frame,) = frames_from_arrays(planes, layout, Tags().written(colour, 24))
    assert (frame.colorspace, frame.color_range) == (colour.avcol_spc, colour.avcol_range)
    error = np.abs(stages_see(frame) - rgb.transpose(1, 2, 0) * 255)
    inner = patch_interiors(24, 32, first_column=3)  # read as centred: column 2 takes in the patch before
    # the codes' rounding: half a luma code is 0.58 codes of R'G'B', half a chroma code up to 1.0 more
    bound = (0.6 if layout.gray else 1.6) / 2 ** (layout.bits - 8)
    assert error[inner].max() <= bound


def test_written_luma_is_the_luma_meant_code_for_code():
    """Luma codes written from R'G'B' are the rounded Y' of the matrix (no drift at any depth)."""
    rng = np.random.default_rng(3)
    for name in ("yuv420p", "yuv444p10le", "gray", "gray12le", "yuvj420p"):
        layout = LAYOUTS[name]
        for matrix in ("bt601", "bt709"):
            colour = Colour(matrix, layout.full_range)
            rgb = torch.from_numpy(rng.uniform(0, 1, (1, 3, 6, 8)))
            kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
            y = kr * rgb[:, 0] + (1 - kr - kb) * rgb[:, 1] + kb * rgb[:, 2]
            top = 2**layout.bits - 1
            s = 2 ** (layout.bits - 8)
            want = y * top if colour.full_range else 16 * s + 219 * s * y
            got = from_rgb(rgb.float(), layout, colour)[0].to(torch.int32)
            assert torch.equal(got, want.round().to(torch.int32)), (name, matrix)


# --- through real files ----------------------------------------------------------------------


class Recorder(BatchStage):
    """A stage that keeps what it was given and passes it on."""

    name = "record"

    def __init__(self):
        self.seen: list[torch.Tensor] = []

    def process(self, rgb, ctx):
        self.seen.append(rgb.clone())
        return rgb


def write_file(path, frames, codec="ffv1", pix_fmt=None, tags=(2, 0, 2, 2), options=None):
    """Encode frames with the stream tagged (colorspace, range, primaries, transfer)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=25, options=options or {})
        s.width, s.height, s.pix_fmt = frames[0].width, frames[0].height, pix_fmt or frames[0].format.name
        ctx = s.codec_context
        ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc = tags
        for i, f in enumerate(frames):
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


FILES = [  # (pixel format, codec, container, tags: colorspace, range, primaries, transfer)
    ("gray", "ffv1", "mkv", (2, 0, 2, 2)),
    ("gray10le", "ffv1", "mkv", (2, 0, 2, 2)),
    ("gray", "ffv1", "mkv", (2, 1, 2, 2)),
    ("yuv420p", "ffv1", "mkv", (2, 0, 2, 2)),
    ("yuv420p", "libx264", "mp4", (1, 1, 1, 1)),
    ("yuvj420p", "mjpeg", "avi", (2, 2, 2, 2)),
    ("yuv444p", "ffv1", "mkv", (1, 2, 1, 1)),
    ("yuv420p10le", "ffv1", "mkv", (9, 1, 9, 14)),
    ("yuv422p12le", "ffv1", "mkv", (5, 1, 5, 6)),
    ("bgr24", "libx264rgb", "mkv", (2, 0, 2, 2)),
    ("gbrp10le", "ffv1", "mkv", (2, 0, 2, 2)),
    ("bgr0", "ffv1", "mkv", (2, 0, 2, 2)),
    ("ya8", "ffv1", "mkv", (2, 0, 2, 2)),
    ("rgb24", "png", "mov", (2, 0, 2, 2)),
    ("pal8", "png", "mov", (2, 0, 2, 2)),
    ("rgb24", "gif", "gif", (0, 2, 2, 2)),
]


@pytest.mark.parametrize("pix_fmt, codec, ext, tags", FILES, ids=[f"{f}-{c}-{t[0]}-{t[1]}" for f, c, _, t in FILES])
def test_files_reach_the_stages_as_libswscale_reads_them(tmp_path, pix_fmt, codec, ext, tags):
    """The runtime path (container tags, decode thread, upload) on encoded files of each kind."""
    import dfstream

    frames = [gradient_frame(pix_fmt if codec != "gif" else "rgb24", 48, 34, seed=i) for i in range(3)]
    if codec == "gif":
        frames = [f.reformat(format="rgb8") for f in frames]
    path = tmp_path / f"in.{ext}"
    write_file(path, frames, codec, pix_fmt=None if codec != "gif" else "rgb8", tags=tags)
    recorder = Recorder()
    dfstream.process(str(path), str(tmp_path / "out.mkv"), stages=[recorder])
    seen = torch.cat(recorder.seen).permute(0, 2, 3, 1).double().numpy() * 255
    with av.open(str(path)) as c:
        decoded = list(c.decode(video=0))
        ctx = c.streams.video[0].codec_context
        for f in decoded:  # the stream's tags are the interpretation, as the runtime takes them
            f.colorspace, f.color_range = ctx.colorspace, ctx.color_range
        deep = max(c.bits for c in decoded[0].format.components) > 8
        colour = Colour.of_stream(decoded[0].format, ctx.colorspace, ctx.color_range, decoded[0].height)
        want = np.stack([full_scale_reading(f, colour) if deep else swscale_reading(f) for f in decoded])
    assert seen.shape == want.shape
    assert np.abs(seen - want).max() <= (0.01 if deep else 1e-4)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p"])
def test_frames_a_stage_leaves_alone_are_written_back_as_they_came(tmp_path, pix_fmt):
    """8-bit Y'CbCr in lossless H.264 through R'G'B' and back, written losslessly in the same
    format: the luma codes come back as they were (libswscale's default reading took 4:2:0 luma
    about a code dark) and subsampled chroma within 2 codes, 0.25 on average: interpolated up and
    averaged down where H.264 sites it (averaged to the centre between samples, as before 12-05,
    0.76 on average)."""
    import dfstream
    from dfstream.sink import EncoderSettings

    frames = [gradient_frame(pix_fmt, 64, 48, seed=i) for i in range(3)]
    write_file(tmp_path / "in.mkv", frames, "libx264", tags=(1, 1, 1, 1), options=LOSSLESS)
    dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / "out.mkv"), stages=[Recorder()],
                     encoder=EncoderSettings(pix_fmt=pix_fmt, options=LOSSLESS))
    layout = LAYOUTS[pix_fmt]
    with av.open(str(tmp_path / "out.mkv")) as c:
        written = list(c.decode(video=0))
    assert len(written) == 3
    for f, g in zip(frames, written):
        (y, *chroma), (y_back, *chroma_back) = plane_arrays(f, layout), plane_arrays(g, layout)
        assert np.abs(y.astype(int) - y_back).max() <= 1 and np.abs(y.astype(int) - y_back).mean() < 0.02
        for c, c_back in zip(chroma, chroma_back):
            error = np.abs(c.astype(int) - c_back)
            assert error.max() <= 2 and error.mean() < 0.25


def test_written_chroma_is_tagged_where_it_sits(tmp_path):
    """``from_rgb`` sites chroma as MPEG-2, H.264 and HEVC do, and the output says so (Matroska's
    ChromaSitingHorz 1, on the left sample; ChromaSitingVert 2, half way). A stream passed through
    as decoded is not tagged (where its chroma sits is not known here)."""
    import dfstream

    frames = [gradient_frame("yuv420p", 64, 48, seed=i) for i in range(3)]
    write_file(tmp_path / "in.mkv", frames, tags=(1, 1, 1, 1))
    siting = {}
    for stages in ([Recorder()], "none"):
        out = tmp_path / f"out-{len(siting)}.mkv"
        dfstream.process(str(tmp_path / "in.mkv"), str(out), stages=stages)
        data = out.read_bytes()
        header = data[: data.find(b"\x1f\x43\xb6\x75")]  # up to the first Cluster: no coded frames
        siting[len(siting)] = [header[i + 2 : i + 4] if i >= 0 else None  # the ID, then a one-byte size
                               for i in (header.find(b"\x55\xb7\x81"), header.find(b"\x55\xb8\x81"))]
    assert siting == {0: [b"\x81\x01", b"\x81\x02"], 1: [None, None]}


def test_full_range_goes_out_limited_where_it_would_not_read_back_so(tmp_path):
    """ProRes holds video range alone (FFmpeg's decoder reads it so, whatever the container says)
    and NUT has no place for the range, so there a full-range input is written in video range, as
    ffmpeg converts it for ProRes, with a note. Written full range, as before 12-07, ProRes read
    back 30.7 dB from the frames (black grey, white clipped). H.264 says its range itself."""
    import dfstream
    from dfstream.sink import EncoderSettings

    frames = [gradient_frame("yuv422p10le", 64, 48, seed=i) for i in range(3)]
    write_file(tmp_path / "in.mkv", frames, tags=(1, 2, 1, 1))  # FFV1, BT.709, full range
    want = np.stack([swscale_reading(tagged(f, 1, 2), "rgb48le") / 257 for f in frames])
    notes, ranges = {}, {}
    for codec, ext in (("prores_ks", "mov"), ("ffv1", "nut"), ("libx264", "mkv")):
        settings = EncoderSettings(codec=codec, options=LOSSLESS if codec == "libx264" else {})
        summary = dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / f"out.{ext}"), stages="none",
                                   encoder=settings)
        notes[codec] = [n for n in summary.notes if "range" in n]
        with av.open(str(tmp_path / f"out.{ext}")) as c:
            written = list(c.decode(video=0))
        ranges[codec] = written[0].color_range
        back = np.stack([swscale_reading(f, "rgb48le") / 257 for f in written])
        error = np.abs(back - want).mean()  # read as the wrong range: 5 or more
        assert error < {"prores_ks": 1.5, "ffv1": 0.5, "libx264": 1.2}[codec], codec  # ProRes's loss 0.73,
        # the range's rounding 0.31, 8 bits (this x264 writes no 10-bit) 0.95
    assert ranges == {"prores_ks": 1, "ffv1": 0, "libx264": 2}  # NUT: unspecified, read as video range
    assert notes == {"prores_ks": ["writing video range (16-235): full range does not read back from prores_ks in mov"],
                     "ffv1": ["writing video range (16-235): full range does not read back from ffv1 in nut"],
                     "libx264": []}


def test_color_range_and_colorspace_convert_the_output(tmp_path):
    """-color_range tv and -colorspace bt709, as ffmpeg's: a full-range BT.601 input is written in
    video range and the BT.709 matrix, passed through or processed, tagged so and the same colours
    (they had been refused). Full range asked where it does not read back (ProRes), and video
    range of an encoder that writes full range alone (JPEG), are refused."""
    import dfstream
    from dfstream.errors import UsageError
    from dfstream.sink import EncoderSettings

    frames = [gradient_frame("yuv444p10le", 64, 48, seed=i) for i in range(3)]
    write_file(tmp_path / "in.mkv", frames, tags=(6, 2, 6, 6))  # FFV1, BT.601, full range
    want = np.stack([full_scale_reading(tagged(f, 6, 2), Colour("bt601", True)) for f in frames])
    asked = EncoderSettings(codec="ffv1", color_range="limited", colorspace="bt709")
    for stages in ("none", [Recorder()]):
        dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / "out.mkv"), stages=stages, encoder=asked,
                         overwrite=True)
        with av.open(str(tmp_path / "out.mkv")) as c:
            written = list(c.decode(video=0))
        assert (written[0].color_range, written[0].colorspace) == (1, 1)
        back = np.stack([full_scale_reading(f, Colour("bt709", False)) for f in written])
        error = np.abs(back - want)  # in codes of 8 bits: processed 0.12 on average, 0.41 at most (the 10-bit
        assert error.mean() < (0.5 if stages == "none" else 0.2), stages  # codes); libswscale's own conversion,
        assert error.max() < (1.2 if stages == "none" else 0.6), stages  # as ffmpeg's, of a passthrough 0.38, 0.96
    for settings, words in ((EncoderSettings(codec="prores_ks", color_range="full"), "-color_range pc: full range"),
                            (EncoderSettings(codec="mjpeg", color_range="limited"), "-color_range tv: mjpeg writes")):
        with pytest.raises(UsageError, match=words):
            dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / "refused.mov"), stages="none", encoder=settings)
    assert not (tmp_path / "refused.mov").exists()


def test_where_full_range_reads_back():
    """FFmpeg's word per encoder (ProRes: video range alone; x264: both; raw: none said), and the
    trial in memory where it is not full range: FFV1 and raw frames keep it in Matroska and lose it
    in NUT; DNxHD, whose trial fails at sizes it refuses, takes its word."""
    from dfstream.encoder_ranges import colour_ranges
    from dfstream.sink import EncoderSettings, readable_colour

    assert (colour_ranges("prores_ks"), colour_ranges("libx264"), colour_ranges("rawvideo")) == ({1}, {1, 2}, None)
    full = Colour("bt601", True)
    kept = {(codec, container): readable_colour(EncoderSettings(codec=codec), LAYOUTS[layout], container, (48, 64),
                                                full).full_range
            for codec, layout, container in [("prores_ks", "yuv422p10le", "mov"), ("ffv1", "yuv420p", "nut"),
                                             ("ffv1", "yuv420p", "matroska"), ("rawvideo", "yuv420p", "nut"),
                                             ("rawvideo", "yuv420p", "matroska"), ("dnxhd", "yuv422p", "mov"),
                                             ("libx264", "yuv420p", "mp4"), ("mjpeg", "yuvj420p", "avi")]}
    assert [k for k, full in kept.items() if full] == [("ffv1", "matroska"), ("rawvideo", "matroska"),
                                                       ("libx264", "mp4"), ("mjpeg", "avi")]


def test_a_matrix_the_output_cannot_record_is_written_as_players_take_it(tmp_path):
    """A BT.709 video below 720 lines written where the matrix is not recorded (FFV1 in NUT) is
    read as BT.601, as players take it there: it is written in BT.601, with a note, and looks as it
    did (it had been written in BT.709 and read as BT.601). Matroska records it: kept. -colorspace
    asked where it cannot be recorded is refused."""
    import dfstream
    from dfstream.errors import UsageError
    from dfstream.sink import EncoderSettings

    frames = [gradient_frame("yuv444p", 64, 48, seed=i) for i in range(3)]
    write_file(tmp_path / "in.mkv", frames, tags=(1, 1, 1, 1))  # FFV1, BT.709, video range
    want = np.stack([swscale_reading(tagged(f, 1, 1)) for f in frames]).astype(float)
    for ext, matrix, note in (("nut", 2, ["writing the BT.601 matrix: BT.709 does not read back from ffv1 in nut, "
                                          "and players take BT.601 at 48 lines"]), ("mkv", 1, [])):
        summary = dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / f"out.{ext}"), stages="none",
                                   encoder=EncoderSettings(codec="ffv1"))
        assert [n for n in summary.notes if "matrix" in n] == note
        with av.open(str(tmp_path / f"out.{ext}")) as c:
            written = list(c.decode(video=0))
        assert written[0].colorspace == matrix
        back = np.stack([swscale_reading(f) for f in written])  # as players read it: BT.601 untagged below 720
        assert np.abs(back - want).mean() < 0.6, ext  # written in BT.709, as before 12-07: 6.3, 21 at most
    with pytest.raises(UsageError, match="-colorspace: the matrix does not read back from ffv1 in nut"):
        dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / "refused.nut"), stages="none",
                         encoder=EncoderSettings(codec="ffv1", colorspace="bt709"))


def test_rgb_h264_is_tagged_rgb(tmp_path):
    """libx264rgb codes G, B and R as its planes: its stream says so (matrix GBR), and reads back
    as the frames. Tagged with the input's Y'CbCr matrix, as before 12-07, players read the planes
    as Y'CbCr (14.5 dB)."""
    import dfstream
    from dfstream.sink import EncoderSettings

    frames = [gradient_frame("bgr0", 64, 48, seed=i) for i in range(3)]
    write_file(tmp_path / "in.mkv", frames)
    dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / "out.mkv"), stages=[Recorder()],
                     encoder=EncoderSettings(codec="libx264rgb", options=LOSSLESS))
    with av.open(str(tmp_path / "out.mkv")) as c:
        written = list(c.decode(video=0))
    assert written[0].format.name == "gbrp" and written[0].colorspace == 0
    for f, g in zip(frames, written):
        assert np.abs(f.to_ndarray(format="rgb24").astype(int) - g.to_ndarray(format="rgb24")).max() <= 1


def edge(row: np.ndarray) -> float:
    """Where a rising edge along a row crosses half way, to a fraction of a pixel."""
    half = (row[0] + row[-1]) / 2
    i = int(np.argmax(row >= half))
    return i - 1 + (half - row[i - 1]) / (row[i] - row[i - 1])


def test_chroma_stays_in_place_through_h264(tmp_path):
    """A sharp chroma edge in an untagged H.264 file (its 4:2:0 chroma sits on the left sample, as
    the decoder says and libswscale reads) comes back where it was after a stage that changes
    nothing, softened but not moved: averaged to the centre between samples and tagged so, it
    came back 0.17 pixels off (0.33 untagged)."""
    import dfstream
    from dfstream.planes import frame_to_rgb
    from dfstream.sink import EncoderSettings

    frame = av.VideoFrame(64, 32, "yuv420p")
    for index, plane in enumerate(plane_arrays(frame, LAYOUTS["yuv420p"])):
        plane[...] = 128
        if index == 2:
            plane[:, 16:] = 200  # a red edge between chroma columns 15 and 16
    write_file(tmp_path / "in.mkv", [frame], "libx264", options=LOSSLESS)
    dfstream.process(str(tmp_path / "in.mkv"), str(tmp_path / "out.mkv"), stages=[Recorder()],
                     encoder=EncoderSettings(options=LOSSLESS))
    before, after = (frame_to_rgb(next(av.open(str(tmp_path / n)).decode(video=0)))[16, 24:40, 0].astype(float)
                     for n in ("in.mkv", "out.mkv"))
    assert abs(edge(before) - 7) < 0.02  # the sample at column 30 unchanged, 31 half way, 32 changed
    assert abs(edge(after) - edge(before)) < 0.05
