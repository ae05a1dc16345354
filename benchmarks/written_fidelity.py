"""What a written file keeps: the weights-free engines run through the command line, the output
read back and measured with ``dfstream eval``'s code, as a user would measure it.

Stabilizer: flicker/goat (input and processed made into H.264 videos, crf 18, 4:2:0) through
``dfstream processed.mkv out.mkv --stages stabilize --original input.mkv`` written several ways,
beside the same frames sent through unchanged (``--strength 0``: to R'G'B' and back) and the
stream copied (``--stages none``), and with the work size lowered (``--max-height 240``).
Recorded: PSNR to the processed video (of the mean square error, and the mean of the frames'),
the excess warping error removed, the colourfulness kept.

Colorizer: DAVIS bus made grey (4:4:4, lossless) through ``dfstream grey.mkv out.mkv
--reference frame0.png``, written losslessly and at the default crf 18; PSNR to the true colours
both ways over all frames, and the mean over frames 1.. as ``real_footage.py`` averages.

    python benchmarks/written_fidelity.py
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile

from davis import DAVIS, load, mean, save
from machine import no_options
from engine_speed import write_clip, write_still
from real_footage import FLICKER, folder

from dfstream.engines.metrics import psnr
from dfstream.evaluate import evaluate, read_frames

LOSSLESS_444 = ["--pix-fmt", "yuv444p", "--crf", "0"]
STABILIZER_RUNS = {  # label: (stages, arguments)
    "4:4:4 lossless": ("stabilize", LOSSLESS_444),
    "4:2:0 lossless": ("stabilize", ["--crf", "0"]),
    "default crf 18": ("stabilize", []),
    "--max-height 240, 4:4:4 lossless": ("stabilize", ["--max-height", "240", *LOSSLESS_444]),
    "unchanged through R'G'B' (--strength 0), 4:2:0 lossless": ("stabilize", ["--strength", "0", "--crf", "0"]),
    "--stages none, 4:2:0 lossless": ("none", ["--crf", "0"]),
    "--stages none, default crf 18": ("none", []),
}
COLORIZER_RUNS = {"4:4:4 lossless": LOSSLESS_444, "default crf 18": []}


def dfstream(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dfstream", *args, "-y", "-q"], check=True)


def main() -> None:
    stabilizer, colorizer = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        videos = {}
        for kind in ("input", "processed"):
            videos[kind] = f"{tmp}/{kind}.mkv"
            write_clip(folder(FLICKER / "goat" / kind), videos[kind], grey=False, options={"crf": "18"})
        for label, (stages, arguments) in STABILIZER_RUNS.items():
            out = f"{tmp}/out.mkv"
            dfstream(videos["processed"], out, "--stages", stages, "--original", videos["input"], *arguments)
            video = evaluate(out, original=videos["input"], processed=videos["processed"])["video"]
            stabilizer[label] = {key: "inf" if video[key] == math.inf else video[key]  # JSON has no infinity
                                 for key in ("psnr_processed", "mean_frame_psnr_processed",
                                             "excess_warping_error_removed", "colourfulness_kept")}
            print("goat", label, stabilizer[label], flush=True)
        truth = load("bus")
        grey, still = f"{tmp}/grey.mkv", f"{tmp}/still.png"
        write_clip(truth, grey, pix_fmt="yuv444p")
        write_still(truth[0], still)
        for label, arguments in COLORIZER_RUNS.items():
            out = f"{tmp}/coloured.mkv"
            dfstream(grey, out, "--reference", still, *arguments)
            video = evaluate(out, original=grey, against=str(DAVIS / "bus"))["video"]
            later = mean(psnr(o, t) for i, (o, t) in enumerate(zip(read_frames(out), truth)) if i)
            colorizer[label] = {"psnr_ground_truth": video["psnr_ground_truth"],
                                "mean_frame_psnr_ground_truth": video["mean_frame_psnr_ground_truth"],
                                "mean_psnr_frames_1_on": later}
            print("bus", label, colorizer[label], flush=True)
    print(save("written_fidelity", {"stabilizer_goat": stabilizer, "colorizer_bus": colorizer}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
