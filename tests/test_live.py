"""Live sources on this CPU: --realtime against a generated real-time source and a slow pipe,
and the preview window under a virtual display."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import dfstream
from dfstream.geometry import work_size
from tests.conftest import decode, make_clip, run_cli


class KnownCost(dfstream.engines.BatchStage):
    """A stage that takes a fixed time per frame whatever else the machine does (it sleeps)."""

    name = "known-cost"

    def __init__(self, seconds_per_frame: float):
        self.seconds = seconds_per_frame
        self.seen = []  # (frame height, ctx.scale) of every batch

    def process(self, rgb, ctx):
        self.seen.append((rgb.shape[-2], ctx.scale))
        time.sleep(self.seconds * rgb.shape[0])
        return rgb


LIVE_SMALL = "testsrc2=size=160x90:rate=25,realtime"  # paced to the wall clock by FFmpeg; cheap to code


def test_realtime_drops_frames_to_keep_the_clock_when_the_chain_is_slower(tmp_path):
    # 100 frames at 25 fps through 8 fps of work: without drops the last frame would leave ~8 s late
    slow = KnownCost(0.125)
    summary = dfstream.process(LIVE_SMALL, str(tmp_path / "out.mkv"), stages=[slow],
                               input_format="lavfi", duration=4, realtime=True)
    kept = len(decode(tmp_path / "out.mkv"))
    assert summary.frames == kept and 0 < kept < 60, (summary.frames, kept)
    # the work size is lowered first, one step at a time, and the stages are told by how much (they shrink
    # their own sizes alike); the first batch may already be late on a busy machine, so 1.0 is not required
    assert {scale for _, scale in slow.seen} >= {0.75, 0.5}, slow.seen
    assert all(height == work_size(90, 160, int(90 * scale))[0] for height, scale in slow.seen), slow.seen
    assert any(f"dropped {100 - kept} of 100" in n for n in summary.notes), summary.notes
    # ms, p95: without drops 12.5 s of work for 4 s of media leaves the last frames ~8 s late; with them only
    # the frames that wait while the size steps down (a second per step) are late (~1.3 s here, one-off)
    assert summary.latency[1] < 4000, summary.latency


def test_realtime_drops_nothing_when_the_chain_keeps_up(tmp_path):
    summary = dfstream.process(LIVE_SMALL, str(tmp_path / "o.mkv"), stages=[KnownCost(0.002)],
                               input_format="lavfi", duration=2, realtime=True)
    assert summary.frames == 50
    assert any("dropped 0 of 50" in n for n in summary.notes), summary.notes


def test_realtime_from_a_slow_pipe(tmp_path):
    clip = make_clip(tmp_path / "in.nut", width=160, height=90, frames=100, options={"preset": "ultrafast"})
    data = clip.read_bytes()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed():  # 4 seconds of video over about 4 seconds
        with open(fifo, "wb") as pipe:
            chunk = len(data) // 40
            for i in range(0, len(data), chunk):
                pipe.write(data[i : i + chunk])
                pipe.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=feed)
    writer.start()
    summary = dfstream.process(str(fifo), str(tmp_path / "out.mkv"), stages=[KnownCost(0.125)], realtime=True)
    writer.join()
    kept = len(decode(tmp_path / "out.mkv"))
    assert summary.frames == kept and 0 < kept < 60
    assert any(f"dropped {100 - kept} of 100" in n for n in summary.notes), summary.notes


def test_realtime_progress_follows_the_media_clock(tmp_path):
    r = run_cli("--input-format", "lavfi", LIVE_SMALL, tmp_path / "o.mkv", "-t", "2", "--realtime",
                "--stages", "gray", "--progress", "json", timeout=120)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stderr.decode().splitlines() if line.startswith("{")]
    times = [t["time"] for t in records if t["time"] is not None]
    assert len(times) >= 2 and times == sorted(times) and times[-1] <= 1.96  # seconds of media written
    assert b"latency from frame in to frame out" in r.stderr


def read_xwd(data: bytes) -> np.ndarray:
    """An X window dump of a TrueColor screen (24 or 32 bits per pixel, as Xvfb writes) as RGB."""
    header = np.frombuffer(data[:100], ">u4")
    size, width, height, byte_order = header[0], header[4], header[5], header[7]
    bits, bytes_per_line, masks, ncolors = header[11], header[12], header[14:17], header[19]
    start = size + 12 * ncolors
    rows = np.frombuffer(data[start : start + bytes_per_line * height], np.uint8).reshape(height, -1)
    step = bits // 8
    pixels = rows[:, : width * step].reshape(height, width, step).astype(np.uint32)
    if byte_order != 0:  # MSBFirst
        pixels = pixels[..., ::-1]
    values = sum(pixels[..., i] << (8 * i) for i in range(step))
    channels = [(values & int(m)) >> ((int(m) & -int(m)).bit_length() - 1) for m in masks]
    return np.stack(channels, -1).astype(np.uint8)


@pytest.fixture
def display():
    if not (shutil.which("Xvfb") and shutil.which("xwd") and shutil.which("xdotool")):
        pytest.skip("needs Xvfb, xwd and xdotool (Debian: xvfb x11-apps xdotool; .ci/run installs them)")
    server = subprocess.Popen(["Xvfb", ":97", "-screen", "0", "1280x480x24", "-nolisten", "tcp"],
                              stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    yield dict(os.environ, DISPLAY=":97")
    server.terminate()
    server.wait()


def screen(env) -> tuple[np.ndarray | None, str]:
    """The whole screen, or None and why: a dump taken while a window is being mapped or unmapped can fail
    with BadMatch (seen once in CI right after the window appeared), so the caller tries again."""
    dump = subprocess.run(["xwd", "-root", "-silent"], env=env, capture_output=True)
    if dump.returncode:
        return None, dump.stderr.decode().splitlines()[0] if dump.stderr else f"xwd exit {dump.returncode}"
    return read_xwd(dump.stdout), ""


def test_preview_window_renders_split_view_and_quits_on_q(display):
    p = subprocess.Popen([sys.executable, "-m", "dfstream", "--input-format", "lavfi",
                          "testsrc2=size=320x180:rate=25,realtime", "--preview", "split", "--stages", "gray",
                          "-t", "60", "--progress", "none"], env=display, stderr=subprocess.PIPE)
    try:
        check_preview(p, display)
    finally:
        p.kill()


def window_state(window_id: bytes, display) -> str:
    """Whether the window is mapped (viewable) and where, for a failure's message."""
    visible = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "dfstream preview"], env=display,
                             capture_output=True, check=False).stdout.split()
    geometry = subprocess.run(["xdotool", "getwindowgeometry", window_id], env=display, capture_output=True,
                              check=False)
    return f"viewable {window_id in visible}; " + " ".join(geometry.stdout.decode().split()[2:])


