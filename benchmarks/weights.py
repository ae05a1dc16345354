"""Random weights in the published layouts, imported into the model store, for speed benchmarks
(speed does not depend on the values; no published file can be fetched here)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.published import deoldify_published, lai_published, randomised  # noqa: E402

from dfstream.engines import store  # noqa: E402


def install_random_weights(folder: Path, names) -> None:
    for name in names:
        with torch.device("meta"):
            shapes = store.card(name).architecture.build().state_dict()
        state = randomised(shapes)
        if name.startswith("deoldify"):
            state = {"model": deoldify_published(state), "opt": {}}
        elif name == "convlstm":
            state = lai_published(state, {})
        path = Path(folder) / f"{name}.pth"
        torch.save(state, path)
        store.import_file(name, path)
