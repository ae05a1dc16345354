"""The ``flow`` stabilizer on per-frame tools it was not tuned on: a check of the real-footage
benchmark's 90% / 36 dB goal beyond the tools it measures.

Tools, each run on every frame of bus, giant-slalom and walkers (as ``real_footage.py`` takes them):
tone mapping by OpenCV's Drago (bias 0.7), Mantiuk (scale 0.7) and Reinhard operators (its
defaults), each frame taken as HDR (R'G'B' to the power 2.2, times 4), each operator adapting to
the frame's own luminance; OpenCV's non-local means denoising; a Reinhard colour transfer to fixed
Lab statistics. Measured as ``real_footage.py`` measures, one frame ahead as a file run filters:
flicker (the processed video's warping error over the input's), the excess removed, PSNR to the
processed video, colourfulness kept. For a set that flickers and stays under 90%, the most any
video within 36 dB removes (``flicker_bound.py``'s solve with hindsight).

    python benchmarks/untuned_tools.py
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from davis import load, save
from flicker_bound import bound_row
from low_frame_rate import stabilizer_row
from machine import no_options
from real_footage import FLICKERS, eight_bit, flow_pairs, from_u8, to_u8, walkers

SCENES = ("bus", "giant-slalom", "walkers")
GOAL, AT = 0.9, 36.0


def tone_mapped(operator):
    def tool(image: np.ndarray) -> np.ndarray:
        hdr = (image.astype(np.float32) / 255) ** 2.2 * 4
        out = operator.process(np.ascontiguousarray(hdr[..., ::-1]))[..., ::-1]  # OpenCV's order is BGR
        return (np.clip(np.nan_to_num(out), 0, 1) * 255).round().astype(np.uint8)
    return tool


def denoised(image: np.ndarray) -> np.ndarray:
    return cv2.fastNlMeansDenoisingColored(image, None, 7, 7, 7, 21)


def colour_transferred(image: np.ndarray, mean=(60, 140, 110), std=(50, 12, 14)) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    pixels = lab.reshape(-1, 3)
    lab = (lab - pixels.mean(0)) / (pixels.std(0) + 1e-3) * np.array(std) + np.array(mean)
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


TOOLS = {"drago": tone_mapped(cv2.createTonemapDrago(1.0, 0.7)),
         "mantiuk": tone_mapped(cv2.createTonemapMantiuk(1.0, 0.7)),
         "reinhard": tone_mapped(cv2.createTonemapReinhard(1.0, 0.0, 0.0, 0.0)),
         "non-local-means": denoised, "colour-transfer": colour_transferred}


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    rows = []
    for scene in SCENES:
        frames = walkers() if scene == "walkers" else load(scene)
        pairs = flow_pairs(frames)
        for name, tool in TOOLS.items():
            processed = eight_bit([from_u8(tool(to_u8(f))) for f in frames])
            row = {"set": f"{scene}-{name}", **stabilizer_row(frames, processed, pairs)}
            if row["flicker"] >= FLICKERS and row["excess_removed"] < GOAL:
                row["bound_at_36_db"] = bound_row(row, frames, processed, AT, None, pairs)["bound"]
            rows.append(row)
            print(f"{row['set']:28} flicker {row['flicker']:.2f}x  {100 * row['excess_removed']:.1f}% removed  "
                  f"{row['psnr_to_processed']:.2f} dB  colourfulness {100 * row['colourfulness_kept']:.1f}%"
                  + (f"  any video {100 * row['bound_at_36_db']['excess_removed']:.1f}% at "
                     f"{row['bound_at_36_db']['psnr_to_processed']:.2f} dB" if "bound_at_36_db" in row else ""),
                  flush=True)
    print(save("untuned_tools", {"goal": GOAL, "flickers_from": FLICKERS, "rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
