"""The ``reference`` colorizer on DAVIS made grey, frame 0 in colour as the reference.

Compared with a plain propagation of the reference chroma along the flow
(frame to frame, the same DIS flow): PSNR against the true colours, mean over
frames 1..N-1 and at the last frame, and the grey input's own PSNR for scale.
Grey input as DAVIS-gray in Lai et al.: BT.601 luma in three channels.

A still of another shape: the middle 4:3 of frame 0 (640 of 854 columns, at the
video's scale), as the colorizer places it (scaled to fit, centred) and
stretched to the frame's 16:9 beforehand (what the colorizer did with it
before 12-05 11:30).

A still in another tone than the film (a photo's exposure and tone curve): the
middle frame as the still, as it is and with its luma made 15% darker, 15%
brighter, or raised to the power 1.25 (its colours kept); PSNR over every frame
but the still's own.

A shot faded in from black over FADES frames (the luma times (t+1)/n, in 8
bits), frame 0 as the still: PSNR over the frames after the fade, against the
same frames coloured without it. And faded out to black over its last FADES
frames: PSNR over the fading frames (the black last one left out) against the
true colours faded alike (R'G'B' times the gain), against the shot coloured
without the fade and faded after.

A soft film (an old film's optics and copies) coloured from a sharp still: every frame blurred by a
Gaussian of SOFT pixels (in 8 bits), frame 0 unblurred as the still, against frame 0 as soft as the
film as the still; PSNR to the blurred true colours.

An exposure that drifts over the shot (a cloud, the iris, the film's density): the luma and the
true colours times a gain going steadily from 1 at frame 0 to each of DRIFTS at the last frame (in 8
bits), against the shot coloured as it is and given the same gains after.

A shadow passing over the shot (a cloud, a passer-by's): the luma and the true colours times a gain of
1 - SHADE exp(-((x - c) / (WIDE w))^2), its middle c sweeping from 0.3 of the width w left of the frame
to 0.3 right of it over the shot (in 8 bits), frame 0 as it is shaded as the still, against the shot
coloured as it is and shaded after. This shadow is neutral, R'G'B' alike; a real one on snow is blue
(lit by the sky), as the still's own shadows are, and the look-up gives the shaded snow their blue:
read the row as how the colorizer bears light that changes over part of the frame, not as its loss
under real shadows.

    python benchmarks/reference_colorizer.py
"""

from __future__ import annotations

import torch
from davis import load, mean, save
from machine import no_options

from dfstream.colour import luma, rgb_from_ycbcr, ycbcr
from dfstream.engines import StageContext
from dfstream.engines.colorize.reference import ReferenceColorizer
from dfstream.engines.filters import gaussian_blur
from dfstream.engines.flow import DISFlow, warp
from dfstream.engines.metrics import psnr
from dfstream.geometry import area

SEQUENCES = ("bus", "giant-slalom")
FADES = (20, 40)
SOFT = (1, 2, 3)
DRIFTS = (0.75, 1.25)
SHADE, WIDE = 0.4, 0.15


def against(video: list, truth: list) -> dict:
    """PSNR of a video to the truth: its mean over frames 1.. (frame 0 is the still) and at the last frame."""
    scores = [psnr(v, t) for v, t in zip(video, truth)]
    return {"psnr_mean": mean(scores[1:]), "psnr_last": scores[-1]}


def shaded(video: list) -> list:
    """``video`` with a shadow sweeping over it (SHADE, WIDE), in 8 bits."""
    width = video[0].shape[-1]
    x = torch.arange(width, dtype=torch.float32)
    out = []
    for t, frame in enumerate(video):
        middle = width * (-0.3 + 1.6 * t / (len(video) - 1))
        gain = 1 - SHADE * torch.exp(-(((x - middle) / (WIDE * width)) ** 2))
        out.append(((frame * gain).clamp(0, 1) * 255).round() / 255)
    return out


def plain_propagation(truth, greys):
    flow = DISFlow("fast", max_side=480)
    chroma = ycbcr(truth[0])[1]
    out = [truth[0]]
    for t in range(1, len(greys)):
        chroma = warp(chroma, flow(greys[t], greys[t - 1]))
        out.append(rgb_from_ycbcr(greys[t], chroma))
    return out


def coloured(still, greys) -> list:
    colorizer = ReferenceColorizer([still])
    return [colorizer.process(y.expand(-1, 3, -1, -1), StageContext(y.expand(-1, 3, -1, -1), y, [i == 0]))
            for i, y in enumerate(greys)]


TONES = {"still_middle": lambda y: y, "still_middle_darker": lambda y: 0.85 * y,
         "still_middle_brighter": lambda y: (1.15 * y).clamp(0, 1), "still_middle_to_the_power_1.25": lambda y: y**1.25}


