"""The GPU path: streams, pinned transfers, CUDA graphs and NVDEC against the CPU path (these
need a CUDA device and skip without one), and what can be checked anywhere: the staging and
timing logic on the CPU, and the errors of --hwaccel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import dfstream
from dfstream.colour import luma
from dfstream.engines.placed import Placed
from dfstream.transfer import Transfers
from tests.conftest import decode, make_clip, run_cli

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cpu_transfers_stack_time_and_return_the_planes():
    transfers = Transfers(torch.device("cpu"))
    arrays = [[np.full((4, 6), k, np.uint8) for k in range(3)]]
    (up,) = transfers.upload(arrays)
    assert up.shape == (3, 4, 6) and up[2, 0, 0] == 2
    with transfers.timed("stage"):
        down = transfers.download([up * 2])
    assert np.array_equal(down.arrays()[0][:, 0, 0], [0, 2, 4])
    assert transfers.timings.seconds["stage"] > 0


def test_nv12_input_as_nvdec_gives_it_streams_like_yuv420p(tmp_path):
    """NVDEC's frames are NV12; a NV12 file takes the same path and gives the same output."""
    outputs = {}
    for fmt in ("nv12", "yuv420p"):
        clip = make_clip(tmp_path / f"{fmt}.mkv", codec="rawvideo", pix_fmt=fmt, frames=6)
        outputs[fmt] = [f.image for f in dfstream.frames(str(clip), stages="gray")]  # before any lossy encoder
    assert len(outputs["nv12"]) == 6
    assert all(np.array_equal(a, b) for a, b in zip(outputs["nv12"], outputs["yuv420p"]))
    dfstream.process(str(tmp_path / "nv12.mkv"), str(tmp_path / "out.mkv"), stages="gray")
    assert [f[3] for f in decode(tmp_path / "out.mkv")] == ["yuv420p"] * 6


def test_hwaccel_errors_are_one_line_with_the_fix(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    result = run_cli(clip, tmp_path / "out.mp4", "--hwaccel", "nosuchdevice")
    assert result.returncode == 1
    assert b"cannot decode on 'nosuchdevice'" in result.stderr and b"drop --hwaccel" in result.stderr
    if not torch.cuda.is_available():  # no GPU: NVDEC cannot start, and nothing is written
        result = run_cli(clip, tmp_path / "out.mp4", "--hwaccel", "cuda")
        assert result.returncode == 1 and b"--hwaccel" in result.stderr
        assert not (tmp_path / "out.mp4").exists()


@pytest.mark.gpu
@cuda
def test_pipeline_on_cuda_matches_the_cpu_and_times_each_part(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=320, height=180, frames=30)
    outputs = {}
    for device in ("cpu", "cuda"):
        summary = dfstream.process(str(clip), str(tmp_path / f"{device}.mkv"), stages="gray", device=device,
                                   batch=4, overwrite=True)
        outputs[device] = decode(tmp_path / f"{device}.mkv")
    assert summary.upload_seconds > 0 and summary.download_seconds > 0 and summary.stage_seconds["gray"] > 0
    assert [f[0] for f in outputs["cpu"]] == [f[0] for f in outputs["cuda"]]
    for a, b in zip(outputs["cpu"], outputs["cuda"]):
        assert np.abs(a[2].astype(int) - b[2].astype(int)).max() <= 1


@pytest.mark.gpu
@cuda
def test_cuda_graphs_replay_like_eager_for_new_inputs_and_shapes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    graphed = Placed(net, "fp32")
    for shape in [(2, 3, 32, 48), (2, 3, 32, 48), (1, 3, 32, 48), (2, 3, 64, 64)]:
        x = torch.rand(shape, device="cuda")
        out = graphed(x)
        with torch.inference_mode():
            expected = net(x.contiguous(memory_format=torch.channels_last))  # eager
        assert torch.allclose(out, expected, atol=1e-5)
    assert graphed.graphs is not None and len(graphed.graphs.captured) == 3
    assert all(entry is not None for entry in graphed.graphs.captured.values())


@pytest.mark.gpu
@cuda
def test_nvdec_decodes_like_the_software_decoder(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=320, height=180, frames=20)
    soft = [f.image for f in dfstream.frames(str(clip))]
    hard = [f.image for f in dfstream.Pipeline(str(clip), dfstream.Options(hwaccel="cuda")).frames()]
    assert len(soft) == len(hard)
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(soft, hard)) < 1


@pytest.mark.gpu
@cuda
def test_flow_stabilizer_one_frame_ahead_on_cuda_matches_the_cpu():
    """The least-squares frame one frame ahead (warps by grid_sample, their transposes by index_add_
    on the GPU; OpenCV's remap on the CPU) gives the CPU's frames."""
    from dfstream.engines.stabilize.flow import FlowStabilizer
    from tests.test_engines import moving_clip, run

    clip = moving_clip(n=12)
    gains = np.random.default_rng(7).normal(1, 0.03, (len(clip), 3))
    flicker = [(f * torch.tensor(g, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1) for f, g in zip(clip, gains)]
    cpu = run(FlowStabilizer(0.7, lookahead=True), flicker, source=clip)
    gpu = run(FlowStabilizer(0.7, lookahead=True), [f.cuda() for f in flicker], source=[f.cuda() for f in clip])
    assert len(gpu) == len(cpu) == len(clip)
    for a, b in zip(cpu, gpu):
        assert b.is_cuda and float((a - b.cpu()).abs().mean()) < 1e-3


def test_weights_free_engines_on_the_torch_path_a_gpu_takes_give_the_opencv_paths_frames(monkeypatch):
    """On a GPU the warps, filters and resizing run in torch (grid_sample, convolutions), on the CPU
    through OpenCV; the CPU can take the torch path too, and both give the same frames."""
    from dfstream import colour, geometry
    from dfstream.engines import filters, flow
    from dfstream.engines.colorize.reference import ReferenceColorizer
    from dfstream.engines.stabilize.flow import FlowStabilizer
    from tests.test_engines import moving_clip, run

    clip = moving_clip(n=12)
    greys = [luma(f, "bt601").expand(-1, 3, -1, -1) for f in clip]
    gains = np.random.default_rng(7).normal(1, 0.03, (len(clip), 3))
    flicker = [(f * torch.tensor(g, dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1) for f, g in zip(clip, gains)]

    def outputs():
        return (run(ReferenceColorizer([clip[0]]), greys),
                run(FlowStabilizer(0.7, lookahead=True), flicker, source=clip))

    opencv = outputs()
    for module in (geometry, colour, filters, flow):
        monkeypatch.setattr(module, "with_opencv", lambda x: False)
    torch_path = outputs()
    for ours, theirs in zip(opencv, torch_path):
        assert len(ours) == len(theirs) == len(clip)
        differences = [float((a - b).abs().max()) for a, b in zip(ours, theirs)]
        assert max(differences) < 1e-4
