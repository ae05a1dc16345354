"""``dfstream bench``: rows per stage, chain and end to end; FLOPs counted right; a null output."""

from __future__ import annotations

import json

import torch

from dfstream.bench import count_flops, synthetic
from dfstream.engines import EngineOptions
from dfstream.engines.cartoonize.animegan import AnimeGANCartoonizer, AnimeGANv2
from tests import published as P
from tests.conftest import run_cli


def test_bench_reports_each_stage_the_chain_and_the_end_to_end_run():
    done = run_cli("bench", "--stages", "gray,cartoonize", "--sizes", "360p", "--frames", "4",
                   "--warmup", "1", "--batch", "2", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["stage"], r["engine"]) for r in rows] == [
        ("gray", "bt601"), ("cartoonize", "classic"), ("chain", "bt601+classic"),
        ("end-to-end", "gray+cartoonize")]
    for row in rows:
        assert row["size"] == "360p" and row["device"] == "cpu" and row["fps"] > 0
        assert 0 < row["latency_ms_median"] <= row["latency_ms_p95"]
        assert row["host_peak_mb"] > 50 and row["gpu_peak_mb"] is None
    assert [r["frames"] for r in rows[:3]] == [4, 4, 4]
    assert rows[3]["frames"] == 4  # the pipeline row decodes and encodes that many frames too


def test_bench_without_weights_measures_what_can_run_and_says_what_it_skipped():
    done = run_cli("bench", "--sizes", "360p", "--frames", "2", "--warmup", "0", "--no-end-to-end", "--json",
                   timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["stage"], r["engine"]) for r in rows] == [("colorize", "reference"), ("stabilize", "flow"),
                                                        ("chain", "reference+flow")]
    assert b"reference colorizer runs with testsrc2's first colour frame" in done.stderr
    done = run_cli("bench", "--stages", "gray,cartoonize", "--cartoonizer", "cartoongan", "--sizes", "360p",
                   "--frames", "2", "--warmup", "0", "--no-end-to-end", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    assert [r["stage"] for r in json.loads(done.stdout)] == ["gray"]
    assert b"skipped cartoonize" in done.stderr and b"weights" in done.stderr
    done = run_cli("bench", "--stages", "cartoonize", "--cartoonizer", "cartoongan", "--sizes", "360p")
    assert done.returncode == 2 and b"none of the stages can run here" in done.stderr


def test_bench_table_and_bad_sizes():
    done = run_cli("bench", "--stages", "gray", "--sizes", "360p", "--frames", "2", "--warmup", "0",
                   "--no-end-to-end")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("stage") and lines[1].startswith("gray") and len(lines) == 2
    bad = run_cli("bench", "--sizes", "4k")
    assert bad.returncode == 2 and b"unknown size '4k'" in bad.stderr


def test_flops_per_frame_match_the_convolutions_shapes():
    net = AnimeGANv2()
    net.load_state_dict(P.randomised(net.state_dict()))
    stage = AnimeGANCartoonizer(net, EngineOptions())
    frame = synthetic(1, 64, 96, torch.device("cpu"))
    expected = []

    def conv_flops(module, inputs, output):
        cin = module.in_channels // module.groups
        expected.append(2 * output.numel() * cin * module.kernel_size[0] * module.kernel_size[1])

    hooks = [m.register_forward_hook(conv_flops) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        stage.process(frame, None)
    for h in hooks:
        h.remove()
    expected_gflops = sum(expected) / 1e9
    assert abs(count_flops([stage], frame) - expected_gflops) < 0.01 * expected_gflops + 0.01


def test_synthetic_frames_move():
    clip = synthetic(3, 36, 64, torch.device("cpu"))
    assert clip.shape == (3, 3, 36, 64) and 0 <= clip.min() and clip.max() <= 1
    torch.testing.assert_close(clip[1, :, :, :-3], clip[0, :, :, 3:])  # panning 3 px per frame


def test_writing_to_dev_null_needs_no_overwrite_flag(clip):
    done = run_cli("run", clip, "/dev/null", "-f", "null", "--stages", "gray", "-q")
    assert done.returncode == 0, done.stderr


def test_readme_results_table_matches_the_recorded_files():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