def main() -> None:
    rows = []
    for sequence in SEQUENCES:
        truth = load(sequence)
        greys = [luma(f, "bt601") for f in truth]
        left = (truth[0].shape[-1] - 640) // 2
        middle = truth[0][..., left : left + 640]
        row = {"sequence": sequence, "frames": len(truth)}
        ours = coloured(truth[0], greys)
        for name, video in (("reference_colorizer", ours),
                            ("plain_propagation", plain_propagation(truth, greys)),
                            ("grey_input", [y.expand(-1, 3, -1, -1) for y in greys]),
                            ("still_4_3_placed", coloured(middle, greys)),
                            ("still_4_3_stretched", coloured(area(middle, truth[0].shape[-2:]), greys))):
            row[name] = against(video, truth)
        k = len(truth) // 2
        y, c = ycbcr(truth[k])
        for name, curve in TONES.items():
            scores = [psnr(v, t) for v, t in zip(coloured(rgb_from_ycbcr(curve(y), c), greys), truth)]
            row[name] = {"psnr_mean": mean(scores[:k] + scores[k + 1 :]), "psnr_last": scores[-1]}
        unfaded = [psnr(v, t) for v, t in zip(ours, truth)]
        for n in FADES:
            faded = [(y * min(1.0, (t + 1) / n) * 255).round() / 255 for t, y in enumerate(greys)]
            scores = [psnr(v, t) for v, t in zip(coloured(truth[0], faded), truth)]
            row[f"fade_in_{n}"] = {"psnr_mean": mean(scores[n:]), "psnr_last": scores[-1],
                                   "without_fade": {"psnr_mean": mean(unfaded[n:]), "psnr_last": unfaded[-1]}}
            gains = [min(1.0, (len(greys) - 1 - t) / n) for t in range(len(greys))]
            faded = [(y * g * 255).round() / 255 for y, g in zip(greys, gains)]
            fading = slice(-n, -1)
            dim = [t * g for t, g in zip(truth[fading], gains[fading])]
            row[f"fade_out_{n}"] = {
                "psnr_mean": mean(psnr(v, t) for v, t in zip(coloured(truth[0], faded)[fading], dim)),
                "without_fade": {"psnr_mean": mean(psnr(v * g, t) for v, g, t in zip(ours[fading], gains[fading], dim))}}
        for sigma in SOFT:
            soft = [(gaussian_blur(f, sigma) * 255).round() / 255 for f in truth]
            film = [luma(f, "bt601") for f in soft]
            row[f"soft_{sigma}"] = {}
            for name, still in (("sharp_still", truth[0]), ("still_as_soft", soft[0])):
                row[f"soft_{sigma}"][name] = against(coloured(still, film), soft)
        for end in DRIFTS:
            gains = [1 + (end - 1) * t / (len(truth) - 1) for t in range(len(truth))]
            drifted = [((f * g).clamp(0, 1) * 255).round() / 255 for f, g in zip(truth, gains)]
            after = [((v * g).clamp(0, 1) * 255).round() / 255 for v, g in zip(ours, gains)]
            for name, video in (("drifting", coloured(truth[0], [luma(f, "bt601") for f in drifted])),
                                ("coloured_then_drifted", after)):
                row.setdefault(f"drift_to_{end}", {})[name] = against(video, drifted)
        truth_shaded = shaded(truth)
        for name, video in (("shaded", coloured(truth_shaded[0], [luma(f, "bt601") for f in truth_shaded])),
                            ("coloured_then_shaded", shaded(ours))):
            row.setdefault("shadow", {})[name] = against(video, truth_shaded)
        rows.append(row)
        print(f"{sequence:13} reference colorizer {row['reference_colorizer']['psnr_mean']:.2f} dB "
              f"(last {row['reference_colorizer']['psnr_last']:.2f})  plain propagation "
              f"{row['plain_propagation']['psnr_mean']:.2f} dB (last {row['plain_propagation']['psnr_last']:.2f})"
              f"  grey {row['grey_input']['psnr_mean']:.2f} dB; a 4:3 still placed "
              f"{row['still_4_3_placed']['psnr_mean']:.2f} (last {row['still_4_3_placed']['psnr_last']:.2f}), "
              f"stretched {row['still_4_3_stretched']['psnr_mean']:.2f} "
              f"(last {row['still_4_3_stretched']['psnr_last']:.2f}); the middle frame as the still "
              + ", ".join(f"{name[13:].replace('_', ' ') or 'as it is'} {row[name]['psnr_mean']:.2f}" for name in TONES)
              + "; after a fade from black over " + ", ".join(
                  f"{n} frames {row[f'fade_in_{n}']['psnr_mean']:.2f} (without it "
                  f"{row[f'fade_in_{n}']['without_fade']['psnr_mean']:.2f})" for n in FADES)
              + "; fading out over " + ", ".join(
                  f"{n} frames {row[f'fade_out_{n}']['psnr_mean']:.2f} (faded after "
                  f"{row[f'fade_out_{n}']['without_fade']['psnr_mean']:.2f})" for n in FADES)
              + "; a film softened by " + ", ".join(
                  f"{s} px {row[f'soft_{s}']['sharp_still']['psnr_mean']:.2f} from the sharp still (as soft "
                  f"{row[f'soft_{s}']['still_as_soft']['psnr_mean']:.2f})" for s in SOFT)
              + "; exposure drifting to " + ", ".join(
                  f"{e} {row[f'drift_to_{e}']['drifting']['psnr_last']:.2f} at the last frame (coloured, then "
                  f"drifted {row[f'drift_to_{e}']['coloured_then_drifted']['psnr_last']:.2f})" for e in DRIFTS)
              + f"; a shadow sweeping over it {row['shadow']['shaded']['psnr_mean']:.2f} (coloured, then shaded "
                f"{row['shadow']['coloured_then_shaded']['psnr_mean']:.2f})",
              flush=True)
    print(save("reference_colorizer", {"rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
