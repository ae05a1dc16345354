"""Shared fixtures: generated clips written with PyAV, the real footage, and a CLI runner."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

# One compute thread per test process: the suite runs in two processes (pytest-xdist), and
# threads that wait on each other at every operation crawl when another program takes a core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import av
import cv2
import numpy as np
import pytest

cv2.setNumThreads(int(os.environ["OMP_NUM_THREADS"]))

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
WALKERS = MEDIA / "walkers_720p_aac.avi"


def needs_media(path: Path = MEDIA):
    return pytest.mark.skipif(not path.exists(), reason=f"real footage not found at {path}")


def pattern(i: int, height: int, width: int, scene: int = 0) -> np.ndarray:
    """A moving colour pattern (RGB uint8); ``scene`` changes its look entirely."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = i * 0.15
    if scene % 2 == 0:
        r = 128 + 100 * np.sin(x / 9.0 + phase)
        g = 128 + 100 * np.cos(y / 7.0 - phase)
        b = 128 + 60 * np.sin((x + y) / 13.0)
    else:
        r = 40 + 30 * np.cos(y / 5.0 + phase)
        g = 200 - 40 * np.sin(x / 11.0)
        b = 220 + 30 * np.sin((x - y) / 6.0 - phase)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def make_clip(path: Path, *, width: int = 96, height: int = 64, frames: int = 12,
              pix_fmt: str = "yuv420p", codec: str = "libx264", rate: int = 25,
              pts: list[int] | None = None, time_base: Fraction | None = None,
              audio: str | None = None, cut_at: int | None = None, options: dict | None = None,
              picture: np.ndarray | None = None, rotation: int = 0, flip: str = "",
              audio_rate: int = 48000, sar: Fraction | None = None) -> Path:
    """Write a test clip. ``pts`` (in ``time_base``) makes it VFR; ``audio`` names an audio codec
    (at ``audio_rate``);
    ``cut_at`` switches to a different scene from that frame on; ``picture`` (RGB uint8 [H,W,3]),
    a still shot of it instead of the moving pattern; ``rotation``: the display matrix's turn in
    degrees counter-clockwise (as a phone writes one), ``flip`` ("h", "v" or both) its mirroring
    after the turn; ``sar``: the pixels' shape (anamorphic video)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=rate, options=options or ({"qp": "0", "preset": "ultrafast"}
                                                                 if codec == "libx264" else {}))
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        if rotation or flip:
            v.set_display_rotation(rotation, hflip="h" in flip, vflip="v" in flip)
        if sar:
            v.codec_context.sample_aspect_ratio = sar
        tb = time_base or Fraction(1, rate)
        v.codec_context.time_base = tb
        a = None
        if audio:
            a = out.add_stream(audio, rate=audio_rate)
            a.layout = "stereo"
        for i in range(frames):
            scene = int(cut_at is not None and i >= cut_at)
            image = pattern(i, height, width, scene) if picture is None else picture
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = pts[i] if pts else i
            frame.time_base = tb
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        if a is not None:
            seconds = (pts[-1] * tb if pts else Fraction(frames, rate)) + Fraction(1, 10)
            write_tone(out, a, float(seconds))
    return path


def write_tone(out, stream, seconds: float) -> None:
    fmt = stream.codec_context.codec.audio_formats[0].name
    size = stream.codec_context.frame_size or 1024
    t = 0
    total = int(seconds * 48000)
    resampler = av.AudioResampler(format=fmt, layout="stereo", rate=stream.codec_context.sample_rate)
    while t < total:
        n = min(size, total - t)
        samples = (0.3 * np.sin(2 * np.pi * 440 * (t + np.arange(n)) / 48000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([samples, samples]).reshape(1, -1),
                                           format="flt", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = t
        for f in resampler.resample(frame):
            for packet in stream.encode(f):
                out.mux(packet)
        t += n
    for packet in stream.encode(None):
        out.mux(packet)


def decode(path, stream: str = "video") -> list:
    """All decoded video frames (or packets of another stream type) of a file."""
    with av.open(str(path)) as c:
        if stream == "video":
            return [(f.pts, f.time, f.to_ndarray(), f.format.name)
                    for f in c.decode(video=0)]
        s = next(s for s in c.streams if s.type == stream)
        return [(p.pts, bytes(p)) for p in c.demux(s) if p.size]


# A command line runs in a process forked from a server that has imported dfstream (and torch) once:
# a fresh interpreter per command would spend most of the suite importing torch. The real entry
# point, `python -m dfstream`, is what the start-up, signal and pipe tests run.
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(["dfstream.cli", "dfstream.pipeline", "dfstream.engines"])


def _cli_child(args: list[str], stdin: str, stdout: str, stderr: str, env: dict, cwd) -> None:
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    for fd, path, flags in ((0, stdin, os.O_RDONLY), (1, stdout, os.O_WRONLY | os.O_CREAT),
                            (2, stderr, os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin, sys.stdout, sys.stderr = (open(fd, mode, closefd=False) for fd, mode in ((0, "r"), (1, "w"), (2, "w")))
    sys.argv = ["dfstream", *args]
    cv2.setNumThreads(int(os.environ["OMP_NUM_THREADS"]))
    from dfstream.cli import main

    sys.exit(main(args))


def run_cli(*args, input: bytes | None = None, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
    """The ``dfstream`` command line with these arguments, stdin and working folder, as a user would
    run it but in a process forked from a preloaded server; stdout and stderr captured as bytes."""
    args = list(map(str, args))
    with tempfile.TemporaryDirectory() as folder:
        stdin, stdout, stderr = (os.path.join(folder, name) for name in ("stdin", "stdout", "stderr"))
        Path(stdin).write_bytes(input or b"")
        process = FORKS.Process(target=_cli_child, args=(args, stdin, stdout, stderr, dict(os.environ), cwd))
        process.start()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["dfstream", *args], timeout)
        return subprocess.CompletedProcess(["dfstream", *args], process.exitcode, Path(stdout).read_bytes(),
                                           Path(stderr).read_bytes())


@pytest.fixture(autouse=True)
def empty_model_store(tmp_path_factory, monkeypatch):
    """Every test starts with no network weights installed, whatever this machine has."""
    monkeypatch.setenv("DFSTREAM_HOME", str(tmp_path_factory.mktemp("dfstream-home")))


@pytest.fixture(autouse=True)
def steady_threads(monkeypatch):
    """Runs keep torch's thread count whatever else loads the machine (stream/threads.py leaves a
    count the user set alone): tests compare runs exactly, and float sums split over another number
    of threads can differ in the last bit. tests/test_threads.py takes this away."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "clip.mkv")
