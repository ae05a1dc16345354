"""``dfstream batch`` on a local Ray instance with 2 workers: a library, a damaged file, a resume."""

import os
import subprocess
import sys
from pathlib import Path

import dfstream
import pytest
from dfstream.batch import expand, plan
from tests.conftest import decode, make_clip, run_cli


def test_a_library_runs_on_two_workers_lists_failures_and_resumes(tmp_path):
    """Failures listed, a re-run skips what is done, and with -y does it all again."""
    library = tmp_path / "reels"
    library.mkdir()
    for i in range(3):
        make_clip(library / f"reel{i}.mkv", frames=8 + i, audio="aac")
    (library / "damaged.mkv").write_bytes((library / "reel0.mkv").read_bytes()[:1500])
    out = tmp_path / "out"
    done = run_cli("batch", library, "-o", out, "--stages", "gray", "--workers", "2", "--preset", "ultrafast",
                   timeout=300)
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["reel0.mkv", "reel1.mkv", "reel2.mkv"]
    for i in range(3):
        frames = decode(out / f"reel{i}.mkv")
        assert len(frames) == 8 + i and [f[0] for f in frames] == [f[0] for f in decode(library / f"reel{i}.mkv")]
        assert len(decode(out / f"reel{i}.mkv", "audio")) == len(decode(library / f"reel{i}.mkv", "audio"))
    err = done.stderr.decode()
    assert "files 4/4, frames 27" in err
    assert f"dfstream: failed: {library / 'damaged.mkv'}: no video frame could be decoded" in err
    (out / "reel1.mkv").unlink()
    (library / "damaged.mkv").unlink()
    again = run_cli("batch", library, "-o", out, "--stages", "gray", "--workers", "2", timeout=300)
    assert again.returncode == 0, again.stderr
    assert b"2 of 3 files already done, skipped" in again.stderr and b"files 1/1, frames 9" in again.stderr
    redone = run_cli("batch", library, "-o", out, "--stages", "none", "--workers", "2", "-y", timeout=300)
    assert redone.returncode == 0 and b"already done" not in redone.stderr, redone.stderr
    assert b"files 3/3, frames 27" in redone.stderr


def test_without_ray_batch_and_workers_say_how_to_install_it(tmp_path):
    clip = make_clip(tmp_path / "in.mkv")
    for args in (["batch", str(clip), "-o", str(tmp_path / "out"), "--stages", "gray"],
                 ["run", str(clip), str(tmp_path / "out.mkv"), "--stages", "gray", "--workers", "2"]):
        code = f"import sys; sys.modules['ray'] = None\nfrom dfstream.cli import main\nsys.exit(main({args!r}))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
        assert done.returncode == 1 and b"Ray is not installed: pip install 'dfstream[ray]'" in done.stderr
    assert not (tmp_path / "out.mkv").exists() and not (tmp_path / ".out.dfstream-segments").exists()


def test_a_chain_that_cannot_run_is_refused_before_any_worker_starts(tmp_path, monkeypatch):
    """What every worker would refuse (no --reference for the only colorizer that can run) is one
    error at once, as a single run gives it: Ray is not started, nothing is written."""
    from dfstream.batch import batch
    from dfstream.segments import run_segments

    def started(*args):
        raise AssertionError("Ray started")

    monkeypatch.setattr("dfstream.batch.connected", started)
    clip = make_clip(tmp_path / "in.mkv")
    options = dfstream.Options(stages="colorize")
    with pytest.raises(dfstream.DfstreamError, match="no colorizer can run"):
        batch([str(clip)], str(tmp_path / "out"), options)
    with pytest.raises(dfstream.DfstreamError, match="no colorizer can run"):
        run_segments(str(clip), str(tmp_path / "out.mkv"), options, workers=2)
    for single in ({"readrate": 1.0}, {"progress_url": "pipe:2"}, {"size_limit": 1000}):  # what follows one run alone
        with pytest.raises(dfstream.DfstreamError, match="-progress, -re and -fs follow a single run"):
            batch([str(clip)], str(tmp_path / "out"), dfstream.Options(stages="gray", **single))
    assert sorted(os.listdir(tmp_path)) == ["in.mkv"]


class DiesOnce(dfstream.engines.BatchStage):
    """Kills its worker process at its second batch the first time it runs anywhere (a marker file
    remembers), when the first batch is already written."""

    name = "dies-once"

    def __init__(self, marker):
        self.marker = str(marker)
        self.calls = 0

    def process(self, rgb, ctx):
        self.calls += 1
        if self.calls == 2 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return rgb


def test_a_worker_that_dies_mid_file_has_its_file_retried(tmp_path):
    from dfstream.batch import batch

    make_clip(tmp_path / "reel.mkv", frames=6)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".reel.dfstream-99999.mkv").write_bytes(b"begun by a worker that died")
    messages = []
    failed = batch([str(tmp_path / "reel.mkv")], str(tmp_path / "out"), dfstream.Options(stages=[DiesOnce(
        tmp_path / "died")], batch=2), workers=1, say=messages.append)
    assert failed == [] and (tmp_path / "died").exists()
    assert len(decode(tmp_path / "out" / "reel.mkv")) == 6
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["reel.mkv"]  # what dead workers began is gone


def test_a_shelf_of_discs_is_a_library_of_films(tmp_path):
    """A folder of ripped discs (each with its VIDEO_TS or BDMV) beside video files: one film per disc,
    named after it; a disc's folder given itself, or its VIDEO_TS, is one film of the disc's name."""
    shelf = tmp_path / "shelf"
    (shelf / "Metropolis (1927)" / "VIDEO_TS").mkdir(parents=True)
    make_clip(shelf / "Metropolis (1927)" / "VIDEO_TS" / "VTS_01_1.VOB", frames=3)
    (shelf / "Nosferatu.1922" / "BDMV" / "STREAM").mkdir(parents=True)
    make_clip(shelf / "Nosferatu.1922" / "BDMV" / "STREAM" / "00800.m2ts", frames=3)
    make_clip(shelf / "reel.vob", frames=3)
    (shelf / "notes").mkdir()
    films = expand([str(shelf)])
    assert [Path(f).name for f in films] == ["Metropolis (1927)", "Nosferatu.1922", "reel.vob"]
    assert [Path(j.target).name for j in plan(films, "out", "mkv")] == [
        "Metropolis (1927).mkv", "Nosferatu.1922.mkv", "reel.mkv"]
    disc = shelf / "Metropolis (1927)"
    assert [Path(j.target).name for j in plan(expand([str(disc / "VIDEO_TS")]), "out", "mkv")] == [
        "Metropolis (1927).mkv"]
