"""The ``torch`` backend: a module placed on its input's device in the chosen precision,
replayed as CUDA graphs there. The other backends (``backends.py``) build on it."""

from __future__ import annotations

import torch
from torch import nn

from dfstream.errors import UsageError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
              "fp64": torch.float64}  # fp64: for checks against references


def dtype_for(device: torch.device, precision: str) -> torch.dtype:
    """auto: fp32 on the CPU, fp16 on CUDA."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", f"choose auto, {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("fp16 networks run only on a GPU", "use --precision fp32 or bf16 on the CPU")
    return PRECISIONS[precision]


class Placed:
    """The ``torch`` backend: the module moved, on first use, to the device of its input in the
    chosen precision (channels_last on CUDA); inputs are cast to match and outputs come back in
    the first input's dtype."""

    backend = "torch"

    def __init__(self, module: nn.Module, precision: str = "auto"):
        self.module = module.eval().requires_grad_(False)
        self.precision = precision
        self.device: torch.device | None = None
        self.dtype = torch.float32
        self.layout = torch.contiguous_format
        self.graphs: CudaGraphs | None = None

    def cast(self, x: torch.Tensor) -> torch.Tensor:
        if x.device != self.device:
            self.device, self.dtype = x.device, dtype_for(x.device, self.precision)
            self.layout = torch.channels_last if x.is_cuda else torch.contiguous_format
            self.place()
        return x.to(dtype=self.dtype, memory_format=self.layout if x.dim() == 4 else torch.preserve_format)

    def place(self) -> None:
        self.module.to(device=self.device, dtype=self.dtype, memory_format=self.layout)
        self.graphs = CudaGraphs(self.module) if self.device.type == "cuda" else None

    def run(self, *inputs: torch.Tensor):
        return self.graphs(*inputs) if self.graphs else self.module(*inputs)

    def __call__(self, *inputs: torch.Tensor):
        out = self.run(*(self.cast(x) for x in inputs))
        dtype = inputs[0].dtype
        return tuple(o.to(dtype) for o in out) if isinstance(out, tuple) else out.to(dtype)


class CudaGraphs:
    """A module replayed as CUDA graphs, one captured per input signature (a stream's batches
    have fixed shapes; the last, shorter one and size changes get their own, up to ``LIMIT``,
    then run eagerly). Inputs are copied into the captured buffers; outputs are cloned, since
    the next replay overwrites them. A module that cannot be captured runs eagerly."""

    LIMIT = 4

    def __init__(self, module: nn.Module):
        self.module = module
        self.captured: dict[tuple, tuple | None] = {}

    def __call__(self, *inputs: torch.Tensor):
        key = tuple((tuple(x.shape), x.dtype, x.stride()) for x in inputs)
        if key not in self.captured:
            self.captured[key] = self._capture(inputs) if len(self.captured) < self.LIMIT else None
        entry = self.captured[key]
        if entry is None:
            return self.module(*inputs)
        buffers, graph, out = entry
        for buffer, x in zip(buffers, inputs):
            buffer.copy_(x)
        graph.replay()
        return tuple(o.clone() for o in out) if isinstance(out, tuple) else out.clone()

    def _capture(self, inputs: tuple[torch.Tensor, ...]):
        buffers = [x.clone() for x in inputs]
        try:
            side = torch.cuda.Stream(inputs[0].device)  # warm-up off the capture (cuDNN picks kernels)
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    self.module(*buffers)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # thread_local: the encode thread may wait on its download events meanwhile
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                out = self.module(*buffers)
        except RuntimeError:
            return None
        return buffers, graph, out
