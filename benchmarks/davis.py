"""Loading the DAVIS sequences of ../shared/media as R'G'B' tensors, and small shared helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DAVIS = HERE.parents[1] / "shared" / "media" / "davis"
sys.path.insert(0, str(HERE))


def load(sequence: str, size: tuple[int, int] | None = None) -> list[torch.Tensor]:
    """Frames [1,3,H,W] in [0,1]; ``size`` = (width, height) to resize to."""
    files = sorted((DAVIS / sequence).glob("*.jpg"))
    if not files:
        raise SystemExit(f"no frames in {DAVIS / sequence}: the DAVIS footage is needed")
    out = []
    for f in files:
        image = cv2.imread(str(f))
        if size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        out.append(torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255)
    return out


def save(name: str, result: dict) -> Path:
    from machine import stamp

    path = HERE / "results" / f"{name}.json"
    path.write_text(json.dumps({"machine": stamp(), **result}, indent=2) + "\n")
    return path


def mean(values) -> float:
    return float(np.mean(list(values)))
