"""The four networks: published checkpoints import strictly and match fp64 references written
from the published formulas; the stages keep luma, render size and recurrent state right."""

from __future__ import annotations

import pytest
import torch

from dfstream.colour import luma
from dfstream.engines import EngineOptions, StageContext, store
from dfstream.engines.cartoonize.animegan import AnimeGANCartoonizer, AnimeGANv2
from dfstream.engines.cartoonize.cartoongan import CartoonGAN, CartoonGANCartoonizer
from dfstream.engines.colorize.deoldify import ARTISTIC, DeOldify, DeOldifyColorizer
from dfstream.engines.placed import PRECISIONS
from dfstream.engines.stabilize.convlstm import ConvLSTMStabilizer, TransformNet
from dfstream.errors import DfstreamError
from tests import published as P

FP64 = EngineOptions(precision="fp64")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DFSTREAM_HOME", str(tmp_path / "home"))
    return tmp_path


def meta(build):
    with torch.device("meta"):
        return build()


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_published_networks():
    assert round(parameters(meta(DeOldify)) / 1e6, 1) == 218.2
    assert round(parameters(meta(lambda: DeOldify(ARTISTIC))) / 1e6, 1) == 63.6
    assert parameters(TransformNet()) == 2_979_555
    assert parameters(CartoonGAN()) == 11_129_667
    assert parameters(AnimeGANv2()) == 2_143_552
    assert len(CartoonGAN().state_dict()) == 94


# --- DeOldify -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deoldify_video(tmp_path_factory):
    """ColorizeVideo_gen.pth's layout: fastai {'model', 'opt'}, slices in the optimizer state."""
    published = P.deoldify_published(P.randomised(meta(DeOldify).state_dict()))
    path = tmp_path_factory.mktemp("deoldify") / "ColorizeVideo_gen.pth"
    torch.save({"model": published, "opt": {"layer_groups": [slice(0, 10), slice(10, None)], "lr": [1e-4]}},
               path)
    return published, path


def test_deoldify_video_layout_is_the_published_one(deoldify_video):
    published, _ = deoldify_video
    assert len(published) == 754
    shapes = {k: list(v.shape) for k, v in published.items()}
    assert shapes["layers.0.0.weight"] == [64, 3, 7, 7]
    assert shapes["layers.3.0.0.weight_orig"] == [4096, 2048, 3, 3]
    assert shapes["layers.4.shuf.conv.0.weight_orig"] == [2048, 2048, 1, 1]
    assert shapes["layers.4.conv.0.weight_orig"] == [512, 1536, 3, 3]
    assert shapes["layers.5.conv.3.query.weight_orig"] == [64, 512, 1]
    assert shapes["layers.5.conv.3.value.weight_orig"] == [512, 512, 1]
    assert shapes["layers.7.shuf.conv.0.weight_orig"] == [1024, 512, 1, 1]
    assert shapes["layers.7.conv.0.weight_orig"] == [256, 320, 3, 3]
    assert shapes["layers.8.conv.0.weight_g"] == [1024, 1, 1, 1]
    assert shapes["layers.10.layers.0.0.weight_orig"] == [259, 259, 3, 3]
    assert shapes["layers.11.0.weight_orig"] == [3, 259, 1, 1]


def test_deoldify_video_imports_strictly_and_matches_the_reference(deoldify_video, home):
    published, path = deoldify_video
    record = store.import_file("deoldify-video", path)
    assert record["parameters"] == parameters(meta(DeOldify))
    stage = DeOldifyColorizer(store.load("deoldify-video"), FP64, render_factor=4)
    image = torch.rand(1, 3, 48, 80, dtype=torch.float64)
    x = stage.network_input(image)
    assert x.shape[-2:] == (64, 64)
    ours = stage.net(x)
    assert P.relative_error(ours, P.deoldify_reference(published, x, deep=False)) < 1e-5


