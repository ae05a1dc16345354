"""dfstream: a streaming video filter that colorizes, stabilizes and cartoonizes film.

Python API::

    import dfstream
    dfstream.process("in.mp4", "out.mkv", stages="gray")
    for frame in dfstream.frames("in.mp4", stages="gray"):
        frame.image  # [H, W, 3] uint8 RGB
"""

import os

# Idle OpenMP workers sleep instead of spinning, so they leave the cores to the decode and
# encode threads; the user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402, F401  (before PyAV: OpenCV's Qt windows hang if PyAV's libraries load first)

import importlib  # noqa: E402

from .errors import DfstreamError  # noqa: E402

__version__ = "0.1.0"
_HOMES = {"EncoderSettings": "sink", "Options": "pipeline", "OutputFrame": "pipeline", "Pipeline": "pipeline",
          "Summary": "pipeline", "frames": "pipeline", "process": "pipeline"}
__all__ = ["DfstreamError", *sorted(_HOMES)]


def __getattr__(name: str):
    """The API, loaded on first use (torch is not needed to parse a command line or print help)."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    try:  # a submodule, as after 'import dfstream.NAME'
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
