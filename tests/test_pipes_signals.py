"""Standard input and output, closed pipes, Ctrl-C and SIGTERM."""

import io
import os
import signal
import subprocess
import sys
import time

import av
import pytest

from tests.conftest import decode, make_clip, run_cli

LIVE = ["--input-format", "lavfi", "testsrc2=size=160x120:rate=25"]


def frames_in(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("audio", ["aac", None])
@pytest.mark.parametrize("fmt", ["nut", "matroska", "mpegts", "mp4"])
def test_pipe_in_and_out(tmp_path, fmt, audio):
    src = make_clip(tmp_path / "in.mkv", frames=20, audio=audio, options={"preset": "ultrafast", "bf": "2"})
    r = run_cli("-", "-", "-f", fmt, "--stages", "none", input=src.read_bytes())
    assert r.returncode == 0, r.stderr
    assert frames_in(r.stdout) == 20
    with av.open(io.BytesIO(r.stdout)) as c:
        assert [s.type for s in c.streams] == ["video"] + ["audio"] * bool(audio)
        times = [round(float(f.time), 3) for f in c.decode(video=0)]
    shift = round(times[0] - float(decode(src)[0][1]), 3)
    assert times == [round(float(f[1]) + shift, 3) for f in decode(src)]
    # nut cannot hold the AAC priming's negative times: FFmpeg's shift by libx264's B-frame delay stays
    assert shift == (0.08 if fmt == "nut" and audio else 0)


def test_options_anywhere_as_with_ffmpeg(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=10)
    r = run_cli("--stages", "none", src, "-f", "nut", "-", "--preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    assert frames_in(r.stdout) == 10
    r = run_cli("--input-format", "lavfi", "testsrc2=size=96x64:rate=25", "-t", "0.4", tmp_path / "t.mp4",
                "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert len(decode(tmp_path / "t.mp4")) == 10


def test_fragmented_mp4_on_a_pipe(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=10)
    r = run_cli(src, "-", "-f", "mp4", "--stages", "none")
    assert r.returncode == 0 and b"moof" in r.stdout  # fragments: playable while it arrives


def popen(*args):
    return subprocess.Popen([sys.executable, "-m", "dfstream", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_closed_output_pipe_ends_quietly():
    p = popen(*LIVE, "-", "-f", "nut", "--stages", "none", "--preset", "ultrafast", "--progress", "none")
    assert len(p.stdout.read(20000)) == 20000
    p.stdout.close()
    rc = p.wait(timeout=60)
    err = p.stderr.read().decode()
    assert rc == 0 and "Traceback" not in err and "error" not in err


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_keeps_a_playable_partial_file(tmp_path, sig, code):
    out = tmp_path / "live.mp4"
    p = popen(*LIVE, out, "--stages", "gray", "--preset", "ultrafast", "--progress", "plain")
    deadline = time.time() + 60
    while time.time() < deadline and not any(n.startswith(".live") for n in os.listdir(tmp_path)):
        time.sleep(0.1)
    time.sleep(2.0)
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    err = p.stderr.read().decode()
    assert rc == code, err
    partial = tmp_path / "live.partial.mp4"
    assert f"playable partial output is {partial}" in err
    assert sorted(os.listdir(tmp_path)) == ["live.partial.mp4"]
    frames = decode(partial)
    assert len(frames) > 5


def test_time_limit_ends_an_endless_source(tmp_path):
    out = tmp_path / "o.mkv"
    assert run_cli(*LIVE, out, "-t", "1", "-q", "--stages", "none").returncode == 0
    assert len(decode(out)) == 25
