"""``--preview``: a window (OpenCV HighGUI) showing the output, or input and output side by side.

Keys: space pauses and resumes, s toggles split view, q or Esc ends the run
(the output is finished as at the end of the input). All window calls happen
on the thread that calls ``show``.
"""

from __future__ import annotations

import os

import av
import cv2
import numpy as np

from .errors import DfstreamError

TITLE = "dfstream preview"
MAX_WIDTH = 1280


def check_display() -> None:
    """Fail before any work when there is no screen to open a window on."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DfstreamError("--preview needs a display and none is set (DISPLAY)",
                            "run it in a desktop session, or pipe the output to ffplay instead")


class Preview:
    """``aspect``: how many times as wide as high the frames' pixels are shown (anamorphic video),
    so that the window shows them as a player would."""

    def __init__(self, mode: str = "output", aspect: float = 1.0):
        # OpenCV's bundled Qt complains about fonts it never needs here
        os.environ.setdefault("QT_LOGGING_RULES", "*.warning=false")
        self.split = mode == "split"
        self.aspect = aspect
        self.paused = False
        self.frames = 0
        self._size: tuple[int, int] | None = None

    def _picture(self, source: av.VideoFrame, output: av.VideoFrame) -> np.ndarray:
        shown = [source, output] if self.split else [output]
        width = min(output.width, MAX_WIDTH // len(shown))
        height = max(2, round(output.height * width / (output.width * self.aspect)))
        return np.concatenate([f.to_ndarray(format="bgr24", width=width, height=height) for f in shown], 1)

    def show(self, sources: list[av.VideoFrame], outputs: list[av.VideoFrame]) -> bool:
        """Show the newest frame of a batch; False when the viewer asked to quit."""
        self._draw(self._picture(sources[-1], outputs[-1]))
        self.frames += 1
        while True:
            key = cv2.waitKey(50 if self.paused else 1) & 0xFF
            if key in (ord("q"), 27):
                return False
            if key == ord("s"):
                self.split = not self.split
                self._draw(self._picture(sources[-1], outputs[-1]))
            elif key == ord(" "):
                self.paused = not self.paused
            if not self.paused:
                return True

    def _draw(self, picture: np.ndarray) -> None:
        """Show a picture at its own size (the window follows a split toggle)."""
        size = picture.shape[1], picture.shape[0]
        if self._size is None:
            cv2.namedWindow(TITLE, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        if size != self._size:
            cv2.resizeWindow(TITLE, *size)
            self._size = size
        cv2.imshow(TITLE, picture)

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)