def test_deoldify_artistic_imports_and_matches_the_reference(tmp_path, home):
    published = P.deoldify_published(P.randomised(meta(lambda: DeOldify(ARTISTIC)).state_dict(), seed=3))
    assert len(published) == 378
    path = tmp_path / "ColorizeArtistic_gen.pth"
    torch.save(published, path)  # a plain state dict is accepted too
    store.import_file("deoldify-artistic", path)
    net = store.load("deoldify-artistic").double()
    x = torch.randn(2, 3, 48, 48, dtype=torch.float64)
    assert P.relative_error(net(x), P.deoldify_reference(published, x, deep=True)) < 1e-5


@pytest.fixture(scope="module")
def artistic_stage_net():
    net = DeOldify(ARTISTIC)
    net.load_state_dict(P.randomised(net.state_dict(), seed=5))
    return net.eval()


def test_deoldify_keeps_the_full_resolution_luma(artistic_stage_net):
    stage = DeOldifyColorizer(artistic_stage_net, EngineOptions(render_factor=3))
    frames = torch.rand(2, 3, 90, 160)
    out = stage.process(frames, StageContext(frames, luma(frames, "bt601"), [True, False]))
    assert out.shape == frames.shape
    torch.testing.assert_close(luma(out, "bt601"), luma(frames, "bt601"), atol=2e-6, rtol=0)
    assert (out - luma(out, "bt601")).abs().mean() > 1e-3  # it does add colour


def test_render_factor_sets_the_network_input_size(artistic_stage_net):
    seen = []
    hook = artistic_stage_net.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    try:
        frames = torch.rand(1, 3, 72, 128)
        ctx = StageContext(frames, luma(frames, "bt601"), [True])
        for factor in (2, 5):
            DeOldifyColorizer(artistic_stage_net, EngineOptions(render_factor=factor, backend="torch")).process(
                frames, ctx)
    finally:
        hook.remove()
    assert seen == [(1, 3, 32, 32), (1, 3, 80, 80)]
    with pytest.raises(DfstreamError, match="render factor"):
        DeOldifyColorizer(artistic_stage_net, EngineOptions(render_factor=99))


def test_deoldify_missing_or_misshaped_keys_are_named(tmp_path, home, deoldify_video):
    published, _ = deoldify_video
    broken = dict(published)
    del broken["layers.5.conv.3.key.weight_u"]
    torch.save({"model": broken, "opt": {}}, tmp_path / "a.pth")
    with pytest.raises(DfstreamError, match=r"'layers\.5\.conv\.3\.key\.weight_u' is missing"):
        store.import_file("deoldify-video", tmp_path / "a.pth")
    broken = dict(published, **{"layers.1.weight": torch.ones(1024)})
    torch.save({"model": broken, "opt": {}}, tmp_path / "b.pth")
    with pytest.raises(DfstreamError, match=r"'layers\.1\.weight' has shape \[1024\], expected \[2048\]"):
        store.import_file("deoldify-video", tmp_path / "b.pth")


# --- ConvLSTM stabilizer --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lai():
    net = TransformNet()
    state = P.randomised(net.state_dict(), seed=7)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4).state_dict()
    return P.lai_published(state, optimizer), state


def test_lai_checkpoint_imports_dropping_the_unused_norm_buffers(lai, tmp_path, home):
    checkpoint, state = lai
    torch.save(checkpoint, tmp_path / "ECCV18_blind_consistency.pth")
    store.import_file("convlstm", tmp_path / "ECCV18_blind_consistency.pth")
    net = store.load("convlstm").double()
    x = torch.rand(1, 12, 32, 40, dtype=torch.float64)
    h, c = torch.rand(2, 1, 128, 8, 10, dtype=torch.float64)
    for ours, ref in zip(net(x, h, c), P.lai_reference(state, x, h, c)):
        assert P.relative_error(ours, ref) < 1e-5


