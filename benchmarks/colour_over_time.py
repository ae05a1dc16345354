"""Does the ``reference`` colorizer's colour fade over hundreds of frames? DAVIS played forth and
back, five passes (bus: 396 frames, giant-slalom: 631), grey in, frame 0 in colour as the reference.

Each pass ends at the sequence's far end (bus: the view furthest from the still, full of
trees that entered later); a colour that drifts or fades would be worse there on every
later pass. Recorded per pass: PSNR to the true colours (mean over the pass and at its far
end) and the colour kept at the far end (mean chroma magnitude, over the true colours').

    python benchmarks/colour_over_time.py
"""

from __future__ import annotations

from davis import load, mean, save
from machine import no_options

from dfstream.colour import luma, ycbcr
from dfstream.engines import StageContext
from dfstream.engines.colorize.reference import ReferenceColorizer
from dfstream.engines.metrics import psnr

SEQUENCES = ("bus", "giant-slalom")
PASSES = 5


def saturation(rgb) -> float:
    return float(ycbcr(rgb)[1].norm(dim=1).mean())


def main() -> None:
    rows = []
    for sequence in SEQUENCES:
        frames = load(sequence)
        forth, back = frames[1:], frames[-2::-1]  # each pass starts one frame after the turn
        truth = [frames[0]] + [f for p in range(PASSES) for f in (forth if p % 2 == 0 else back)]
        colorizer = ReferenceColorizer([frames[0]])
        scores, far_ends = [], []
        for i, frame in enumerate(truth):
            y = luma(frame, "bt601")
            grey = y.expand(-1, 3, -1, -1)
            out = colorizer.process(grey, StageContext(grey, y, [i == 0]))
            scores.append(psnr(out, frame))
            if i and i % (len(frames) - 1) == 0 and (i // (len(frames) - 1)) % 2 == 1:
                far_ends.append((psnr(out, frame), saturation(out) / saturation(frame)))
        per_pass = [scores[1 + p * (len(frames) - 1) : 1 + (p + 1) * (len(frames) - 1)] for p in range(PASSES)]
        rows.append({"sequence": sequence, "frames": len(truth),
                     "passes": [{"psnr_mean": mean(s), "psnr_last": s[-1]} for s in per_pass],
                     "far_end": [{"psnr": p, "colour_kept": k} for p, k in far_ends]})
        print(sequence, [f"{mean(s):.2f}" for s in per_pass],
              "far end:", [f"{p:.2f} dB {100 * k:.0f}%" for p, k in far_ends])
    print(save("colour_over_time", {"passes": PASSES, "rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
