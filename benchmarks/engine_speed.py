"""Speed of the weights-free engines on this CPU at 640x360: each stage alone, then whole runs.

Stages alone take DAVIS frames already on the device (R'G'B' tensors); the
whole runs go through ``dfstream`` end to end (decode, colour conversion,
stages, libx264 veryfast encode) on a grey 640x360 clip made from the same
frames. Warm-up excluded; the median of three passes counts (of five for whole
runs, whose speed also depends on the encoder's threads; the chains take turns
run by run, as this machine's speed swings by a third or more within an hour).

    python benchmarks/engine_speed.py
"""

from __future__ import annotations

import statistics
import tempfile
import time

import dfstream  # before torch, as in the command line: its OpenMP setting applies only then
import torch
from davis import load, save
from machine import no_options

from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.cartoonize.classic import ClassicCartoonizer
from dfstream.engines.colorize.reference import ReferenceColorizer
from dfstream.engines.stabilize.flow import FlowStabilizer
from dfstream.pipeline import EncoderSettings

SIZE = (640, 360)
BATCH = 8


def stage_fps(make, frames, grey: bool) -> float:
    inputs = [luma(f, "bt601").expand(-1, 3, -1, -1).contiguous() if grey else f for f in frames]
    batches = [torch.cat(inputs[i : i + BATCH]) for i in range(0, len(inputs) - BATCH + 1, BATCH)]
    times = []
    for _ in range(4):  # the first pass warms up
        stage = make()
        started = time.perf_counter()
        for i, b in enumerate(batches):
            y = luma(b, "bt601")
            stage.process(b, StageContext(b, y, [i == 0] + [False] * (len(b) - 1)))
        times.append(time.perf_counter() - started)
    return len(batches) * BATCH / statistics.median(times[1:])


def write_clip(frames, path: str, grey: bool = True, pix_fmt: str = "yuv420p", options: dict | None = None) -> None:
    """Frames [1,3,H,W] as an H.264 video, made grey (BT.601 luma) unless ``grey`` is False;
    lossless unless ``options`` say otherwise."""
    import av

    with av.open(path, "w") as out:
        v = out.add_stream("libx264", rate=25, options=options or {"qp": "0", "preset": "ultrafast"})
        v.height, v.width = frames[0].shape[-2:]
        v.pix_fmt = pix_fmt
        for f in frames:
            picture = luma(f, "bt601")[0, 0] if grey else f[0].permute(1, 2, 0)
            image = (picture * 255).round().to(torch.uint8).contiguous().numpy()
            frame = av.VideoFrame.from_ndarray(image, format="gray" if grey else "rgb24").reformat(format=pix_fmt)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)


def write_still(frame: torch.Tensor, path: str) -> None:
    """A colour frame [1,3,H,W] as the reference still a user would give."""
    import cv2

    cv2.imwrite(path, cv2.cvtColor((frame[0].permute(1, 2, 0) * 255).byte().numpy(), cv2.COLOR_RGB2BGR))


def chain_runs(src: str, chains: list[str], reference: str, folder: str) -> dict[str, tuple[float, dict]]:
    """Per chain, the fps of the median of five whole runs and that run's milliseconds per frame in
    each stage. The chains take turns, round by round, so that all see the same swings of the
    machine's speed."""
    runs = {chain: [] for chain in chains}
    for _ in range(5):
        for chain in chains:
            summary = dfstream.process(src, f"{folder}/out.mkv", stages=chain, references=[reference],
                                       encoder=EncoderSettings(preset="veryfast"), overwrite=True)
            runs[chain].append((summary.frames / summary.seconds,
                                {k: round(1000 * v / summary.frames, 1) for k, v in summary.stage_seconds.items()}))
    return {chain: sorted(r, key=lambda run: run[0])[2] for chain, r in runs.items()}


def main() -> None:
    frames = load("bus", SIZE)
    reference = frames[0]
    results = {
        "colorize=reference": stage_fps(lambda: ReferenceColorizer([reference]), frames, grey=True),
        "stabilize=flow": stage_fps(lambda: FlowStabilizer(lookahead=True), frames, grey=False),  # as a file run
        "cartoonize=classic:comic": stage_fps(lambda: ClassicCartoonizer("comic"), frames, grey=False),
    }
    with tempfile.TemporaryDirectory() as folder:
        src, ref = f"{folder}/grey.mkv", f"{folder}/ref.png"
        write_clip(frames, src)
        write_still(reference, ref)
        runs = chain_runs(src, ["none", "colorize", "stabilize", "cartoonize", "colorize,stabilize"], ref, folder)
        results.update({f"dfstream --stages {chain}": fps for chain, (fps, _) in runs.items()})
        stage_ms = {chain: ms for chain, (_, ms) in runs.items()}
    for name, fps in results.items():
        print(f"{name:40} {fps:7.1f} fps")
    print(save("engine_speed", {"size": f"{SIZE[0]}x{SIZE[1]}", "frames": len(frames),
                                "fps": {k: round(v, 1) for k, v in results.items()},
                                "stage_ms_per_frame": stage_ms}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
