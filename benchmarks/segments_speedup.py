"""Speed-up of ``dfstream run --workers N`` against one process, and what each segment costs.

Walkers (real footage, 682 frames with AAC audio) made grey at 640x360, through
the weights-free chain (``reference`` colorizer, frame 0 as the reference, then
``flow``), libx264 veryfast. Timed: one process; segments on 1..N local Ray
workers (one CPU each, N up to the cores); Ray's start and stop alone; the join
alone (stream copy of the segments with the audio). The per-segment overhead is
what a run on N workers costs beyond 1/N of the single-process time, so the
speed-up on N GPUs can be projected: T_N = T_1 / N + start + join + warm-up.
The seams of the run on the most workers, with this lossy encoder: Lai et al.'s
warping error (flow on the grey input) of each seam's frame pair against the
mean of all other pairs, and against the single run's at the same pair.

    python benchmarks/segments_speedup.py
"""

from __future__ import annotations

import os
import tempfile
import time
from fractions import Fraction

import av
import cv2
import dfstream
import numpy as np
from davis import DAVIS, save
from machine import no_options
from dfstream.batch import connected
from dfstream.engines.flow import DISFlow
from dfstream.engines.metrics import frame_warping_error
from dfstream.evaluate import read_frames
from dfstream.segments import WARMUP, frame_times, run_segments, segments_of

WALKERS = DAVIS.parent / "walkers_720p_aac.avi"
SIZE = (640, 360)


def grey_clip(path: str, reference: str) -> int:
    """Walkers as grey 640x360 H.264 with its audio copied; frame 0 in colour saved as the reference."""
    frames = 0
    with av.open(str(WALKERS)) as src, av.open(path, "w") as out:
        rate = src.streams.video[0].average_rate
        video = out.add_stream("libx264", rate=rate, options={"preset": "veryfast"})
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.codec_context.time_base = 1 / Fraction(rate)
        audio = out.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux():
            if packet.stream.type == "audio" and packet.size:
                packet.stream = audio
                out.mux(packet)
            elif packet.stream.type == "video":
                for frame in packet.decode():
                    image = frame.to_ndarray(format="rgb24")
                    small = cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)
                    if frames == 0:
                        cv2.imwrite(reference, cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
                    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
                    out_frame = av.VideoFrame.from_ndarray(grey, format="gray").reformat(format="yuv420p")
                    out_frame.pts, out_frame.time_base = frames, video.codec_context.time_base  # AVI: none of its own
                    for p in video.encode(out_frame):
                        out.mux(p)
                    frames += 1
        for p in video.encode(None):
            out.mux(p)
    return frames


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ray_start_and_stop(cores: int) -> None:
    with connected(None, cores):
        pass


def seams(src: str, single: str, split: str, options, workers: int) -> dict:
    """Warping error at the seams of ``split`` against its other frame pairs and the single run's."""
    times, keys = frame_times(src)
    firsts = [times.index(s.first) for s in segments_of(src, options, times, keys, workers)]
    flow, guide = DISFlow("medium"), [v.mean(1, keepdim=True) for v in read_frames(src)]
    one, seg = list(read_frames(single)), list(read_frames(split))
    pairs = [(flow(guide[t], guide[t + 1]), flow(guide[t + 1], guide[t])) for t in range(len(guide) - 1)]
    errors = {name: [frame_warping_error(v[t], v[t + 1], *pairs[t]) for t in range(len(pairs))]
              for name, v in (("single", one), ("segments", seg))}
    at = [f - 1 for f in firsts[1:]]
    others = [e for t, e in enumerate(errors["segments"]) if t not in at]
    return {"workers": workers, "seam_pairs": at,
            "seam_over_mean_of_other_pairs": [round(errors["segments"][t] / float(np.mean(others)), 3) for t in at],
            "seam_over_single_run_same_pair": [round(errors["segments"][t] / errors["single"][t], 3) for t in at]}


def main() -> None:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        src, ref = f"{folder}/walkers.mkv", f"{folder}/ref.png"
        frames = grey_clip(src, ref)
        options = dfstream.Options(stages="colorize,stabilize", references=[ref],
                                   encoder=dfstream.EncoderSettings(preset="veryfast"), overwrite=True)
        single = timed(lambda: dfstream.process(src, f"{folder}/one.mkv", **{
            k: getattr(options, k) for k in ("stages", "references", "encoder", "overwrite")}))
        rows = []
        for workers in range(1, cores + 1):
            target = f"{folder}/seg{workers}.mkv"
            said: list[str] = []
            seconds = timed(lambda: run_segments(src, target, options, workers=workers, say=said.append))
            rows.append({"workers": workers, "seconds": round(seconds, 2), "fps": round(frames / seconds, 1),
                         "speed_up": round(single / seconds, 2), "join": said[-1]})
        ray_start = timed(lambda: ray_start_and_stop(cores))
        seam = seams(src, f"{folder}/one.mkv", f"{folder}/seg{cores}.mkv", options, cores)
    result = {"input": f"walkers made grey at {SIZE[0]}x{SIZE[1]}, {frames} frames with AAC audio",
              "chain": "reference colorizer + flow stabilizer, libx264 veryfast", "cores": cores,
              "single_process": {"seconds": round(single, 2), "fps": round(frames / single, 1)},
              "segments": rows, "ray_start_and_stop_seconds": round(ray_start, 2),
              "warmup_frames_per_segment": WARMUP, "per_frame_ms": round(1000 * single / frames, 1),
              "seams_crf18": seam}
    for row in rows:
        print(f"{row['workers']} workers: {row['fps']} fps, speed-up {row['speed_up']}x")
    print("seams:", seam)
    print(save("segments_speedup", result))


if __name__ == "__main__":
    no_options(__doc__)
    main()
