"""Both weights-free engines on real footage at an old film's frame rate: the real sets with every
2nd and 3rd frame kept (DAVIS's 24-30 fps brought to 12-15 and 8-10: a silent film's 16-18 fps
moves at least as far from frame to frame), against every frame.

Colorizer (``reference``): every real set with true colours (as ``real_footage.py``), grey in, the
first frame kept as the still; PSNR to the true colours, mean over frames 1.. and last, against
plain flow propagation of the still's chroma. Stabilizer (``flow``, one frame ahead as a file run
has it): every ``flicker/`` set (real per-frame tools), measured as ``real_footage.py`` measures:
flicker, the excess warping error removed, PSNR to the processed video, colourfulness kept.

    python benchmarks/low_frame_rate.py
"""

from __future__ import annotations

import torch
from davis import save
from machine import no_options
from real_footage import colorizer_sets, eight_bit, flow_pairs, folder, network_sets, scores, stabilized, warping_error
from reference_colorizer import against, coloured, plain_propagation

from dfstream.colour import luma

STEPS = (1, 2, 3)  # every k-th frame kept


def colorizer_row(truth: list[torch.Tensor]) -> dict:
    greys = [luma(f, "bt601") for f in truth]
    return {"frames": len(truth), "reference_colorizer": against(eight_bit(coloured(truth[0], greys)), truth),
            "plain_propagation": against(eight_bit(plain_propagation(truth, greys)), truth)}


def stabilizer_row(original: list[torch.Tensor], processed: list[torch.Tensor], pairs=None) -> dict:
    """The stabilizer one frame ahead, measured along ``pairs`` (``flow_pairs`` of ``original``)."""
    pairs = pairs or flow_pairs(original)
    e_in, e_p = (warping_error(v, pairs) for v in (original, processed))
    out, _ = stabilized(original, processed, lookahead=True)
    return {"frames": len(out), "flicker": e_p / e_in, "warping_error": {"input": e_in, "processed": e_p},
            **scores(out, processed, pairs, (e_in, e_p))[1]}


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    colorizer, stabilizer = [], []
    for name, truth in colorizer_sets():
        for step in STEPS:
            colorizer.append(row := {"set": name, "every": step, **colorizer_row(truth[::step])})
            ours, plain = row["reference_colorizer"], row["plain_propagation"]
            print(f"colorize  {name:14} every {step}: {ours['psnr_mean']:.2f} dB (last {ours['psnr_last']:.2f})  "
                  f"plain propagation {plain['psnr_mean']:.2f} (last {plain['psnr_last']:.2f})", flush=True)
    for path in network_sets():
        original, processed = folder(path / "input"), folder(path / "processed")
        for step in STEPS:
            stabilizer.append(row := {"set": path.name, "every": step,
                                      **stabilizer_row(original[::step], processed[::step])})
            print(f"stabilize {path.name:14} every {step}: flicker {row['flicker']:.2f}x  "
                  f"{100 * row['excess_removed']:.1f}% removed  {row['psnr_to_processed']:.2f} dB  "
                  f"colourfulness {100 * row['colourfulness_kept']:.1f}%", flush=True)
    print(save("low_frame_rate", {"steps": list(STEPS), "colorizer": colorizer, "stabilizer": stabilizer}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
