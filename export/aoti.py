"""AOTInductor packages (``.pt2``): a network compiled ahead of time for this machine.

``dfstream export aoti NAME`` builds one into the engine cache; the ``compile``
backend then loads it instead of compiling at run time. Shapes are dynamic:
batch 1..16 and any frame size for stateless networks (multiples of 4 for
CartoonGAN), any multiple of 4 for the ConvLSTM step.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim

from dfstream.engines.cartoonize.cartoongan import CartoonGAN
from dfstream.engines.stabilize.convlstm import ConvLSTMStep


def example(module: nn.Module) -> tuple[tuple, tuple]:
    """Example inputs (batch 2, so the batch stays dynamic) and their dynamic shapes."""
    height, width = Dim("height4", min=4, max=1024), Dim("width4", min=4, max=1024)
    if isinstance(module, ConvLSTMStep):
        frame = {2: 4 * height, 3: 4 * width}
        state = {2: height, 3: width}
        inputs = tuple(torch.rand(1, 3, 64, 96) for _ in range(4)) + (torch.zeros(1, module.net.hidden, 16, 24),) * 2
        return inputs, (frame,) * 4 + (state,) * 2
    batch = Dim("batch", min=1, max=16)
    if isinstance(module, CartoonGAN):
        return (torch.rand(2, 3, 64, 96),), ({0: batch, 2: 4 * height, 3: 4 * width},)
    return (torch.rand(2, 3, 64, 96),), ({0: batch, 2: Dim("height", min=16, max=4096),
                                         3: Dim("width", min=16, max=4096)},)


def export_aoti(module: nn.Module, path: str | Path, dtype: torch.dtype = torch.float32,
                device: torch.device = torch.device("cpu")) -> Path:
    """Compile ``module`` ahead of time into a ``.pt2`` package at ``path``."""
    module = copy.deepcopy(module).eval().to(device=device, dtype=dtype)
    inputs, shapes = example(module)
    inputs = tuple(x.to(device=device, dtype=dtype) for x in inputs)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, inputs, dynamic_shapes=shapes)
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))
    return Path(path)


def load(path: str | Path):
    return torch._inductor.aoti_load_package(str(path))