def clip(frames=10, h=36, w=44, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.rand(frames, 3, h, w, generator=g, dtype=torch.float64)
    processed = (inputs + 0.2 * torch.rand(frames, 3, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    return inputs, processed


def run_stage(stage, inputs, processed, cuts, batch):
    out = []
    for s in range(0, len(inputs), batch):
        ctx = StageContext(inputs[s:s + batch], luma(inputs[s:s + batch], "bt601"), cuts[s:s + batch])
        out.append(stage.process(processed[s:s + batch], ctx))
    return torch.cat(out)


@pytest.mark.parametrize("batch", [10, 1, 3, 8])
def test_convlstm_streams_state_across_batches_and_resets_at_cuts(lai, batch):
    _, state = lai
    net = TransformNet()
    net.load_state_dict(state)
    inputs, processed = clip()
    cuts = [True] + [False] * 5 + [True] + [False] * 3
    expected = P.lai_stream(state, processed, inputs, cuts).clamp(0, 1)
    out = run_stage(ConvLSTMStabilizer(net, FP64), inputs, processed, cuts, batch)
    assert P.relative_error(out, expected) < 1e-5
    torch.testing.assert_close(out[0], processed[0])  # O_0 = P_0
    torch.testing.assert_close(out[6], processed[6])  # and again after the cut
    assert (out[1] - processed[1]).abs().max() > 1e-3  # the network does act between cuts
    without_cut = P.lai_stream(state, processed, inputs, [True] + [False] * 9).clamp(0, 1)
    assert P.relative_error(out[7:], without_cut[7:]) > 1e-3  # the state really was reset


def test_convlstm_pads_to_a_multiple_of_four_and_crops_back(lai):
    _, state = lai
    net = TransformNet()
    net.load_state_dict(state)
    inputs, processed = clip(frames=3, h=30, w=42)
    out = run_stage(ConvLSTMStabilizer(net, FP64), inputs, processed, [True, False, False], 3)
    assert out.shape == processed.shape
    pad = lambda t: torch.nn.functional.pad(t, (0, 2, 0, 2), mode="reflect")  # noqa: E731
    expected = P.lai_stream(state, pad(processed), pad(inputs), [True, False, False])[..., :30, :42]
    assert P.relative_error(out, expected.clamp(0, 1)) < 1e-5


def test_convlstm_after_a_colorizer_keeps_the_source_luma(lai):
    _, state = lai
    net = TransformNet()
    net.load_state_dict(state)
    inputs, processed = clip(frames=4)
    out = run_stage(ConvLSTMStabilizer(net, EngineOptions(precision="fp64", chroma_only=True)),
                    inputs, processed, [True, False, False, False], 4)
    torch.testing.assert_close(luma(out, "bt601"), luma(inputs, "bt601"), atol=1e-7, rtol=0)


# --- cartoonizers ---------------------------------------------------------------------------------

def test_cartoongan_plain_state_dict_matches_the_bgr_reference(tmp_path, home):
    state = P.randomised(CartoonGAN().state_dict(), seed=11)
    torch.save(state, tmp_path / "Hayao_net_G_float.pth")
    store.import_file("cartoongan-hayao", tmp_path / "Hayao_net_G_float.pth")
    stage = CartoonGANCartoonizer.create("hayao", FP64)
    rgb = torch.rand(2, 3, 32, 48, dtype=torch.float64)
    out = stage.process(rgb, StageContext(rgb, luma(rgb, "bt601"), [True, False]))
    bgr = rgb.flip(1) * 2 - 1
    expected = (P.cartoongan_reference(state, bgr).flip(1) * 0.5 + 0.5).clamp(0, 1)
    assert P.relative_error(out, expected) < 1e-5
    rgb_in = rgb * 2 - 1  # feeding RGB instead of BGR would be a different picture
    assert P.relative_error(out, P.cartoongan_reference(state, rgb_in) * 0.5 + 0.5) > 1e-3


def test_animegan2_matches_the_reference(tmp_path, home):
    state = P.randomised(AnimeGANv2().state_dict(), seed=13)
    torch.save(state, tmp_path / "paprika.pt")
    store.import_file("animegan2-paprika", tmp_path / "paprika.pt")
    stage = AnimeGANCartoonizer.create("paprika", FP64)
    rgb = torch.rand(1, 3, 30, 46, dtype=torch.float64)  # odd sizes: the upsampling restores them
    out = stage.process(rgb, StageContext(rgb, luma(rgb, "bt601"), [True]))
    expected = (P.animegan_reference(state, rgb * 2 - 1) * 0.5 + 0.5).clamp(0, 1)
    assert out.shape == rgb.shape
    assert P.relative_error(out, expected) < 1e-5


def test_unknown_missing_and_misshaped_keys_name_the_key(tmp_path, home):
    state = CartoonGAN().state_dict()
    cases = {
        "unknown checkpoint key 'conv99_1.weight'": dict(state, **{"conv99_1.weight": torch.zeros(1)}),
        "checkpoint key 'in05_2.shift' is missing": {k: v for k, v in state.items() if k != "in05_2.shift"},
        "checkpoint key 'conv01_1.weight' has shape": dict(state, **{"conv01_1.weight": torch.zeros(64, 3, 3, 3)}),
    }
    for message, broken in cases.items():
        torch.save(broken, tmp_path / "x.pth")
        with pytest.raises(DfstreamError, match=message.replace("(", r"\(")):
            store.import_file("cartoongan-shinkai", tmp_path / "x.pth")
    assert not store.installed("cartoongan-shinkai")


@pytest.mark.parametrize("precision", ["bf16"])
def test_networks_run_in_reduced_precision_through_the_same_stage(precision):
    net = AnimeGANv2()
    net.load_state_dict(P.randomised(net.state_dict(), seed=2))
    stage = AnimeGANCartoonizer(net, EngineOptions(precision=precision))
    rgb = torch.rand(1, 3, 32, 32)
    out = stage.process(rgb, StageContext(rgb, luma(rgb, "bt601"), [True]))
    assert stage.net.dtype == PRECISIONS[precision] and out.dtype == torch.float32
    reference = AnimeGANv2()
    reference.load_state_dict(P.randomised(reference.state_dict(), seed=2))  # the stage moved ``net`` to bf16
    full = AnimeGANCartoonizer(reference, EngineOptions(precision="fp32")).process(
        rgb, StageContext(rgb, luma(rgb, "bt601"), [True]))
    assert P.relative_error(out, full) < 5e-2


def test_fp16_on_the_cpu_is_refused_with_the_fix_before_any_frame():
    with pytest.raises(DfstreamError, match="--precision fp32 or bf16"):
        AnimeGANCartoonizer(AnimeGANv2(), EngineOptions(precision="fp16", device="cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("build,stage_cls", [(AnimeGANv2, AnimeGANCartoonizer), (CartoonGAN, CartoonGANCartoonizer)])
def test_cuda_fp16_channels_last_matches_cpu_fp32(build, stage_cls):
    net = build()
    net.load_state_dict(P.randomised(net.state_dict(), seed=4))
    rgb = torch.rand(2, 3, 64, 96)
    ctx = StageContext(rgb, luma(rgb, "bt601"), [True, False])
    cpu = stage_cls(net, EngineOptions(precision="fp32")).process(rgb, ctx)
    gpu_net = build()
    gpu_net.load_state_dict(net.state_dict())
    stage = stage_cls(gpu_net, EngineOptions())
    cuda = rgb.cuda()
    out = stage.process(cuda, StageContext(cuda, luma(cuda, "bt601"), [True, False]))
    assert stage.net.dtype == torch.float16
    assert P.relative_error(out.cpu(), cpu) < 1e-2
