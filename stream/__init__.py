"""dfstream: a streaming video filter that colorizes, stabilizes and cartoonizes film.

Python API::

    import dfstream
    dfstream.process("in.mp4", "out.mkv", stages="gray")
    for frame in dfstream.frames("in.mp4", stages="gray"):
        frame.image  # [H, W, 3] uint8 RGB
"""

import os

# Idle OpenMP workers (torch's on the CPU) spin 10,000 times before they sleep (about 0.1 ms by GNU
# OpenMP's reckoning; other runtimes sleep at once): awake through the weights-free engines' runs of
# small tensor operations, each of which costs about 70 us more when it has to wake them (2
# cores), and asleep while OpenCV, the decoder or the encoder has the cores. The user's settings win.
OPENMP = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"}
if not OPENMP.keys() & os.environ.keys():
    os.environ.update(OPENMP)

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
