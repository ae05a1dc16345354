"""Reading published checkpoints safely and matching them to our modules.

Pickled checkpoints are never fully unpickled: ``torch.load(weights_only=True)``
with only the globals a format needs (``slice`` for fastai's optimizer state).
Spectral and weight normalisation are folded into plain weights once, here.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import nn

from dfstream.errors import DfstreamError


def read(path: str | Path, container: tuple[str, ...] = (), allow: tuple = ()) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint: a plain one, or under one of ``container``'s keys."""
    path = Path(path)
    if not path.is_file():
        raise DfstreamError(f"'{path}' does not exist", "give the path of the downloaded checkpoint")
    try:
        with torch.serialization.safe_globals(list(allow)):
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=_zip(path))
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it names {found.group(1)}" if found else "it is not a plain weights file"
        raise DfstreamError(f"refused to load '{path.name}': {what}, which would run code",
                            "use the published checkpoint file, not a re-saved whole model") from None
    except (RuntimeError, EOFError, ValueError) as err:
        raise DfstreamError(f"'{path.name}' is not a readable PyTorch checkpoint ({err})",
                            "download the file again; it may be truncated") from None
    if isinstance(data, dict) and container and any(k in data for k in container):
        data = data[next(k for k in container if k in data)]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise DfstreamError(f"'{path.name}' does not hold a state dict of tensors",
                            "use the published checkpoint file")
    return data


def _zip(path: Path) -> bool:
    """mmap works only for the zip format (torch >= 1.6); older files are read whole."""
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def fold_spectral_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weight_orig`` / sigma with sigma = u . (W v), W the weight viewed as [out, -1]."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_orig"):
            base = key[: -len("weight_orig")]
            u, v = _need(state, base + "weight_u"), _need(state, base + "weight_v")
            w = value.double()
            sigma = torch.dot(u.double(), w.reshape(w.shape[0], -1) @ v.double())
            out[base + "weight"] = (w / sigma).to(value.dtype)
        elif key.endswith((".weight_u", ".weight_v")) and key[:-1] + "orig" in state:
            continue
        else:
            out[key] = value
    return out


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``g * v / ||v||`` with the norm over all but the output dimension."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            base = key[: -len("weight_g")]
            v = _need(state, base + "weight_v").double()
            norm = v.reshape(v.shape[0], -1).norm(dim=1).view(-1, *[1] * (v.dim() - 1))
            out[base + "weight"] = (value.double() * v / norm).to(value.dtype)
        elif key.endswith(".weight_v") and key[:-1] + "g" in state:
            continue
        else:
            out[key] = value
    return out


def _need(state: dict, key: str) -> torch.Tensor:
    if key not in state:
        raise DfstreamError(f"checkpoint key '{key}' is missing", "use the complete published checkpoint")
    return state[key]


def match(state: dict[str, torch.Tensor], module: nn.Module, optional: tuple[str, ...] = ()) -> dict:
    """Check every key and shape against ``module``; keys ending in ``optional`` may be absent.
    A file that holds most of the keys but lacks some is incomplete (leftovers such as a spectral
    norm's ``weight_u`` without its ``weight_orig`` are a symptom of that, not the cause)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(optional)]
    unknown = [k for k in state if k not in expected]
    if missing and (not unknown or 2 * (len(state) - len(unknown)) >= len(expected)):
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DfstreamError(f"checkpoint key '{missing[0]}' is missing{more}", "use the complete published checkpoint")
    if unknown:
        raise DfstreamError(f"unknown checkpoint key '{unknown[0]}'", "the file is for another network")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise DfstreamError(f"checkpoint key '{key}' has shape {list(value.shape)}, expected "
                                f"{list(expected[key].shape)}", "the file is for another network")
    return {k: state[k].to(expected[k].dtype) if k in state
            else torch.zeros(expected[k].shape, dtype=expected[k].dtype) for k in expected}
