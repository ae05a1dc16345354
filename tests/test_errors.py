"""Bad input of every kind: one line on stderr, non-zero exit, nothing under the target name."""

import os
import resource
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import make_clip
from tests.conftest import run_cli as cli


def run_cli(*args):
    """The CLI with the passthrough chain unless a test names its own stages."""
    return cli("--stages", "none", *args)


def assert_one_line_error(r, *words):
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dfstream: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


def leftovers(folder, keep):
    return sorted(p for p in os.listdir(folder) if p not in keep)


def test_missing_input(tmp_path):
    r = run_cli(tmp_path / "nope.mp4", tmp_path / "out.mp4")
    assert_one_line_error(r, "does not exist")
    assert leftovers(tmp_path, []) == []


def test_corrupt_and_unsupported_inputs(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(os.urandom(20000))
    (tmp_path / "notes.txt").write_text("not a video\n" * 100)
    for name in ("noise.mp4", "notes.txt"):
        r = run_cli(tmp_path / name, tmp_path / "out.mp4")
        assert_one_line_error(r, "cannot read")
    assert leftovers(tmp_path, ["noise.mp4", "notes.txt"]) == []


def test_folders_of_frames_that_are_not_one_video(tmp_path):
    empty, mixed = tmp_path / "empty", tmp_path / "mixed"
    empty.mkdir()
    mixed.mkdir()
    (empty / "notes.txt").write_text("no frames here")
    still = np.zeros((16, 16, 3), np.uint8)
    cv2.imwrite(str(mixed / "0.png"), still)
    cv2.imwrite(str(mixed / "1.jpg"), still)
    assert_one_line_error(run_cli(empty, tmp_path / "out.mkv"), "no images")
    assert_one_line_error(run_cli(mixed, tmp_path / "out.mkv"), "mixes .jpg and .png")
    assert_one_line_error(run_cli(tmp_path / "nowhere" / "%03d.png", tmp_path / "out.mkv"), "does not exist")
    assert leftovers(tmp_path, ["empty", "mixed"]) == []


def test_truncated_file(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=30)
    data = src.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    r = run_cli(tmp_path / "cut.mp4", tmp_path / "out.mkv")
    assert r.returncode != 0 and "Traceback" not in r.stderr.decode()
    assert not (tmp_path / "out.mkv").exists()


def test_file_without_video(tmp_path):
    import av

    from tests.conftest import write_tone

    path = tmp_path / "sound.mka"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        write_tone(out, a, 0.5)
    assert_one_line_error(run_cli(path, tmp_path / "out.mp4"), "no video stream")
    assert not (tmp_path / "out.mp4").exists()


def test_output_problems(tmp_path, clip):
    cases = [
        ((clip, clip), "is the input"),
        ((clip, tmp_path / "missing" / "out.mp4"), "does not exist"),
        ((clip, tmp_path / "clip.mkv" / "out.mp4"), "does not exist"),
        ((clip, tmp_path), "is a directory"),
        ((clip, tmp_path / "missing" / "frame%05d.png"), "does not exist"),
        ((clip, tmp_path / "still.jpg", "-frames:v", "2"), "is one still: -frames:v 2 asks for more frames"),
        ((clip, tmp_path / "out.unknownext"), "-f FORMAT"),
        ((clip, "-"), "-f"),
        ((clip, "/proc/out.mp4"), "cannot write '/proc/out.mp4'", "choose a writable folder"),  # looks writable
        ((clip, tmp_path / "out.ogv", "--codec", "libx264", "--progress", "none"), "ogv cannot start a file of libx264",
         "pass a --codec that ogv holds"),  # its muxer takes an H.264 stream, then cannot write its header
    ]
    for args, *words in cases:
        assert_one_line_error(run_cli(*args), *words)
    assert leftovers(tmp_path, ["clip.mkv"]) == []


def test_the_original_is_never_written_over(tmp_path, clip):
    """An output named as the --original, with -y, is refused before any work, and the original
    is left as it was (before: the run read it, then renamed its output over it)."""
    original = tmp_path / "original.mkv"
    original.write_bytes(clip.read_bytes())
    assert_one_line_error(run_cli(clip, original, "--original", original, "--stages", "stabilize", "-y", "-q"),
                          "output", "is the --original")
    assert original.read_bytes() == clip.read_bytes()


def test_a_write_that_fails_midway_is_one_line_and_leaves_nothing(tmp_path):
    """A full disk, as the kernel refuses a write past a file-size limit (EFBIG, as ENOSPC): the
    run stops with the reason, and neither the output nor its temporary file is left."""
    clip = make_clip(tmp_path / "clip.mkv", width=160, height=96, frames=50)

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out.mkv"
    done = subprocess.run([sys.executable, "-m", "dfstream", clip, out, "--stages", "none", "--crf", "0",
                           "--progress", "none"], preexec_fn=limited, capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert_one_line_error(done, "writing '", "out.mkv' failed: File too large", "free space on the disk")
    assert leftovers(tmp_path, ["clip.mkv"]) == []
    assert run_cli(clip, out, "--crf", "0", "-q").returncode == 0 and out.stat().st_size > 20_000  # needs more


def test_existing_output_needs_y(tmp_path, clip):
    """Without -y, or with ffmpeg's -n, an existing output is an error; -y and -n together too."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert_one_line_error(run_cli(clip, out), "exists", "-y")
    assert_one_line_error(run_cli(clip, out, "-n"), "exists", "-y")
    assert_one_line_error(run_cli(clip, out, "-n", "-y"), "not allowed with argument")
    assert out.read_bytes() == b"precious"
    assert run_cli(clip, out, "-y", "-q").returncode == 0
    assert out.read_bytes() != b"precious"


@pytest.mark.parametrize("name", ["out.mka", "out.mp3", "out.wav", "out.flac", "out.opus"])
def test_a_container_for_sound_is_refused(tmp_path, clip, name):
    """An audio file's name as output (Matroska Audio, MP3 and FLAC with at most a cover picture) is a
    one-line error naming a video file and the way to keep the sound alone, with nothing written
    (MP3 had taken the video as a string of cover pictures, FLAC had dropped it unsaid)."""
    assert_one_line_error(run_cli(clip, tmp_path / name, "--stages", "none"), "a container for sound")
    assert leftovers(tmp_path, ["clip.mkv"]) == []


@pytest.mark.parametrize("args,words", [
    (["--stages", "sparkle"], "unknown stage 'sparkle'"),
    (["--stages", "colorize"], "no colorizer can run"),
    (["--stages", "colorize", "--reference", "nope.png"], "reference image 'nope.png' does not exist"),
    (["--stages", "colorize", "--reference", __file__], "cannot read reference image"),
    (["--stages", "colorize", "--reference", "GREY_STILL"], "has no colour"),
    (["--stages", "stabilize", "--original", "nope.mkv"], "does not exist"),
    (["--stages", "stabilize", "--strength", "1.5"], "below 1"),
    (["--cartoonizer", "classic:wobbly", "--stages", "cartoonize"], "unknown classic cartoon preset"),
    (["--cartoonizer", "magic", "--stages", "cartoonize"], "unknown cartoonize engine"),
    (["--stages", "gray,gray"], "twice"),
    (["--crf", "abc"], "'abc' is not a number"),
    (["--batch", "0"], "must be 1 or more"),
    (["--codec", "nope"], "unknown video encoder"),
    (["--codec", "aac"], "not a video encoder"),
    (["-c:v", "copy", "--stages", "none"], "-c:v copy: dfstream encodes the frames it writes"),
    (["--pix-fmt", "rgb48"], "not supported"),
    (["--pix-fmt", "gray12le"], "cannot encode"),
    (["-f", "nosuchformat"], "cannot write format"),
    (["--bitrate", "fast"], "not a number"),
    (["-q:v", "5"], "-q:v sets the quantizer of JPEG and MPEG encoders, not of libx264"),
    (["-vf", "scale=320:-2"], "-vf: dfstream runs its stages, not FFmpeg's filters"),  # not -vframes, not -v
    (["-ac", "1"], "-ac sets the channels of re-encoded audio, and the audio is copied"),  # not -acodec 1
    (["-threads", "two"], "argument -threads: 'two' is not a whole number"),  # not -t hreads
    (["-vn"], "-vn leaves the video out"),
    (["-sseof", "5"], "lies after the end: give a negative time"),
    (["-preset", "superfast2", "--stages", "gray"], "libx264 has no preset 'superfast2': give one of ultrafast"),
    (["-c:v", "h263", "-f", "mov", "--stages", "gray"], "96x64 is not valid for the H.263"),  # not after the engines' line
    (["-start_number", "-3"], "'-3' must be 0 or more"),
    (["-sseof", "-1", "-ss", "1"], "not allowed with argument -ss"),
    (["-progress", "tcp://127.0.0.1:9"], "writes its report to a pipe or a file"),
    (["-shortest"], "cut them all with -t"),
    (["-r", "0"], "'0' is not a frame rate"),
    (["-s", "640x"], "'640x' is not a frame size"),
    (["-filter_complex", "[0:v]hflip"], "| dfstream - OUT"),
    (["-af", "volume=2"], "ffmpeg -i IN -af ... -f nut - | dfstream - OUT"),  # the option given, not -vf
    (["-pass", "1"], "dfstream has no option -pass: see 'dfstream run --help' for those it has"),  # not "-pass 1 OUT"
    (["-tag:v", "hvc"], "'hvc' is no four-character code"),
    (["-fs", "10x"], "'10x' is not a size: write 10M, 700000k or 1Gi"),
    (["-c", "copy"], "-c sets every stream's codec at once"),
    (["-ss", "abc"], "not a time"),
    (["-t", "nan"], "not a time"),
    (["--audio-delay", "nan"], "must be finite"),
    (["--subtitle-delay", "inf"], "must be finite"),
    (["--scene-threshold", "nan"], "must be from 0 to 1"),
    (["--scene-threshold", "1.5"], "must be from 0 to 1"),
    (["-aspect", "wide"], "not an aspect ratio"),
    (["-framerate", "fast"], "not a frame rate"),
    (["-t", "0"], "holds no time"),
    (["--device", "tpu"], "device"),
    (["--device", "cuda"], "no CUDA GPU"),
    (["--progress", "loud"], "invalid choice"),
    (["--input-format", "nosuchdemuxer"], "cannot open"),
])
def test_bad_options(tmp_path, clip, args, words):
    if "GREY_STILL" in args:  # a black-and-white photo saved as colour JPEG: its chroma is rounding noise
        grey = np.repeat(np.random.default_rng(0).integers(0, 256, (90, 160, 1), dtype=np.uint8), 3, 2)
        cv2.imwrite(str(tmp_path / "grey.jpg"), grey)
        args = [str(tmp_path / "grey.jpg") if a == "GREY_STILL" else a for a in args]
    assert_one_line_error(run_cli(clip, tmp_path / "out.mp4", *args), words)
    assert leftovers(tmp_path, ["clip.mkv", "grey.jpg"]) == []


def test_usage_errors_exit_2(tmp_path, clip):
    assert run_cli(clip, tmp_path / "o.mp4", "--stages", "sparkle").returncode == 2
    assert run_cli(tmp_path / "nope.mp4", tmp_path / "o.mp4").returncode == 1


def test_a_start_past_the_end_names_the_input_length(tmp_path):
    """-ss past the last frame: one line that says how long the input is, and no output."""
    src = make_clip(tmp_path / "in.mkv", frames=12)
    r = run_cli(src, tmp_path / "out.mkv", "-ss", "99")
    assert_one_line_error(r, "lies in the -ss/-t window", "(0.48 s long)")
    assert leftovers(tmp_path, ["in.mkv"]) == []


@pytest.mark.parametrize("options, words", [(("--encoder-option", "bogus=1"), ("has no option 'bogus'",)),
                                            (("-c:v", "mpeg4", "-crf", "20"), ("'mpeg4' has no option 'crf'",)),
                                            (("--encoder-option", "crf=abc"), ("refused its settings", "crf=abc")),
                                            (("-c:v", "h263", "-f", "mov"), ("96x64 is not valid for the H.263", "176x144"))])
def test_encoder_settings_it_does_not_take_are_refused(tmp_path, options, words):
    """An option the encoder lacks, or a value it refuses: one line naming it before any work,
    nothing written (FFmpeg would leave an unknown one over and encode at its defaults); where the
    encoder says why it refuses (H.263's sizes), its words."""
    src = make_clip(tmp_path / "in.mkv", frames=4)
    r = run_cli(src, tmp_path / "out.mkv", *options)
    assert_one_line_error(r, *words, "ffmpeg -h encoder=")
    assert leftovers(tmp_path, ["in.mkv"]) == []


def test_a_video_tag_is_written_or_refused(tmp_path):
    """-tag:v, as ffmpeg's: hev1 for H.265 in MP4 instead of dfstream's hvc1, DX50 for MPEG-4 in
    AVI; a tag the muxer refuses for the codec is one line before any work, nothing written."""
    import av

    src = make_clip(tmp_path / "in.mkv", frames=3)
    for codec, tag, name in (("libx265", "hev1", "out.mp4"), ("mpeg4", "DX50", "out.avi")):
        r = run_cli(src, tmp_path / name, "-c:v", codec, "-tag:v", tag)
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp_path / name)) as c:
            assert c.streams.video[0].codec_context.codec_tag == tag
    assert_one_line_error(run_cli(src, tmp_path / "bad.mp4", "-c:v", "libx265", "-vtag", "avc1", "-v", "error"),
                          "mp4 refused -tag:v avc1 for libx265")
    assert leftovers(tmp_path, ["in.mkv", "out.mp4", "out.avi"]) == []


def test_movflags_that_do_not_apply_are_refused(tmp_path):
    """-movflags into Matroska, or a flag the MP4 muxer lacks: one line, nothing written."""
    src = make_clip(tmp_path / "in.mkv", frames=4)
    assert_one_line_error(run_cli(src, tmp_path / "out.mkv", "-movflags", "+faststart"),
                          "-movflags is an option of MP4 and MOV output, not of matroska")
    assert_one_line_error(run_cli(src, tmp_path / "out.mp4", "-movflags", "+fastest"),
                          "mp4 refused -movflags +fastest", "ffmpeg -h muxer=mp4")
    assert leftovers(tmp_path, ["in.mkv"]) == []
