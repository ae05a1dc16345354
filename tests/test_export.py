"""ONNX export and the backends: every network in ONNX Runtime (CPU EP) and through torch.compile
matches eager fp32; the ConvLSTM carries its state through the graph; the engine cache is reused."""

from __future__ import annotations

import importlib.util

import onnx
import pytest
import torch
import torch.nn.functional as F

from dfstream.colour import luma
from dfstream.engines import EngineOptions, StageContext
from dfstream.engines.backends import AUTO_CPU, RUNNERS, available, choose, make_runner, shape_profile
from dfstream.engines.cartoonize.animegan import AnimeGANv2, ConvNormLReLU, InvertedResBlock
from dfstream.engines.cartoonize.cartoongan import CartoonGAN
from dfstream.engines.colorize.deoldify import ARTISTIC, DeOldify
from dfstream.engines.stabilize.convlstm import ConvLSTMStabilizer, ConvLSTMStep, TransformNet
from dfstream.errors import DfstreamError
from dfstream.export import cache
from dfstream.export.onnx import OPSET, export_onnx
from tests import published as P
from tests.conftest import run_cli


def with_weights(module, seed=0):
    module.load_state_dict(P.randomised(module.state_dict(), seed))
    return module.eval()


@pytest.fixture(scope="module")
def nets():
    return {"animegan2": with_weights(AnimeGANv2()), "cartoongan": with_weights(CartoonGAN(), 1),
            "deoldify-artistic": with_weights(DeOldify(ARTISTIC), 2)}


@pytest.mark.parametrize("name,sizes", [("animegan2", [(1, 40, 60), (3, 52, 36)]),
                                        ("cartoongan", [(1, 32, 48), (2, 44, 28)]),
                                        ("deoldify-artistic", [(1, 64, 64), (2, 96, 96)])])
def test_onnxruntime_matches_eager_at_several_sizes(nets, name, sizes):
    net = nets[name]
    ort = make_runner(net, "onnxruntime", "fp32", "cpu")
    for n, h, w in sizes:  # one graph, dynamic batch and size
        x = torch.rand(n, 3, h, w) * 2 - 1
        with torch.inference_mode():
            assert P.relative_error(ort(x), net(x)) < 1e-4


def test_convlstm_state_passes_through_the_graph_for_ten_frames():
    net = with_weights(TransformNet(), 3)
    frames = 10
    inputs = torch.rand(frames, 3, 30, 42)
    processed = (inputs + 0.2 * torch.rand(frames, 3, 30, 42)).clamp(0, 1)
    outs = {}
    for backend in ("torch", "onnxruntime"):
        stage = ConvLSTMStabilizer(net, EngineOptions(backend=backend, device="cpu"))
        assert stage.net.backend == backend
        ctx = StageContext(inputs, luma(inputs, "bt601"), [True] + [False] * (frames - 1))
        with torch.inference_mode():
            outs[backend] = stage.process(processed, ctx)
    assert P.relative_error(outs["onnxruntime"], outs["torch"]) < 1e-4
    assert (outs["torch"][-1] - processed[-1]).abs().max() > 1e-3  # the network acted


