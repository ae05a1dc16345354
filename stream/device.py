"""Choosing the compute device."""

from __future__ import annotations

import torch

from .errors import DfstreamError, UsageError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> the first CUDA GPU if there is one, else the CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{name}'", "use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DfstreamError("no CUDA GPU is available here", "use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DfstreamError(f"there is no GPU {device.index} (found {torch.cuda.device_count()})",
                                "use --device cuda:0")
    elif device.type != "cpu":
        raise UsageError(f"device '{name}' is not supported", "use auto, cpu or cuda")
    return device
