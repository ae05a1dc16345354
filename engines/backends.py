"""Ways to run a network behind the one Stage interface: torch, compile, onnxruntime, tensorrt.

Each backend is a ``Placed`` subclass: it learns the device and precision from
the first input, builds what it needs then (a compiled module, an ONNX Runtime
session, a TensorRT program; built engines are kept in the engine cache), and
returns outputs in the input's dtype on the input's device.
"""

from __future__ import annotations

import importlib.util

import torch

from dfstream.errors import DfstreamError, UsageError

from .placed import Placed, dtype_for
from .registry import BACKENDS

AUTO_CPU = "onnxruntime"  # fastest on every network in benchmarks/results/backends_cpu.json


class Compiled(Placed):
    """``compile``: the AOTInductor package that ``dfstream export aoti`` left in the engine cache
    for these weights, precision and device, else torch.compile at run time (Inductor; a C++
    compiler on the CPU). Run-time shapes start static and turn dynamic when they change (forcing
    dynamic shapes from the first call trips an Inductor error on DeOldify in torch 2.13)."""

    backend = "compile"

    def place(self) -> None:
        super().place()
        package, _ = aoti_entry(self.module, self.dtype, self.device)
        if package.exists():
            from dfstream.export import aoti

            self._compiled = aoti.load(package)
        else:
            self._compiled = torch.compile(self.module)

    def run(self, *inputs):
        return self._compiled(*inputs)


def aoti_entry(module, dtype: torch.dtype, device: torch.device):
    """(package path, cache key) of the AOTInductor package for this module, precision and device."""
    from dfstream.export import cache

    key = cache.key(module, "aoti", str(dtype).removeprefix("torch."), device, "dynamic", torch.__version__)
    return cache.folder(key) / "model.pt2", key


class OnnxRuntime(Placed):
    """``onnxruntime``: the exported graph in an ONNX Runtime session. CPU EP always; on CUDA the
    TensorRT EP (engine and timing caches in the engine cache) then the CUDA EP, with I/O bound
    to torch tensors on the device and ORT running on torch's current stream."""

    backend = "onnxruntime"

    def place(self) -> None:
        import onnxruntime as ort

        from dfstream.export import cache, onnx

        precision = "fp16" if self.dtype == torch.float16 else "fp32"
        if self.dtype not in (torch.float16, torch.float32):
            raise UsageError(f"onnxruntime runs fp32 or fp16, not {self.dtype}", "pass --precision fp32 or fp16")
        self.layout = torch.contiguous_format
        key = cache.key(self.module, "onnxruntime", precision, self.device, "dynamic", ort.__version__)
        folder = cache.folder(key)
        graph = folder / "model.onnx"
        if not graph.exists():
            partial = folder / "model.onnx.partial"
            onnx.export_onnx(self.module, partial, precision)
            partial.replace(graph)  # a graph is complete or absent, never half-written
            cache.record(folder, key)
        self.names = [i.name for i in onnx_inputs(graph)]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(graph), options, providers=self._providers(ort, folder))

    def _providers(self, ort, folder) -> list:
        if self.device.type == "cpu":
            return ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise DfstreamError("this onnxruntime has no CUDA support",
                                "pip install onnxruntime-gpu (in place of onnxruntime), or --backend torch")
        index = self.device.index or torch.cuda.current_device()
        stream = str(torch.cuda.current_stream(self.device).cuda_stream)
        providers = []
        if "TensorrtExecutionProvider" in available:
            providers.append(("TensorrtExecutionProvider", {
                "device_id": index, "trt_fp16_enable": self.dtype == torch.float16,
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(folder),
                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(folder),
                "user_compute_stream": stream}))
        providers.append(("CUDAExecutionProvider", {"device_id": index, "user_compute_stream": stream}))
        return providers

    def run(self, *inputs):
        if self.device.type == "cpu":
            outputs = self.session.run(None, {n: x.contiguous().numpy() for n, x in zip(self.names, inputs)})
            result = [torch.from_numpy(o) for o in outputs]
        else:
            result = self._run_bound(inputs)
        return tuple(result) if len(result) > 1 else result[0]

    def _run_bound(self, inputs) -> list[torch.Tensor]:
        """Inputs and outputs bound to device memory: no copies through the host."""
        binding = self.session.io_binding()
        index = self.device.index or 0
        element = {torch.float16: "float16", torch.float32: "float32"}[self.dtype]
        import numpy as np

        outputs = [torch.empty_like(inputs[i]).contiguous() for i in output_like(len(inputs))]
        for name, x in zip(self.names, inputs):
            x = x.contiguous()
            binding.bind_input(name, "cuda", index, np.dtype(element), tuple(x.shape), x.data_ptr())
        for out, meta in zip(outputs, self.session.get_outputs()):
            binding.bind_output(meta.name, "cuda", index, np.dtype(element), tuple(out.shape), out.data_ptr())
        self.session.run_with_iobinding(binding)
        return outputs


