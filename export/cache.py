"""The engine cache: built graphs and engines, keyed by everything that changes them.

A key holds the weights' sha256, the export version, the shape profile, the
precision, the backend and its version, the GPU name and compute capability,
and the torch version; its folder name is derived from all of it (like
vs-mlrt's engine names), so a second run finds its engine and a changed
setting never reuses a stale one. Lives beside the model store.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from torch import nn

from dfstream.engines import store

from .onnx import EXPORT_VERSION


def root() -> Path:
    return store.root().parent / "engines"


def weights_sha256(module: nn.Module) -> str:
    """What the engine was built from: the stored weights' sha256 from the store's manifest for a
    module the store loaded, else the sha256 of its tensors in key order."""
    if getattr(module, "weights_sha256", None):
        return module.weights_sha256
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def key(module: nn.Module, backend: str, precision: str, device: torch.device, profile,
        backend_version: str) -> dict:
    gpu = None
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        gpu = {"name": torch.cuda.get_device_name(device), "compute_capability": f"{major}.{minor}"}
    return {"network": type(module).__name__, "weights_sha256": weights_sha256(module),
            "export_version": EXPORT_VERSION, "shape_profile": profile, "precision": precision,
            "backend": backend, "backend_version": backend_version, "device": device.type, "gpu": gpu,
            "torch": torch.__version__}


def folder(entry: dict) -> Path:
    digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = root() / f"{entry['network'].lower()}-{entry['backend']}-{entry['precision']}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(path: Path, entry: dict) -> None:
    (path / "key.json").write_text(json.dumps(entry, indent=2, default=str) + "\n")


def entries() -> list[tuple[Path, dict, int]]:
    """(folder, key, bytes) of every complete engine in the cache."""
    out = []
    for path in sorted(root().glob("*/key.json")):
        size = sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())
        out.append((path.parent, json.loads(path.read_text()), size))
    return out


def clear() -> int:
    """Remove every cached engine; returns how many folders went."""
    folders = [p for p in root().iterdir() if p.is_dir()] if root().exists() else []
    for path in folders:
        shutil.rmtree(path)
    return len(folders)
