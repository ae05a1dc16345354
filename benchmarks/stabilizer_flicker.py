"""The ``flow`` stabilizer on synthetic flicker: a unit check (real footage is in real_footage.py).

Processes: ``exposure`` (a random brightness gain per frame, sigma 4%: the
flicker of old film and of per-frame auto exposure) and ``gain`` (a random
gain per colour channel, sigma 3%: a per-frame grade or white balance that
wanders). Reported per sequence and process: the
warping error of input, processed and stabilized video (flow on the input,
Lai et al.), the share of the processed video's excess warping error removed,
PSNR to the processed video and the colourfulness kept.

    python benchmarks/stabilizer_flicker.py
"""

from __future__ import annotations

import os

import numpy as np
import torch
from davis import load, mean, save
from machine import no_options

from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.flow import DISFlow
from dfstream.engines.metrics import colourfulness, frame_warping_error, psnr_of
from dfstream.engines.stabilize.flow import FlowStabilizer

SEQUENCES = ("bus", "giant-slalom")
STRENGTH = float(os.environ.get("STRENGTH", FlowStabilizer().strength))


def gain(frames):
    rng = np.random.default_rng(0)
    return [(f * torch.tensor(rng.normal(1, 0.03, 3), dtype=torch.float32).view(1, 3, 1, 1)).clamp(0, 1)
            for f in frames]


def exposure(frames):
    rng = np.random.default_rng(1)
    return [(f * float(rng.normal(1, 0.04))).clamp(0, 1) for f in frames]


def warping_errors(videos, guide):
    flow = DISFlow("medium")
    ys = [luma(g, "bt601") for g in guide]
    pairs = [(flow(ys[t], ys[t + 1]), flow(ys[t + 1], ys[t])) for t in range(len(ys) - 1)]
    return [mean(frame_warping_error(v[t], v[t + 1], *pairs[t]) for t in range(len(v) - 1)) for v in videos]


def main() -> None:
    rows = []
    for sequence in SEQUENCES:
        frames = load(sequence)
        for process in (exposure, gain):
            processed = process(frames)
            stabilizer = FlowStabilizer(STRENGTH)
            out = [stabilizer.process(p, StageContext(f, luma(f, "bt601"), [i == 0]))
                   for i, (p, f) in enumerate(zip(processed, frames))]
            e_in, e_p, e_o = warping_errors([frames, processed, out], frames)
            mse = mean(float(((o - p) ** 2).mean()) for o, p in zip(out, processed))
            rows.append({
                "sequence": sequence, "process": process.__name__, "frames": len(frames),
                "warping_error": {"input": e_in, "processed": e_p, "stabilized": e_o},
                "excess_removed": 1 - (e_o - e_in) / (e_p - e_in),
                "psnr_to_processed": psnr_of(mse),
                "colourfulness_kept": mean(map(colourfulness, out)) / mean(map(colourfulness, processed)),
                "colourfulness": {"input": mean(map(colourfulness, frames)),
                                  "processed": mean(map(colourfulness, processed)),
                                  "stabilized": mean(map(colourfulness, out))},
            })
            r = rows[-1]
            print(f"{sequence:13} {process.__name__:10} excess removed {r['excess_removed']:.1%}  "
                  f"PSNR {r['psnr_to_processed']:.2f} dB  colourfulness kept {r['colourfulness_kept']:.1%}")
    print(save("stabilizer_flicker", {"stabilizer": f"flow, strength {STRENGTH}", "rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
