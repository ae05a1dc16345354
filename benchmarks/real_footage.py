"""Both weights-free engines on every real set in ../shared/media, the measure for quality.

Stabilizer (``flow``, default strength, ``--original`` mode, one frame ahead as a
file run has it; beside it, ``"causal"``, as a live run has it): per-frame processed
real videos — every set of ``flicker/`` (a folder with ``input/`` and ``processed/``
frames: now an image colorization network and an image enhancement network; a set
added there is run too) and every DAVIS sequence and the first 80 frames of
walkers (a near-monochrome crowd seen from above, at 854x480) through per-frame tools of
FFmpeg and OpenCV that know nothing of time (grey-world white balance, auto
levels, CLAHE contrast enhancement, OpenCV's edge-aware detail enhancement, and
He et al.'s dark-channel dehazing with its atmospheric light estimated anew on
each frame), and a posterizing style filter (a k-means palette of 8 colours
found anew on each frame) and OpenCV's stylization (a painterly style
filter), multi-scale retinex with each frame's own stretch (an enhancement), OpenCV's
pencil sketch in colour (a style filter with a paper texture fixed in the frame), OpenCV's
histogram equalization of each of R', G' and B' (an auto contrast whose colour cast follows
each frame) and JPEG at quality 15 (block artefacts on the frame's grid). And a control
that does not flicker at all: one
linear unsharp mask on every frame (it moves with the content), sharpening
about as much as the detail enhancement; whatever "excess" warping error it
shows is the input's own noise and flow residue amplified, not flicker
(``"control": true``, left out of the summary). Reported: Lai et al.'s
warping error in excess of the input's own removed (flow on the input), PSNR
to the processed video, colourfulness kept (none where the processed video has no colour
to keep), milliseconds per frame, and beside them
the uniform blend: Lai et al.'s blend with one share for every pixel and frame
along the measure's own flow and occlusion mask, its share fitted afterwards to
the stabilizer's PSNR (what blending along the flow gives at that fidelity,
with hindsight). A set whose processed video has
less than 1.2x the input's warping error has no flicker worth the name: it is
recorded with ``"flickers": false`` and left out of the summary.

Colorizer (``reference``): every DAVIS sequence, walkers and each ``flicker/`` set whose
input is in colour (bike-packing) made grey (BT.601 luma), frame 0 in colour as the reference; PSNR to the true colours
(mean over frames 1.. and last) against plain flow propagation of the
reference's chroma.

Outputs are measured as 8-bit R'G'B' frames, as a file written at 4:4:4 holds
them: the processed videos (each tool's frames rounded to 8 bits, as it would
write them) and the truth are 8-bit, and a float output, without
their rounding noise, would seem to lose colourfulness on a nearly grey scene
(the stylized walkers: 86% kept in float, 101% in 8 bits).

One picture per set under results/real_footage/: input | processed | stabilized
(or grey | coloured | truth) at the last frame.

    python benchmarks/real_footage.py
    python benchmarks/real_footage.py --sets goat bus   # named sets alone, in a file of their own
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from davis import DAVIS, HERE, load, mean, save
from reference_colorizer import against, coloured, plain_propagation

from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.filters import guided_filter
from dfstream.engines.flow import DISFlow, occlusion, warp
from dfstream.engines.metrics import colourfulness, frame_warping_error, psnr_of
from dfstream.engines.stabilize.flow import FlowStabilizer
from dfstream.evaluate import read_frames
from dfstream.geometry import area

FLICKER = DAVIS.parent / "flicker"
PICTURES = HERE / "results" / "real_footage"
FLICKERS = 1.2  # processed over input warping error below which a set has no flicker to remove
CONTROL = "control: one linear unsharp mask"
FITS = 4  # steps fitting the uniform blend's share to the stabilizer's departure
COLOURED = 0.5  # colourfulness of a set's first input frame above which its colours are a truth to colour to


def folder(path) -> list[torch.Tensor]:
    """A folder's frames (PNG, JPEG, ...) in name order, as ``dfstream eval`` reads them."""
    return list(read_frames(str(path)))


def network_sets() -> list[Path]:
    """Every set under flicker/ (a folder with input/ and processed/ frames), any added there too."""
    return sorted(p for p in FLICKER.iterdir() if (p / "input").is_dir() and (p / "processed").is_dir())


