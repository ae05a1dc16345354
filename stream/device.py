"""Choosing the compute device."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

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


def keep_host_memory(mmap_below: int = 32 << 20, trim_above: int = 256 << 20) -> None:
    """Ask glibc to serve frame-sized blocks from its heap and keep freed memory, instead of
    mapping fresh (zeroed) pages for every tensor: on the CPU that is most of the cost of
    per-frame arithmetic at 720p. No-op off glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, mmap_below)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, trim_above)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
