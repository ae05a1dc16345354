"""Random weights in the published layouts, imported into the model store, for speed benchmarks
(speed does not depend on the values; no published file can be fetched here)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.published import deoldify_published, lai_published, randomised  # noqa: E402

from dfstream.engines import store  # noqa: E402


@contextlib.contextmanager
def scratch_home(names=()):
    """A model store of its own for one benchmark run, with random weights for ``names``, removed when
    the run ends: the user's store (``DFSTREAM_HOME`` or the cache) is never touched."""
    before = os.environ.get("DFSTREAM_HOME")
    with tempfile.TemporaryDirectory(prefix="dfstream-bench-") as home:
        os.environ["DFSTREAM_HOME"] = home
        try:
            install_random_weights(names, Path(home))
            yield
        finally:
            if before is None:
                del os.environ["DFSTREAM_HOME"]
            else:
                os.environ["DFSTREAM_HOME"] = before


def install_random_weights(names, folder: Path) -> None:
    """Write random weights for each model in ``folder`` and import them into the store."""
    for name in names:
        with torch.device("meta"):
            shapes = store.architecture(store.card(name)).build().state_dict()
        state = randomised(shapes)
        if name.startswith("deoldify"):
            state = {"model": deoldify_published(state), "opt": {}}
        elif name == "convlstm":
            state = lai_published(state, {})
        path = Path(folder) / f"{name}.pth"
        torch.save(state, path)
        store.import_file(name, path)