def test_exported_graphs_are_checked_and_fp16_is_baked_in(tmp_path):
    step = ConvLSTMStep(with_weights(TransformNet()))
    record = export_onnx(step, tmp_path / "step.onnx")
    model = onnx.load(str(tmp_path / "step.onnx"))
    assert record["opset"] == OPSET and model.opset_import[0].version == OPSET
    assert [i.name for i in model.graph.input] == ["p", "o_prev", "i", "i_prev", "h", "c"]
    assert [o.name for o in model.graph.output] == ["o", "h_next", "c_next"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[2].dim_param == "height" and dims[3].dim_param == "width"
    export_onnx(AnimeGANv2(), tmp_path / "half.onnx", "fp16")
    half = onnx.load(str(tmp_path / "half.onnx"))
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert all(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer if t.dims)


def test_engine_cache_reuses_a_built_graph_and_keys_on_weights(monkeypatch, nets):
    net = nets["animegan2"]
    x = torch.rand(1, 3, 32, 32)
    make_runner(net, "onnxruntime", "fp32", "cpu")(x)
    assert len(cache.entries()) == 1
    folder, key, size = cache.entries()[0]
    assert key["backend"] == "onnxruntime" and key["precision"] == "fp32" and size > 8e6
    assert key["weights_sha256"] == cache.weights_sha256(net) and key["torch"] == torch.__version__

    def no_export(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr("dfstream.export.onnx.export_onnx", no_export)
    make_runner(net, "onnxruntime", "fp32", "cpu")(x)  # a second run starts without rebuilding
    other = with_weights(AnimeGANv2(), seed=9)
    with pytest.raises(AssertionError, match="rebuilt"):
        make_runner(other, "onnxruntime", "fp32", "cpu")(x)  # other weights, other engine
    listing = run_cli("export", "list").stdout.decode()
    assert folder.name in listing
    cleared = run_cli("export", "clear")
    assert cleared.returncode == 0 and b"removed" in cleared.stdout
    assert not cache.entries() and not any(cache.root().iterdir())


class SmallAnimeGAN(torch.nn.Module):
    """AnimeGANv2's own blocks (reflection pad, GroupNorm, depthwise inverted residual, bilinear
    resize to the input's size) at a few channels: compiling the full network takes minutes here."""

    def __init__(self):
        super().__init__()
        self.down = ConvNormLReLU(3, 8, stride=2, pad=(0, 1, 0, 1))
        self.body = InvertedResBlock(8, 8)
        self.out = torch.nn.Conv2d(8, 3, 1)

    def forward(self, x):
        up = F.interpolate(self.body(self.down(x)), x.shape[-2:], mode="bilinear", align_corners=True)
        return torch.tanh(self.out(up))


@pytest.mark.skipif(available(torch.device("cpu"))["compile"] is not None, reason="no C++ compiler here")
def test_torch_compile_matches_eager_on_the_cpu():
    net = with_weights(SmallAnimeGAN())
    compiled = RUNNERS["compile"](net, "fp32")
    x = torch.rand(2, 3, 40, 56) * 2 - 1
    with torch.inference_mode():
        assert P.relative_error(compiled(x), net(x)) < 1e-4


def test_auto_backend_and_the_reasons_others_cannot_run():
    cpu = torch.device("cpu")
    assert choose("auto", cpu) == AUTO_CPU
    reasons = available(cpu)
    assert reasons["torch"] is None and reasons["onnxruntime"] is None
    assert reasons["tensorrt"] is not None  # not installed here, or no GPU
    with pytest.raises(DfstreamError, match="unknown backend"):
        choose("openvino", cpu)
    info = run_cli("info").stdout.decode()
    assert "tensorrt" in info and reasons["tensorrt"].split(" (")[0] in info


def test_tensorrt_path_stops_with_the_fix_where_it_cannot_run():
    runner = make_runner(AnimeGANv2(), "tensorrt", "fp32", "cpu")
    with pytest.raises(DfstreamError, match="needs a CUDA GPU"):
        runner(torch.rand(1, 3, 16, 16))
    profile = shape_profile((torch.rand(2, 3, 720, 1280),), max_batch=8)
    assert profile == [((1, 3, 720, 1280), (2, 3, 720, 1280), (8, 3, 720, 1280))]
    step = shape_profile(tuple(torch.rand(1, 3, 8, 8) for _ in range(4)) + (torch.rand(1, 128, 2, 2),) * 2, 8)
    assert all(lo == opt == hi for lo, opt, hi in step)  # the recurrent step is fixed-size


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("backend", ["torch", "compile", "onnxruntime", "tensorrt"])
def test_cuda_fp16_backends_match_eager_fp32(nets, backend):
    if backend == "tensorrt" and importlib.util.find_spec("torch_tensorrt") is None:
        pytest.skip("torch-tensorrt is not installed")
    if backend == "onnxruntime" and available(torch.device("cuda"))["onnxruntime"] is not None:
        pytest.skip("onnxruntime without CUDA")
    net = nets["animegan2"]
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    with torch.inference_mode():
        expected = net(x)
        out = make_runner(with_weights(AnimeGANv2()), backend, "fp16", "cuda")(x.cuda())
    assert P.relative_error(out.float().cpu(), expected) < 1e-2


def test_aoti_package_is_built_into_the_cache_and_used_by_the_compile_backend(monkeypatch, capsys):
    from dfstream import cli
    from dfstream.export import onnx as onnx_export

    net = with_weights(SmallAnimeGAN(), 5)
    monkeypatch.setattr(onnx_export, "graph_module", lambda name: net if name == "animegan2-paprika" else None)
    assert cli.main(["export", "aoti", "animegan2-paprika"]) == 0
    assert "model.pt2" in capsys.readouterr().out
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("compiled at run time"))
    runner = make_runner(with_weights(SmallAnimeGAN(), 5), "compile", "fp32", "cpu")  # same weights, new module
    x = torch.rand(3, 3, 52, 84) * 2 - 1  # another batch and size than the example it was built on
    with torch.inference_mode():
        assert P.relative_error(runner(x), net(x)) < 1e-4
    assert any(key["backend"] == "aoti" for _, key, _ in cache.entries())
