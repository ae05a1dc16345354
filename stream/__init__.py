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

from .errors import DfstreamError
from .pipeline import Options, OutputFrame, Pipeline, Summary, frames, process
from .sink import EncoderSettings

__version__ = "0.1.0"
__all__ = ["DfstreamError", "EncoderSettings", "Options", "OutputFrame", "Pipeline", "Summary", "frames", "process"]
