"""Reading decoded frames to R'G'B': libswscale's default fast path against the accurate one
dfstream uses for 8-bit frames, and for 10-bit frames its 16-bit reading with and without the
scaling to full scale. Real footage (the first 20 frames of walkers 720p, brought to each size
as 4:2:0), per frame: the time to read (the median of 5 passes) and how far the luma
written back from what was read (``from_rgb``) is from the decoded luma plane, in codes of the
source's depth (RMS and mean: a frame the stages leave alone should come back as it came).

    python benchmarks/rgb_reading.py
"""

from __future__ import annotations

import statistics
import time

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from davis import DAVIS, save
from machine import no_options

from dfstream.colour import Colour, from_rgb, nearest_layout, rgb_from_packed
from dfstream.planes import RGBReader, plane_arrays, rgb_options

WALKERS = DAVIS.parent / "walkers_720p_aac.avi"
SIZES = ((640, 360), (1280, 720), (1920, 1080))
COLOUR = Colour("bt709", False)


def frames(width: int, height: int, fmt: str) -> list[av.VideoFrame]:
    with av.open(str(WALKERS)) as container:
        decoded = [f for _, f in zip(range(20), container.decode(video=0))]
    return [f.reformat(width=width, height=height, format=fmt, interpolation="AREA") for f in decoded]


def measure(read, video: list[av.VideoFrame]) -> dict:
    passes = []
    for _ in range(5):
        started = time.perf_counter()
        arrays = [read(f) for f in video]
        passes.append(1000 * (time.perf_counter() - started) / len(video))
    layout = nearest_layout(video[0].format)
    errors = []
    for f, a in zip(video, arrays):
        back = from_rgb(rgb_from_packed(torch.from_numpy(a)[None]), layout, COLOUR)[0][0].numpy().view(layout.numpy_dtype)
        errors.append(plane_arrays(f, layout)[0].astype(np.float64) - back)
    error = np.stack(errors)
    return {"ms_per_frame": statistics.median(passes), "luma_rms_codes": float(np.sqrt((error**2).mean())),
            "luma_mean_codes": float(error.mean())}


def default_reader(deep: bool):
    """libswscale's reading with its default flags and no scaling, as dfstream read before."""
    plain = VideoReformatter()
    return lambda f: plain.reformat(f, **{**rgb_options(f.format, COLOUR, deep), "interpolation": None}).to_ndarray()


def main() -> None:
    rows = []
    for width, height in SIZES:
        for fmt in ("yuv420p", "yuv420p10le"):
            video = frames(width, height, fmt)
            row = {"size": f"{width}x{height}", "format": fmt,
                   "default": measure(default_reader(fmt != "yuv420p"), video),
                   "dfstream": measure(RGBReader(COLOUR), video)}
            rows.append(row)
            print(row, flush=True)
    print(save("rgb_reading", {"rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
