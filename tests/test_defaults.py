"""The default chain, --original, and the demo: the weights-free path end to end."""

import json

import av
import cv2
import numpy as np
import pytest

import dfstream
from dfstream.colour import luma
from tests.conftest import decode, make_clip, run_cli


def test_without_weights_or_reference_it_stops_before_decoding_with_three_ways(tmp_path):
    src = make_clip(tmp_path / "in.mkv")
    r = run_cli(src, tmp_path / "out.mkv")
    err = r.stderr.decode().strip()
    assert r.returncode == 1 and err.count("\n") == 0
    for way in ("--reference", "weights", "--stages"):
        assert way in err
    assert not (tmp_path / "out.mkv").exists()


def test_with_a_reference_it_colours_and_stabilizes_and_says_which_engines(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=10, pix_fmt="gray", codec="ffv1")
    ref = tmp_path / "ref.png"
    colour = make_clip(tmp_path / "colour.mkv", frames=1)
    cv2.imwrite(str(ref), cv2.cvtColor(decode_rgb(colour)[0], cv2.COLOR_RGB2BGR))
    r = run_cli(src, tmp_path / "out.mkv", "--reference", ref)
    assert r.returncode == 0, r.stderr
    engines = r.stderr.decode().splitlines()[0]
    assert engines == ("engines: colorize=reference (deoldify-video, deoldify-stable, deoldify-artistic: "
                       "weights not installed), stabilize=flow (convlstm: weights not installed)")
    out = decode_rgb(tmp_path / "out.mkv")
    assert len(out) == 10
    spread = [np.ptp(f.astype(int), axis=2).mean() for f in out]
    assert min(spread) > 10  # colour, not grey


def decode_rgb(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_original_is_read_in_step_and_other_lengths_are_errors(tmp_path):
    original = make_clip(tmp_path / "orig.mkv", frames=12)
    processed = make_clip(tmp_path / "proc.mkv", frames=12, cut_at=0)  # another look, same motion
    out = tmp_path / "out.mkv"
    r = run_cli(processed, out, "--stages", "stabilize", "--original", original)
    assert r.returncode == 0, r.stderr
    assert len(decode(out)) == 12
    short = make_clip(tmp_path / "short.mkv", frames=11)  # one frame short: found in the run
    r = run_cli(processed, tmp_path / "o2.mkv", "--stages", "stabilize", "--original", short)
    assert r.returncode == 1 and b"fewer frames" in r.stderr and not (tmp_path / "o2.mkv").exists()
    other = make_clip(tmp_path / "other.mkv", frames=30)  # another film: refused before any work
    with pytest.raises(dfstream.DfstreamError, match=r"has more frames than .*\(30 against 12, by their headers\)"):
        dfstream.Pipeline(str(processed), dfstream.Options(stages="stabilize", original=str(other)))
    # a tool that wrote another size: only the flow is taken from the original, scaled to the output
    small = make_clip(tmp_path / "small.mkv", frames=12, width=64, height=48)
    r = run_cli(processed, tmp_path / "o3.mkv", "--stages", "stabilize", "--original", small)
    assert r.returncode == 0 and b"scaled 12 frames of '" in r.stderr and b"small.mkv' to 96x64" in r.stderr
    assert [f[2].shape for f in decode(tmp_path / "o3.mkv")] == [f[2].shape for f in decode(out)]
    r = run_cli("eval", tmp_path / "o3.mkv", "--original", small, "--processed", processed, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["frames"] == 12, r.stderr


def test_demo_writes_video_picture_and_numbers(tmp_path):
    r = run_cli("demo", tmp_path / "demo", "--seconds", "1", "--size", "160x96", timeout=300)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "demo"
    assert {"colour.mkv", "black_and_white.mkv", "reference.png", "colorized.mp4", "eval.json",
            "side_by_side.png"} <= {p.name for p in folder.iterdir()}
    report = json.loads((folder / "eval.json").read_text())
    assert report["frames"] == 25
    assert report["video"]["psnr_ground_truth"] > report["original"]["psnr_ground_truth"] + 5
    picture = cv2.imread(str(folder / "side_by_side.png"))
    assert picture.shape == (96, 480, 3)
    grey = decode_rgb(folder / "black_and_white.mkv")[0]
    assert np.ptp(grey.astype(int), axis=2).max() <= 2
    coloured = decode_rgb(folder / "colorized.mp4")[0]
    import torch

    y = lambda a: luma(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255, "bt601")  # noqa: E731
    assert float((y(coloured) - y(grey)).abs().mean()) < 0.02  # luma is the source's