def output_like(inputs: int) -> list[int]:
    """Which input each output has the shape of: y like x; (o, h, c) like (p, h, c)."""
    return [0] if inputs == 1 else [0, 4, 5]


def onnx_inputs(graph):
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    return model.graph.input


class TensorRT(Placed):
    """``tensorrt``: torch-tensorrt's dynamo path. fp16 by casting the module (TensorRT 10+ has no
    fp16 flag for strongly typed networks); the batch dimension may vary up to ``max_batch`` and
    the frame size is fixed per engine; programs are saved in the engine cache and reloaded."""

    backend = "tensorrt"
    max_batch = 8

    def place(self) -> None:
        if self.device.type != "cuda":
            raise DfstreamError("the tensorrt backend needs a CUDA GPU", "use --backend torch or onnxruntime")
        if importlib.util.find_spec("torch_tensorrt") is None:
            raise DfstreamError("torch-tensorrt is not installed", "pip install 'dfstream[gpu]', or --backend torch")
        super().place()
        self._program = None

    def run(self, *inputs):
        if self._program is None:
            self._program = self._build(inputs)
        return self._program(*inputs)

    def _build(self, inputs):
        import torch_tensorrt

        from dfstream.export import cache

        profile = shape_profile(inputs, self.max_batch)
        key = cache.key(self.module, "tensorrt", str(self.dtype).removeprefix("torch."), self.device,
                        profile, torch_tensorrt.__version__)
        folder = cache.folder(key)
        path = folder / "program.ep"
        if path.exists():
            return torch_tensorrt.load(str(path)).module()
        specs = [torch_tensorrt.Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=self.dtype)
                 for lo, opt, hi in profile]
        program = torch_tensorrt.compile(self.module, ir="dynamo", inputs=specs,
                                         use_explicit_typing=True, cache_built_engines=False)
        torch_tensorrt.save(program, str(path), inputs=list(inputs))
        cache.record(folder, key)
        return program


def shape_profile(inputs, max_batch: int) -> list[tuple[tuple, tuple, tuple]]:
    """(min, opt, max) per input: a stateless batch may be 1..max_batch, everything else fixed."""
    stateless = len(inputs) == 1
    profile = []
    for x in inputs:
        shape = tuple(x.shape)
        if stateless:
            profile.append(((1, *shape[1:]), shape, (max(max_batch, shape[0]), *shape[1:])))
        else:
            profile.append((shape, shape, shape))
    return profile


def available(device: torch.device) -> dict[str, str | None]:
    """Each backend: None if it can run on ``device``, else why not."""
    reasons: dict[str, str | None] = {"torch": None}
    reasons["compile"] = None if device.type == "cuda" or _has_compiler() else "no C++ compiler for Inductor"
    if importlib.util.find_spec("onnxruntime") is None:
        reasons["onnxruntime"] = "not installed (pip install onnxruntime)"
    elif device.type == "cuda":
        import onnxruntime as ort

        reasons["onnxruntime"] = (None if "CUDAExecutionProvider" in ort.get_available_providers()
                                  else "installed without CUDA (pip install onnxruntime-gpu)")
    else:
        reasons["onnxruntime"] = None
    if importlib.util.find_spec("torch_tensorrt") is None:
        reasons["tensorrt"] = "not installed (pip install 'dfstream[gpu]')"
    else:
        reasons["tensorrt"] = None if device.type == "cuda" else "needs a CUDA GPU"
    return reasons


def _has_compiler() -> bool:
    import shutil

    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def choose(backend: str, device: torch.device, precision: str = "auto") -> str:
    """``auto`` -> the fastest backend that works here: on CUDA tensorrt, then onnxruntime (CUDA),
    then torch; on the CPU the one measured fastest. bf16 and fp64 run on torch."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend '{backend}'", f"choose from {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if precision in ("bf16", "fp64"):
        return "torch"
    works = available(device)
    order = ("tensorrt", "onnxruntime", "torch") if device.type == "cuda" else (AUTO_CPU, "torch")
    return next(b for b in order if works.get(b) is None)


RUNNERS = {"torch": Placed, "compile": Compiled, "onnxruntime": OnnxRuntime, "tensorrt": TensorRT}


def make_runner(module, backend: str = "auto", precision: str = "auto", device: str | None = None) -> Placed:
    target = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype_for(target, precision)  # refuse a bad precision before any work
    return RUNNERS[choose(backend, target, precision)](module, precision)