def sequences() -> list[str]:
    """Every DAVIS sequence under davis/."""
    return sorted(p.name for p in DAVIS.iterdir() if p.is_dir() and any(p.glob("*.jpg")))


def walkers(count: int = 80) -> list[torch.Tensor]:
    """The first frames of the crowd seen from above (walkers_720p_aac.avi), at DAVIS's 854x480 in 8 bits."""
    frames = read_frames(str(DAVIS.parent / "walkers_720p_aac.avi"))
    return eight_bit([area(frame, (480, 854)) for frame in itertools.islice(frames, count)])


def eight_bit(video: list[torch.Tensor]) -> list[torch.Tensor]:
    """Frames rounded to 8 bits, as a file written in 8-bit R'G'B' holds them: what is measured."""
    return [(x.clamp(0, 1) * 255).round() / 255 for x in video]


def to_u8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()


def from_u8(image: np.ndarray) -> torch.Tensor:
    """An 8-bit HxWx3 R'G'B' image as a [1,3,H,W] frame in [0, 1] (``to_u8`` undone)."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def ffmpeg_filter(frames: list[torch.Tensor], description: str) -> list[torch.Tensor]:
    """Each frame through an FFmpeg filter graph on its own (a fresh graph per frame: no memory)."""
    out = []
    for f in frames:
        image = to_u8(f)
        graph = av.filter.Graph()
        src = graph.add_buffer(width=image.shape[1], height=image.shape[0], format="rgb24", time_base=1)
        graph.link_nodes(src, graph.add(*description.split("=", 1)), graph.add("buffersink")).configure()
        graph.push(av.VideoFrame.from_ndarray(image, format="rgb24"))
        result = graph.pull().to_ndarray(format="rgb24")
        out.append(from_u8(result))
    return out


def clahe(frames: list[torch.Tensor]) -> list[torch.Tensor]:
    """OpenCV's CLAHE on the L of CIELAB, frame by frame (a per-frame contrast enhancement)."""
    tool = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    out = []
    for f in frames:
        lab = cv2.cvtColor(to_u8(f), cv2.COLOR_RGB2LAB)
        lab[..., 0] = tool.apply(lab[..., 0])
        out.append(from_u8(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)))
    return out


def detail_enhance(frames: list[torch.Tensor]) -> list[torch.Tensor]:
    """OpenCV's edge-aware detail enhancement (photo module), frame by frame."""
    return [from_u8(cv2.detailEnhance(to_u8(f), sigma_s=10, sigma_r=0.15)) for f in frames]


