"""Training: data preparation on planted frames, the losses against hand computations, tiny
end-to-end runs on the CPU (losses fall, resume is exact), and trained weights in the store."""

from __future__ import annotations


import av
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dfstream.cli import main
from dfstream.engines import store
from dfstream.training import loop
from dfstream.training.cartoongan import CartoonGANConfig, CartoonGANTrainer
from dfstream.training.data import edge_smooth, is_black, is_credit, sample_frames
from dfstream.training.datasets import Images, VideoClips
from dfstream.training.losses import Perceptual, VGGFeatures, agreement_mask, temporal_loss
from dfstream.training.stabilizer import StabilizerConfig, StabilizerTrainer

from tests.published import relative_error


def texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (7, 7), 0)


def credit(h, w):
    frame = np.zeros((h, w, 3), np.uint8)
    cv2.putText(frame, "THE END", (4, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return frame


# --- data preparation ------------------------------------------------------------------

def test_frames_are_sampled_every_n_seconds_without_black_or_credit_frames(tmp_path):
    """24 s at 2 fps with black frames planted at 6 s and 12 s and credits at 9 s and 18 s."""
    video = tmp_path / "film.mp4"
    planted = {6: "black", 12: "black", 9: "credit", 18: "credit"}
    with av.open(str(video), "w") as out:
        stream = out.add_stream("libx264", rate=2, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for k in range(48):
            second = k // 2
            kind = planted.get(second)
            image = (np.zeros((64, 96, 3), np.uint8) if kind == "black" else credit(64, 96) if kind == "credit"
                     else texture(64, 96, seed=second))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    report = sample_frames([str(video)], tmp_path / "frames", every=3, size=32)
    assert report.black == [6.0, 12.0]
    assert report.credits == [9.0, 18.0]
    assert report.kept == [f"film-{t:08.2f}.png" for t in (0, 3, 15, 21)]
    image = cv2.imread(str(tmp_path / "frames" / report.kept[1]))
    assert image.shape == (32, 32, 3)
    # resized so the short side is 32, then the centre crop
    expected = cv2.resize(texture(64, 96, seed=3), (48, 32), interpolation=cv2.INTER_AREA)[:, 8:40]
    assert np.abs(image[..., ::-1].astype(int) - expected).mean() < 4  # H.264 at crf 10
    assert not list((tmp_path / "frames").glob(".*"))  # no temporary files left


def test_dark_scenes_with_a_lamp_are_kept_but_text_is_not():
    night = np.full((64, 96), 10, np.uint8)
    cv2.circle(night, (48, 32), 6, 250, -1)  # a lamp and a window: bright, but two shapes
    cv2.rectangle(night, (5, 5), (15, 20), 220, -1)
    assert not is_black(night) and not is_credit(night)
    assert is_credit(cv2.cvtColor(credit(64, 96), cv2.COLOR_RGB2GRAY))
    assert is_black(np.full((64, 96), 12, np.uint8))


def test_edge_smoothing_blurs_only_the_dilated_edges():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = (200, 120, 40)
    image[5:10, 5:10] = 255
    out = edge_smooth(image)
    edges = cv2.dilate(cv2.Canny(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 100, 200), np.ones((5, 5), np.uint8)) > 0
    blurred = cv2.GaussianBlur(image, (5, 5), 0)
    assert edges.any() and (~edges).any()
    assert np.array_equal(out[edges], blurred[edges])
    assert np.array_equal(out[~edges], image[~edges])
    assert not np.array_equal(out[:, 18:22], image[:, 18:22])  # the step is softened


# --- losses ----------------------------------------------------------------------------

def shift_flow(n, h, w, dx):
    flow = torch.zeros(n, 2, h, w)
    flow[:, 0] = dx
    return flow


def test_mask_and_temporal_loss_against_hand_computation():
    """Flow of one pixel to the right: warp(x)(y, x) = x(y, x + 1), the last column replicated."""
    i_t = torch.tensor([[[[0.1, 0.2, 0.3]]]]).expand(1, 3, 1, 3).clone()
    i_ref = torch.tensor([[[[0.5, 0.1, 0.2]]]]).expand(1, 3, 1, 3).clone()
    flow = shift_flow(1, 1, 3, 1.0)
    warped = [0.1, 0.2, 0.2]  # i_ref at x+1, border replicated
    mask = agreement_mask(i_t, i_ref, flow)
    expected = [np.exp(-50 * 3 * (a - b) ** 2) for a, b in zip([0.1, 0.2, 0.3], warped)]
    assert torch.allclose(mask[0, 0, 0], torch.tensor(expected, dtype=torch.float32), atol=1e-6)
    o_t = torch.tensor([[[[0.4, 0.4, 0.4]]]])
    o_ref = torch.tensor([[[[0.0, 1.0, 0.6]]]])
    loss = temporal_loss(o_t, o_ref, flow, mask)
    hand = np.mean([m * abs(0.4 - r) for m, r in zip(expected, [1.0, 0.6, 0.6])])
    assert float(loss) == pytest.approx(hand, rel=1e-5)


def test_unrolled_losses_use_frame_zero_for_the_long_term_term():
    """With a network that returns P_t and zero flow on identical inputs (mask 1), the terms are
    sums of |v_t - v_{t-1}| (t >= 1) and |v_t - v_0| (t >= 2) for frames of constant value v_t."""
    values = [0.2, 0.5, 0.3, 0.9, 0.4]
    clip = torch.ones(1, 5, 3, 8, 8)
    processed = torch.stack([torch.full((3, 8, 8), v) for v in values])[None]
    trainer = StabilizerTrainer.__new__(StabilizerTrainer)
    trainer.config = StabilizerConfig(clip_length=5)
    trainer.device = torch.device("cpu")
    trainer.net = type("Net", (), {"hidden": 4})()
    trainer.step_net = lambda p, o_prev, i, i_prev, h, c: (p, h, c)
    trainer.perceptual = Perceptual(None)
    trainer.flow = lambda a, b: torch.zeros(a.shape[0], 2, *a.shape[-2:])
    terms = trainer.losses(clip, processed)
    assert float(terms["short_term"]) == pytest.approx(sum(abs(values[t] - values[t - 1]) for t in range(1, 5)))
    assert float(terms["long_term"]) == pytest.approx(sum(abs(values[t] - values[0]) for t in range(2, 5)))
    assert float(terms["perceptual"]) == 0
    assert float(terms["total"]) == pytest.approx(100 * float(terms["short_term"]) + 100 * float(terms["long_term"]))


def test_vgg_features_load_torchvision_layout_and_match_a_plain_forward(tmp_path):
    torch.manual_seed(0)
    module = VGGFeatures("relu4_3")
    state = {f"features.{k}": torch.randn_like(v) * 0.05 for k, v in module.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the rest of torchvision's file is ignored
    torch.save(state, tmp_path / "vgg16.pth")
    vgg = VGGFeatures.from_file(tmp_path / "vgg16.pth", "relu4_3")
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    h = (x - torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    convs = [int(k.split(".")[1]) for k in state if k.endswith(".weight") and k.startswith("features")]
    for block in ([0, 2], [5, 7], [10, 12, 14], [17, 19, 21]):
        if block[0] != 0:
            h = F.max_pool2d(h, 2)
        for idx in block:
            assert idx in convs
            h = F.relu(F.conv2d(h, state[f"features.{idx}.weight"].double(), state[f"features.{idx}.bias"].double(),
                                padding=1))
    got = vgg.double()(x)
    assert relative_error(got, h) < 1e-6  # the mean and std are stored as float32
    del state["features.19.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(Exception, match="features.19.weight"):
        VGGFeatures.from_file(tmp_path / "broken.pth", "relu4_3")


# --- stabilizer training ----------------------------------------------------------------

@pytest.fixture()
def frames_folder(tmp_path):
    base = texture(80, 120)
    folder = tmp_path / "clip"
    folder.mkdir()
    for t in range(10):
        cv2.imwrite(str(folder / f"{t:03d}.png"), np.roll(base, 2 * t, axis=1)[8:72, 8:104][..., ::-1])
    return folder


def stabilizer(folder, out, **config):
    data = VideoClips([str(folder)], processing=["jitter"], length=4, crop=32)
    cfg = StabilizerConfig(clip_length=4, crop=32, batch=2, lr=3e-4, iterations=3, epochs=2, eval_clips=1, **config)
    return StabilizerTrainer(data, None, out, cfg, Perceptual(None))


def test_stabilizer_loss_falls(frames_folder, tmp_path):
    trainer = stabilizer(frames_folder, tmp_path / "run")
    batch = trainer.data.sample(2, torch.Generator().manual_seed(99))
    with torch.no_grad():
        before = trainer.losses(*batch)
        trainer.config.epochs = 8
        with torch.enable_grad():
            trainer.train()
        after = trainer.losses(*batch)
    assert float(after["total"]) < 0.8 * float(before["total"])
    assert float(after["short_term"]) < float(before["short_term"])  # steadier from frame to frame


def test_stabilizer_resumes_exactly(frames_folder, tmp_path):
    straight = stabilizer(frames_folder, tmp_path / "a")
    straight.train()
    stopped = stabilizer(frames_folder, tmp_path / "b")
    stopped.train(stop_after=4)  # mid-epoch: the checkpoint is written where the run stops
    resumed = stabilizer(frames_folder, tmp_path / "b")
    resumed.resume()
    assert resumed.iteration == 4
    resumed.train()
    a, b = loop.entries(tmp_path / "a" / "log.jsonl"), loop.entries(tmp_path / "b" / "log.jsonl")
    strip = lambda entries: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in entries]  # noqa: E731
    assert strip(a) == strip(b)
    assert any("warping_error" in e for e in a)


def test_trained_stabilizer_imports_into_the_store(frames_folder, tmp_path):
    trainer = stabilizer(frames_folder, tmp_path / "run")
    trainer.train(stop_after=1)
    record = store.import_file("convlstm", trainer.checkpoint_path)
    assert record["parameters"] == 2_979_555
    loaded = store.load("convlstm")
    for key, value in trainer.net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# --- CartoonGAN training ----------------------------------------------------------------

@pytest.fixture()
def image_sets(tmp_path):
    for name in ("photos", "cartoons"):
        (tmp_path / name).mkdir()
        for k in range(3):
            image = texture(40, 48, seed=k + (10 if name == "cartoons" else 0))
            if name == "cartoons":
                image = (image // 64) * 64
            cv2.imwrite(str(tmp_path / name / f"{k}.png"), image)
    return tmp_path


def cartoongan(sets, out, **config):
    cfg = CartoonGANConfig(**{**dict(size=32, batch=2, init_epochs=1, epochs=1, iterations=3, samples=2,
                                     init_lr=1e-3, lr=1e-4), **config})
    return CartoonGANTrainer(Images(str(sets / "photos"), 32), Images(str(sets / "cartoons"), 32, smooth=True),
                             out, cfg, Perceptual(None))


def test_cartoongan_content_loss_falls_and_writes_samples(image_sets, tmp_path):
    trainer = cartoongan(image_sets, tmp_path / "run", init_epochs=4)
    trainer.train(stop_after=12)
    content = [e["content"] for e in loop.entries(tmp_path / "run" / "log.jsonl")]
    assert np.mean(content[-3:]) < 0.7 * np.mean(content[:3])
    grid = cv2.imread(str(tmp_path / "run" / "samples" / "epoch-0004.png"))
    assert grid.shape == (2 * 32, 2 * 32, 3)  # two photos, each beside its cartoon


@pytest.mark.parametrize("gan", ["lsgan", "bce"])
def test_cartoongan_resumes_exactly_across_the_phases(image_sets, tmp_path, gan):
    straight = cartoongan(image_sets, tmp_path / "a", gan=gan)
    straight.train()
    stopped = cartoongan(image_sets, tmp_path / "b", gan=gan)
    stopped.train(stop_after=2)
    resumed = cartoongan(image_sets, tmp_path / "b", gan=gan)
    resumed.resume()
    resumed.train()
    a, b = loop.entries(tmp_path / "a" / "log.jsonl"), loop.entries(tmp_path / "b" / "log.jsonl")
    strip = lambda entries: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in entries]  # noqa: E731
    assert strip(a) == strip(b)
    assert [e["phase"] for e in a] == ["init"] * 3 + ["gan"] * 3
    assert all(np.isfinite(e["discriminator"]) for e in a if e["phase"] == "gan")


def test_trained_cartoongan_imports_into_the_store(image_sets, tmp_path):
    trainer = cartoongan(image_sets, tmp_path / "run")
    trainer.train(stop_after=1)
    store.import_file("cartoongan-hayao", tmp_path / "run" / "generator.pth")
    loaded = store.load("cartoongan-hayao")
    for key, value in trainer.generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# --- command line -----------------------------------------------------------------------

def test_train_command_runs_stops_and_resumes(frames_folder, tmp_path, capsys):
    args = ["train", "stabilizer", str(frames_folder), "--process", "jitter", "classic:comic", "-o", str(tmp_path / "run"),
            "--clip-length", "3", "--crop", "32", "--batch", "1", "--iterations", "2", "--epochs", "2",
            "--eval-clips", "1", "--device", "cpu", "--quiet"]
    assert main(args + ["--stop-after", "1"]) == 0
    assert loop.load(tmp_path / "run" / "checkpoint.pth")["iteration"] == 1
    assert main(args + ["--resume"]) == 0
    assert loop.load(tmp_path / "run" / "checkpoint.pth")["iteration"] == 4
    assert "trained to iteration 4" in capsys.readouterr().err
    assert main(["data", "edge-smooth", str(frames_folder), "-o", str(tmp_path / "smooth")]) == 0
    assert len(list((tmp_path / "smooth").glob("*.png"))) == 10


def test_training_errors_are_one_line_with_the_fix(frames_folder, tmp_path, capsys):
    assert main(["train", "stabilizer", str(frames_folder), "--process", "sepia", "-o", str(tmp_path / "r")]) != 0
    assert "unknown processing 'sepia'" in capsys.readouterr().err
    assert main(["train", "stabilizer", str(frames_folder), "--process", "jitter", "--crop", "512",
                 "-o", str(tmp_path / "r"), "--device", "cpu"]) != 0
    assert "too short or too small" in capsys.readouterr().err
    assert main(["train", "stabilizer", str(frames_folder), "--process", "jitter", "--resume", "--crop", "32", "--clip-length", "4",
                 "-o", str(tmp_path / "none"), "--device", "cpu", "--eval-clips", "1"]) != 0
    assert "no checkpoint" in capsys.readouterr().err


def test_given_processed_frames_stay_paired_through_crops_flips_and_reversal(frames_folder, tmp_path):
    """Processed = the negative of each input frame, so every sampled pair must satisfy P = 1 - I."""
    negative = tmp_path / "negative"
    negative.mkdir()
    for path in sorted(frames_folder.iterdir()):
        cv2.imwrite(str(negative / path.name), 255 - cv2.imread(str(path)))
    clips = VideoClips([str(frames_folder)], processed=[str(negative)], length=4, crop=32)
    gen = torch.Generator().manual_seed(3)
    for _ in range(6):
        i, p = clips.sample(2, gen)
        assert torch.allclose(p, 1 - i, atol=1e-6)
    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "0.png"), texture(64, 96))
    with pytest.raises(Exception, match="frame for frame"):  # a processed version that does not match
        VideoClips([str(frames_folder)], processed=[str(tmp_path / "one")], length=4, crop=32)


def test_cartoons_and_their_smoothed_copies_get_the_same_crop(image_sets, tmp_path):
    smoothed = tmp_path / "smoothed"
    smoothed.mkdir()
    for path in sorted((image_sets / "cartoons").iterdir()):
        cv2.imwrite(str(smoothed / f"{path.stem}.png"), 255 - cv2.imread(str(path)))
    cartoons = Images(str(image_sets / "cartoons"), 32, paired=str(smoothed))
    gen = torch.Generator().manual_seed(5)
    for _ in range(4):
        cartoon, other = cartoons.sample(2, gen)
        assert torch.allclose(other, 1 - cartoon, atol=1e-6)


def test_ctrl_c_stops_training_between_iterations_with_a_checkpoint(frames_folder, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "dfstream", "train", "stabilizer", str(frames_folder),
                             "--process", "jitter", "-o", str(run), "--clip-length", "3", "--crop", "32",
                             "--batch", "1", "--iterations", "1000", "--eval-clips", "1", "--device", "cpu",
                             "--quiet"], stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    log = run / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 2):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert b"--resume" in err
    saved = loop.load(run / "checkpoint.pth")["iteration"]
    assert saved == loop.entries(log)[-1]["iteration"] >= 2  # the checkpoint is where the log stops
