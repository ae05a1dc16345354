"""Torch's CPU threads follow the cores other programs leave free (stream/threads.py)."""

import os
import re

import cv2
import pytest
import torch

import dfstream
from dfstream import pipeline, threads
from dfstream.threads import SharedCores

pytestmark = pytest.mark.skipif(not threads.STAT.is_file(), reason="reads Linux's /proc/stat")


class Machine:
    """A controlled clock and CPU counters: ``spend(seconds, machine, own)`` advances all three."""

    def __init__(self):
        self.now = self.machine = self.own = 0.0

    def spend(self, seconds: float, machine: float, own: float) -> None:
        self.now += seconds
        self.machine += machine
        self.own += own

    def cores(self, **kwargs) -> SharedCores:
        return SharedCores(clock=lambda: self.now, machine=lambda: self.machine, own=lambda: self.own, **kwargs)


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_threads_follow_the_cores_other_programs_leave(two_threads):
    m = Machine()
    cores = m.cores(cores=2)
    m.spend(0.5, machine=1.5, own=0.5)  # another program busy, but under a period: not measured yet
    cores.check()
    assert torch.get_num_threads() == 2
    m.spend(0.5, machine=0.5, own=0.0)  # over the whole second: 2.0 busy, 0.5 ours -> others 1.5 cores
    cores.check()
    assert torch.get_num_threads() == 1
    m.spend(1.0, machine=1.9, own=1.0)  # still one core's worth of others
    cores.check()
    assert torch.get_num_threads() == 1
    m.spend(1.0, machine=1.6, own=1.55)  # they left: 0.05 cores of others
    cores.check()
    assert torch.get_num_threads() == 2
    m.spend(1.0, machine=1.6, own=1.0)  # 0.6 cores of others: the second core is not free enough
    cores.check()
    assert torch.get_num_threads() == 1
    cores.restore()
    assert torch.get_num_threads() == 2


def test_never_more_threads_than_at_the_start(two_threads):
    m = Machine()
    cores = m.cores(cores=8)
    m.spend(1.0, machine=0.1, own=0.1)
    cores.check()
    assert torch.get_num_threads() == 2


def test_the_users_thread_count_is_left_alone(two_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    m = Machine()
    cores = m.cores(cores=2)
    m.spend(1.0, machine=2.0, own=0.5)
    cores.check()
    assert torch.get_num_threads() == 2 and not cores.active


def test_machine_busy_reads_proc_stat(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 1000 50 5 6 7 9 0\ncpu0 50 10 15 500 25 2 3 3 4 0\n")
    monkeypatch.setattr(threads, "STAT", stat)
    # user + nice + system + irq + softirq + steal; idle and iowait are not busy, guest is in user
    assert threads.machine_busy() == pytest.approx(168 / os.sysconf("SC_CLK_TCK"))


def test_a_run_lowers_the_threads_beside_a_busy_program_and_gives_them_back(two_threads, clip, tmp_path,
                                                                              monkeypatch):
    m = Machine()
    counts = []

    def busy_machine() -> float:  # each reading: a second more, of which another program took 1.5 cores
        m.spend(1.0, machine=2.0, own=0.5)
        counts.append(torch.get_num_threads())
        return m.machine

    monkeypatch.setattr(pipeline, "SharedCores", lambda: SharedCores(
        clock=lambda: m.now, machine=busy_machine, own=lambda: m.own, cores=2))
    dfstream.process(str(clip), str(tmp_path / "out.mkv"), stages="gray", batch=2)
    assert counts[0] == 2 and 1 in counts[1:]  # lowered during the run
    assert torch.get_num_threads() == 2  # and given back at its end


class Counts(dfstream.engines.BatchStage):
    """Records torch's and OpenCV's thread counts as it processes."""

    name = "counts"
    seen: list = []

    def process(self, rgb, ctx):
        Counts.seen.append((torch.get_num_threads(), cv2.getNumThreads()))
        return rgb


def test_threads_sets_the_codecs_torch_s_and_opencv_s_threads_for_the_run(two_threads, clip, tmp_path):
    """-threads 1, as ffmpeg's: the decoder and the encoder on one thread each (x264 records threads=1
    in the stream), and the stages on one torch and one OpenCV thread, not fitted to the cores; the
    counts before come back at the end. Without it x264 takes several."""
    written, opencv = {}, cv2.getNumThreads()
    for count in (None, 1):
        Counts.seen = []
        out = tmp_path / f"{count}.mkv"
        run = pipeline.Pipeline(str(clip), dfstream.Options(stages=[Counts()], threads=count, batch=4))
        assert run.source.video.codec_context.thread_count == (count or 0)
        assert (run.cores is None) == bool(count)
        run.run(str(out))
        written[count] = re.search(rb"threads=(\d+)", out.read_bytes())[1]
        assert set(Counts.seen) == {(1, 1)} or not count
    assert written[1] == b"1" and written[None] != b"1"
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, opencv)