def dehaze(frames: list[torch.Tensor], patch: int = 15, omega: float = 0.95) -> list[torch.Tensor]:
    """He et al.'s dark channel prior dehazing, frame by frame: atmospheric light from the brightest
    0.1% of the dark channel, transmission refined by a guided filter on the luma."""
    kernel = np.ones((patch, patch), np.uint8)
    out = []
    for f in frames:
        image = f[0].permute(1, 2, 0).numpy()
        dark = cv2.erode(image.min(2), kernel)
        brightest = np.argsort(dark.ravel(), kind="stable")[-max(1, dark.size // 1000):]  # ties: the same on any CPU
        light = image.reshape(-1, 3)[brightest].max(0)
        t = torch.from_numpy(1 - omega * cv2.erode((image / light).min(2), kernel))[None, None]
        t = guided_filter(luma(f, "bt601"), t, radius=40, eps=1e-3).clamp_min(0.1)
        light = torch.from_numpy(light).view(1, 3, 1, 1)
        out.append(((f - light) / t + light).clamp(0, 1))
    return out


def posterize(frames: list[torch.Tensor], colours: int = 8) -> list[torch.Tensor]:
    """Each frame in a palette of its own ``colours``, found by k-means (OpenCV's, k-means++ seeding
    from one fixed seed): a posterizing style filter, whose palette swings from frame to frame."""
    out = []
    for f in frames:
        image = to_u8(f)
        cv2.setRNGSeed(0)
        _, labels, palette = cv2.kmeans(image.reshape(-1, 3).astype(np.float32), colours, None,
                                        (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0), 1,
                                        cv2.KMEANS_PP_CENTERS)
        out.append(torch.from_numpy(palette[labels.ravel()].reshape(image.shape) / 255).permute(2, 0, 1)[None])
    return out


def stylize(frames: list[torch.Tensor]) -> list[torch.Tensor]:
    """OpenCV's stylization (photo module: an edge-preserving filter with its edges inked), a
    painterly style filter, frame by frame."""
    return [from_u8(cv2.stylization(to_u8(f), sigma_s=60, sigma_r=0.45)) for f in frames]


def retinex(frames: list[torch.Tensor], scales: tuple[int, ...] = (15, 80, 250)) -> list[torch.Tensor]:
    """Multi-scale retinex (Jobson et al.): the log of each channel less the log of its Gaussian
    surrounds, stretched between the frame's own 1st and 99th percentiles, frame by frame (a
    classic enhancement, whose stretch follows each frame's content)."""
    out = []
    for f in frames:
        image = to_u8(f).astype(np.float32) + 1
        log = np.log(image)
        r = sum(log - np.log(cv2.GaussianBlur(image, (0, 0), s)) for s in scales) / len(scales)
        low, high = np.percentile(r, (1, 99))
        out.append(torch.from_numpy(np.clip((r - low) / (high - low), 0, 1)).permute(2, 0, 1)[None].float())
    return out


def sketch(frames: list[torch.Tensor]) -> list[torch.Tensor]:
    """OpenCV's pencil sketch in colour (photo module), frame by frame: a style filter whose paper
    texture stays fixed in the frame while the scene moves under it."""
    return [from_u8(cv2.pencilSketch(to_u8(f), sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1]) for f in frames]


def equalize(frames: list[torch.Tensor]) -> list[torch.Tensor]:
    """OpenCV's histogram equalization of R', G' and B' each on its own, frame by frame (an auto
    contrast whose tone and colour cast follow each frame's histogram)."""
    return [from_u8(np.stack([cv2.equalizeHist(np.ascontiguousarray(c)) for c in to_u8(f).transpose(2, 0, 1)], 2))
            for f in frames]


def jpeg(frames: list[torch.Tensor], quality: int = 15) -> list[torch.Tensor]:
    """Each frame through OpenCV's JPEG encoder at ``quality`` and back: block artefacts on the
    frame's fixed 8x8 grid, found anew on each frame."""
    return [from_u8(cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", cv2.cvtColor(to_u8(f), cv2.COLOR_RGB2BGR),
                                                           [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                                              cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)) for f in frames]


def unsharp(frames: list[torch.Tensor], amount: float = 2.0, sigma: float = 2.0) -> list[torch.Tensor]:
    """The control: frame + amount * (frame - Gaussian blur of the frame), the same on every frame."""
    out = []
    for f in frames:
        image = f[0].permute(1, 2, 0).numpy()
        sharp = image + amount * (image - cv2.GaussianBlur(image, (0, 0), sigma))
        out.append(torch.from_numpy(np.clip(sharp, 0, 1)).permute(2, 0, 1)[None])
    return out


TOOLS = (  # suffix of the set's name, the process, the tool
    ("grayworld", "FFmpeg grayworld", lambda frames: ffmpeg_filter(frames, "grayworld")),
    ("autolevels", "FFmpeg normalize", lambda frames: ffmpeg_filter(frames, "normalize=smoothing=0")),
    ("clahe", "OpenCV CLAHE", clahe), ("detail", "OpenCV detailEnhance", detail_enhance),
    ("dehaze", "dark channel dehazing", dehaze), ("posterize", "k-means palette per frame", posterize),
    ("stylize", "OpenCV stylization", stylize), ("retinex", "multi-scale retinex", retinex),
    ("sketch", "OpenCV pencil sketch", sketch), ("equalize", "OpenCV histogram equalization per channel", equalize),
    ("jpeg", "OpenCV JPEG at quality 15", jpeg), ("unsharp", CONTROL, unsharp))


def set_names() -> set[str]:
    """The name of every set, for the stabilizer or the colorizer."""
    scenes = (*sequences(), "walkers")
    return ({p.name for p in network_sets()} | set(scenes)
            | {f"{scene}-{suffix}" for scene in scenes for suffix, _, _ in TOOLS})


def stabilizer_sets(wanted=lambda name: True):
    """(name, process, input, processed) of every real set whose name is ``wanted``."""
    for path in network_sets():
        if wanted(path.name):
            yield path.name, "network (flicker/)", folder(path / "input"), folder(path / "processed")
    for sequence in (*sequences(), "walkers"):
        names = [f"{sequence}-{suffix}" for suffix, _, _ in TOOLS]
        if not any(map(wanted, names)):
            continue
        frames = walkers() if sequence == "walkers" else load(sequence)
        for name, (_, process, tool) in zip(names, TOOLS):
            if wanted(name):  # 8-bit frames, as each tool would write them
                yield name, process, frames, eight_bit(tool(frames))


def colorizer_sets(wanted=lambda name: True):
    """(name, true colours) of every real set with colour: the DAVIS sequences, walkers and the sets
    of flicker/ whose input is in colour."""
    for sequence in sequences():
        if wanted(sequence):
            yield sequence, load(sequence)
    if wanted("walkers"):
        yield "walkers", walkers()
    for path in network_sets():
        if wanted(path.name) and colourfulness((frames := folder(path / "input"))[0]) > COLOURED:
            yield path.name, frames


def flow_pairs(guide) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The measure's flows between neighbours of the input and its mask of frame t:
    (t -> t+1, t+1 -> t, non-occluded), worked out once for every video measured along them."""
    flow = DISFlow("medium")
    ys = [luma(g, "bt601") for g in guide]
    pairs = [(flow(ys[t], ys[t + 1]), flow(ys[t + 1], ys[t])) for t in range(len(ys) - 1)]
    return [(forward, backward, 1 - occlusion(forward, backward)) for forward, backward in pairs]


def warping_error(video, pairs) -> float:
    return mean(frame_warping_error(video[t], video[t + 1], *pairs[t]) for t in range(len(video) - 1))


def uniform_blend(processed, pairs, kept, share: float) -> list[torch.Tensor]:
    """Lai et al.'s blend of the previous output with one share for every pixel and frame, along the
    measure's own flow and where its occlusion test passes (``kept``, per frame from the second):
    for a departure from the processed video, the warping error left is least with one share (both
    are sums of squares of the same correction, (1 - s)^2 against s^2)."""
    out = [processed[0]]
    for p, (_, backward, _), keep in zip(processed[1:], pairs, kept):
        out.append(torch.lerp(p, warp(out[-1], backward), share * keep))
    return out


def blend_at(mse: float, processed, pairs, errors: tuple[float, float]) -> dict:
    """The uniform blend whose departure from the processed video is ``mse``: the share found by
    the secant method on log departure against log share (``FITS`` trials; the departure grows
    about as the share squared, the slope of the first step)."""
    e_in, e_p = errors
    kept = [1 - occlusion(backward, forward) for forward, backward, _ in pairs]
    last, share = None, 0.5
    for _ in range(FITS):
        out = eight_bit(uniform_blend(processed, pairs, kept, share))
        spent = mean(float(((o - p) ** 2).mean()) for o, p in zip(out, processed))
        here = (math.log(share), math.log(spent))
        slope = (here[0] - last[0]) / (here[1] - last[1]) if last and here[1] != last[1] else 0.5
        last, share = here, min(0.95, math.exp(here[0] + (math.log(mse) - here[1]) * slope))
    return {"share": math.exp(last[0]), "psnr_to_processed": psnr_of(spent),
            "excess_removed": 1 - (warping_error(out, pairs) - e_in) / (e_p - e_in)}


def picture(name: str, panels: list[torch.Tensor]) -> str:
    PICTURES.mkdir(parents=True, exist_ok=True)
    path = PICTURES / f"{name}.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([to_u8(p) for p in panels], 1), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 85])
    return str(path.relative_to(HERE.parent))


def stabilized(original, processed, lookahead: bool) -> tuple[list[torch.Tensor], float]:
    """The flow stabilizer's output in 8 bits and its milliseconds per frame."""
    stage = FlowStabilizer(lookahead=lookahead)
    started = time.perf_counter()
    out = stage.clip(processed, [StageContext(i, luma(i, "bt601"), [t == 0]) for t, i in enumerate(original)])
    return eight_bit(out), 1000 * (time.perf_counter() - started) / len(out)


def kept(out, processed) -> float | None:
    """The colourfulness of ``out`` over that of ``processed``; None where the processed video has
    none to keep (JPEG at quality 15 turns the near-grey walkers wholly grey)."""
    before = mean(map(colourfulness, processed))
    return mean(map(colourfulness, out)) / before if before else None


def scores(out, processed, pairs, errors: tuple[float, float]) -> tuple[float, dict]:
    """A stabilized video's mean square departure from the processed one, and its excess warping error
    removed (``errors``: the input's and the processed video's), PSNR to the processed video and
    colourfulness kept."""
    e_in, e_p = errors
    mse = mean(float(((o - p) ** 2).mean()) for o, p in zip(out, processed))
    return mse, {"excess_removed": 1 - (warping_error(out, pairs) - e_in) / (e_p - e_in),
                 "psnr_to_processed": psnr_of(mse), "colourfulness_kept": kept(out, processed)}


def stabilizer_row(name, process, original, processed) -> dict:
    pairs = flow_pairs(original)
    e_in, e_p = (warping_error(v, pairs) for v in (original, processed))
    flickers = e_p >= FLICKERS * e_in
    out, ms = stabilized(original, processed, lookahead=True)
    mse, row = scores(out, processed, pairs, (e_in, e_p))
    causal, causal_ms = stabilized(original, processed, lookahead=False)
    return {"set": name, "process": process, "frames": len(out), "size": list(out[0].shape[-2:]),
            "flickers": flickers, "control": process == CONTROL,
            "warping_error": {"input": e_in, "processed": e_p, "stabilized": warping_error(out, pairs)}, **row,
            "ms_per_frame": ms,
            "causal": {**scores(causal, processed, pairs, (e_in, e_p))[1], "ms_per_frame": causal_ms},
            "uniform_blend": blend_at(mse, processed, pairs, (e_in, e_p)) if flickers else None,
            "picture": picture(name, [original[-1], processed[-1], out[-1]])}


def colorizer_row(name, truth) -> dict:
    greys = [luma(f, "bt601") for f in truth]
    started = time.perf_counter()
    ours = coloured(truth[0], greys)
    ms = 1000 * (time.perf_counter() - started) / len(ours)
    ours = eight_bit(ours)
    row = {"set": name, "frames": len(truth), "ms_per_frame": ms,
           "picture": picture(f"colour-{name}", [greys[-1].expand(-1, 3, -1, -1), ours[-1], truth[-1]])}
    plain = eight_bit(plain_propagation(truth, greys))
    row["reference_colorizer"], row["plain_propagation"] = against(ours, truth), against(plain, truth)
    return row


def percent(share: float | None) -> str:
    return "none to keep" if share is None else f"{100 * share:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", help="these sets alone (recorded in a file of their own)")
    args = parser.parse_args()
    named = set(args.sets or ())
    if unknown := named - set_names():
        parser.error(f"no such set: {', '.join(sorted(unknown))}")
    wanted = (lambda name: name in named) if named else (lambda name: True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    stabilizer = []
    for name, process, original, processed in stabilizer_sets(wanted):
        stabilizer.append(row := stabilizer_row(name, process, original, processed))
        flat = ("  (control: no flicker at all)" if row["control"] else
                "" if row["flickers"] else "  (does not flicker: left out)")
        uniform = f"  (uniform blend {100 * row['uniform_blend']['excess_removed']:.1f}%)" if row["flickers"] else ""
        print(f"stabilize {name:24} {100 * row['excess_removed']:5.1f}% removed  {row['psnr_to_processed']:.2f} dB  "
              f"colourfulness {percent(row['colourfulness_kept'])}  {row['ms_per_frame']:.0f} ms/frame  (causal "
              f"{100 * row['causal']['excess_removed']:.1f}% at {row['causal']['psnr_to_processed']:.2f} dB)"
              f"{uniform}{flat}", flush=True)
    colorizer = []
    for name, truth in colorizer_sets(wanted):
        colorizer.append(row := colorizer_row(name, truth))
        ours, plain = row["reference_colorizer"], row["plain_propagation"]
        print(f"colorize  {name:24} {ours['psnr_mean']:.2f} dB (last {ours['psnr_last']:.2f})  plain propagation "
              f"{plain['psnr_mean']:.2f} (last {plain['psnr_last']:.2f})  {row['ms_per_frame']:.0f} ms/frame",
              flush=True)
    result = "real_footage" + "".join(f"_{name}" for name in sorted(named))
    print(save(result, {"stabilizer": stabilizer, "colorizer": colorizer}))


if __name__ == "__main__":
    main()