def check_preview(p, display):
    deadline = time.time() + 60
    while time.time() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", "dfstream preview"], env=display,
                               capture_output=True)
        if found.returncode == 0:
            break
        time.sleep(0.2)
    assert found.returncode == 0, "no preview window appeared"
    window_id = found.stdout.split()[0]
    exposed = time.time() + 10
    coloured, failed = np.empty((0, 2), int), ""
    while True:  # the window may be mapped before its first frame is drawn (slow on a loaded machine)
        image, failed = screen(display)
        if image is not None:
            image = image.astype(int)
            spread = image.max(axis=2) - image.min(axis=2)
            coloured = np.argwhere(spread > 100)  # the input half: testsrc2's saturated colours
        if len(coloured) > 1000 or time.time() > deadline:
            break
        if time.time() > exposed:
            # OpenCV's Qt on Xvfb with no window manager at times never paints a window (any HighGUI window,
            # about 1 in 10 beside other busy ones; unmapping and mapping it again brings the picture): once
            for action in ("windowunmap", "windowmap"):
                subprocess.run(["xdotool", action, window_id], env=display, check=True)
            exposed = float("inf")
        time.sleep(0.5)
    assert len(coloured) > 1000, f"the preview window stayed blank: {window_state(window_id, display)} {failed}"
    left, right = coloured[:, 1].min(), coloured[:, 1].max()
    assert right - left < 330  # colour only in the input half ...
    window = image[:, left:]
    grey_half = window[:, 330:640]
    assert (np.abs(grey_half - grey_half.mean(axis=2, keepdims=True)) < 8).all()  # ... the output is grey
    assert grey_half.std() > 20  # and not blank
    subprocess.run(["xdotool", "windowactivate", "--sync", window_id], env=display, check=False)
    subprocess.run(["xdotool", "key", "--window", window_id, "q"], env=display, check=True)
    assert p.wait(timeout=20) == 0
    assert b"Traceback" not in p.stderr.read()


def test_preview_without_a_display_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    clip = make_clip(tmp_path / "in.mkv")
    r = subprocess.run([sys.executable, "-m", "dfstream", clip, "--preview", "--stages", "none"], env=env,
                       capture_output=True)
    assert r.returncode == 1 and b"--preview needs a display" in r.stderr


def test_network_output_streams_mpegts_over_udp(tmp_path):
    import socket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(20)
    port = receiver.getsockname()[1]
    p = subprocess.Popen([sys.executable, "-m", "dfstream", "--input-format", "lavfi",
                          "testsrc2=size=160x90:rate=25", f"udp://127.0.0.1:{port}?pkt_size=1316", "-t", "2",
                          "--stages", "none", "--latency", "low", "-q"], stderr=subprocess.PIPE)
    received = b""
    try:
        while len(received) < 20 * 1316:
            received += receiver.recv(65536)
    finally:
        assert p.wait(timeout=60) == 0, p.stderr.read()
        receiver.close()
    assert received[0] == 0x47 and received[188] == 0x47  # MPEG-TS packets, the format for udp://


def test_the_preview_shows_anamorphic_pixels_as_a_player_would():
    """A widescreen DVD's 720x576 at 64:45 pixels: the window shows 16:9, side by side too."""
    import av

    from dfstream.preview import Preview

    frame = av.VideoFrame(720, 576, "yuv420p")
    assert Preview("output", 64 / 45)._picture(frame, frame).shape == (405, 720, 3)
    assert Preview("split", 64 / 45)._picture(frame, frame).shape == (360, 1280, 3)
    assert Preview("output")._picture(frame, frame).shape == (576, 720, 3)
