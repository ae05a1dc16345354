"""ONNX export of the four networks, with dynamic sizes and explicit recurrent state.

Stateless networks take ``x`` [N,3,H,W] (N, H and W dynamic) and return ``y``.
The ConvLSTM step takes ``p, o_prev, i, i_prev`` [1,3,H,W] and ``h, c``
[1,128,H/4,W/4] and returns ``o, h_next, c_next`` (no state hidden in the
graph). fp16 variants are exported from a half-precision copy, so the graph
itself is fp16 (what the TensorRT EP and CUDA EP want). The exporter is
torch's TorchScript-based one: the torch.export-based exporter needs the
onnxscript package, which dfstream does not depend on.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from dfstream.engines import store
from dfstream.engines.stabilize.convlstm import ConvLSTMStep, TransformNet
from dfstream.errors import DfstreamError

OPSET = 17
EXPORT_VERSION = 1  # bump when the graphs' inputs, outputs or structure change


def signature(module: nn.Module) -> tuple[tuple, list[str], list[str], dict]:
    """Example inputs, input names, output names and dynamic axes for a network's graph."""
    if isinstance(module, ConvLSTMStep):
        frame = torch.rand(1, 3, 64, 96)
        state = torch.zeros(1, module.net.hidden, 16, 24)
        names = ["p", "o_prev", "i", "i_prev", "h", "c"]
        outputs = ["o", "h_next", "c_next"]
        axes = {n: {2: "height" if n not in ("h", "c", "h_next", "c_next") else "height4",
                    3: "width" if n not in ("h", "c", "h_next", "c_next") else "width4"}
                for n in names + outputs}
        return (frame, frame, frame, frame, state, state), names, outputs, axes
    axes = {"x": {0: "batch", 2: "height", 3: "width"}, "y": {0: "batch", 2: "height", 3: "width"}}
    return (torch.rand(1, 3, 64, 96),), ["x"], ["y"], axes


def graph_module(name: str) -> nn.Module:
    """The module that becomes the graph: the stored network, the ConvLSTM wrapped as one step."""
    net = store.load(name)
    return ConvLSTMStep(net) if isinstance(net, TransformNet) else net


def export_onnx(module: nn.Module, path: str | Path, precision: str = "fp32") -> dict:
    """Write ``module`` as an ONNX graph, check it, and return what was recorded about it."""
    path = Path(path)
    module = copy.deepcopy(module).eval()
    inputs, names, outputs, axes = signature(module)
    if precision == "fp16":
        module = module.half()
        inputs = tuple(x.half() for x in inputs)
    elif precision != "fp32":
        raise DfstreamError(f"ONNX export in {precision} is not offered", "use fp32 or fp16")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and folding notes
        torch.onnx.export(module, inputs, str(path), dynamo=False, opset_version=OPSET, input_names=names,
                          output_names=outputs, dynamic_axes=axes, do_constant_folding=True)
    onnx.checker.check_model(str(path))
    return {"opset": OPSET, "export_version": EXPORT_VERSION, "precision": precision,
            "inputs": names, "outputs": outputs, "dynamic_axes": axes}


def export_model(name: str, path: str | Path, precision: str = "fp32") -> dict:
    """``dfstream export onnx NAME``: the stored model as ONNX plus a JSON manifest beside it."""
    record = export_onnx(graph_module(name), path, precision)
    record.update(name=name, weights_sha256=store.manifest(name)["sha256"])
    Path(path).with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record
