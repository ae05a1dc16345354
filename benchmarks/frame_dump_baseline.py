"""Streaming against the frame-dump way DeOldify processes video, same stage, same encoder.

DeOldify's VideoColorizer: decode every frame to a JPEG file (mjpeg, best
quality), copy the audio out, process each file and save it as JPEG again
(PIL's default quality 75), encode the files to H.264, then remux the audio
in. This script does those steps with PyAV and OpenCV (no ffmpeg binary) and
the same dfstream stage, then runs ``dfstream`` on the same input with the
same libx264 settings, and records throughput, the temporary disk used, and
whether audio and timestamps survive.

    python benchmarks/frame_dump_baseline.py [INPUT] [--stages gray] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import dfstream  # first, as in the command line: it sets the OpenMP wait policy before torch loads

import av
import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import stamp  # noqa: E402

from dfstream.colour import luma  # noqa: E402
from dfstream.engines import EngineOptions, StageContext, build_chain, parse_stages  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_INPUT = HERE.parents[1] / "shared" / "media" / "walkers_720p_aac.avi"
CRF = 18  # dfstream's default; DeOldify uses 17


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def frame_dump(src: str, dst: str, stages: list, work: Path, preset: str) -> dict:
    """DeOldify's steps; returns the peak bytes its temporary folder held."""
    raw, done = work / "bwframes", work / "colorframes"
    raw.mkdir()
    done.mkdir()
    peak = 0
    with av.open(src) as inp:  # 1. every frame to a JPEG file, at the best quality
        video = inp.streams.video[0]
        video.thread_type = "AUTO"
        rate = video.guessed_rate or Fraction(25)
        for i, frame in enumerate(inp.decode(video)):
            cv2.imwrite(str(raw / f"{i:05d}.jpg"), frame.to_ndarray(format="bgr24"),
                        [cv2.IMWRITE_JPEG_QUALITY, 100])
    audio_file = work / "audio.mka"
    with av.open(src) as inp, av.open(str(audio_file), "w") as out:  # 2. the audio, copied out
        streams = {a.index: out.add_stream_from_template(a) for a in inp.streams.audio}
        for packet in inp.demux(*inp.streams.audio):
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    files = sorted(raw.iterdir())
    for i, path in enumerate(files):  # 3. each file through the stages, saved as JPEG again
        bgr = cv2.imread(str(path))
        rgb = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
        ctx = StageContext(rgb, luma(rgb, "bt601"), [i == 0])
        x = rgb
        for stage in stages:
            x = stage.process(x, ctx)
        out = (x[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).round().clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(done / path.name), out, [cv2.IMWRITE_JPEG_QUALITY, 75])
    peak = max(peak, folder_bytes(work))
    silent = work / "colorized_no_audio.mp4"
    with av.open(str(silent), "w") as out:  # 4. the files encoded at the nominal rate
        stream = out.add_stream("libx264", rate=rate, options={"crf": str(CRF), "preset": preset})
        first = cv2.imread(str(done / files[0].name))
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        for i, path in enumerate(files):
            frame = av.VideoFrame.from_ndarray(cv2.imread(str(done / path.name)), format="bgr24")
            frame.pts = i
            frame.time_base = 1 / rate
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    peak = max(peak, folder_bytes(work))
    with av.open(str(silent)) as v, av.open(str(audio_file)) as a, av.open(dst, "w") as out:  # 5. remux
        vo = out.add_stream_from_template(v.streams.video[0])
        ao = {s.index: out.add_stream_from_template(s) for s in a.streams.audio}
        for packet in v.demux(v.streams.video[0]):
            if packet.size:
                packet.stream = vo
                out.mux(packet)
        for packet in a.demux():
            if packet.size:
                packet.stream = ao[packet.stream.index]
                out.mux(packet)
    return {"temporary_bytes": peak}


def survives(src: str, dst: str) -> dict:
    """Audio packets and frame times of ``dst`` against the input's (as dfstream reads them)."""
    expected = [round(f.time, 3) for f in dfstream.frames(src, stages="none")]
    with av.open(dst) as c:
        got = [round(float(f.time), 3) for f in c.decode(video=0)]
    with av.open(src) as c:
        audio_in = sum(1 for p in c.demux(*c.streams.audio) if p.size)
    with av.open(dst) as c:
        audio_out = sum(1 for p in c.demux(*c.streams.audio) if p.size) if c.streams.audio else 0
    return {"frames": len(got), "timestamps_kept": got == expected, "audio_packets_in": audio_in,
            "audio_packets_out": audio_out, "audio_kept": audio_in == audio_out > 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=str(DEFAULT_INPUT))
    parser.add_argument("--stages", default="gray", help="a light stage, so that I/O dominates (default gray)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", default="ultrafast",
                        help="libx264 preset for both (default ultrafast: the encoder stays cheap, so the "
                             "difference is the frame files; at 'medium' the encoder dominates both)")
    parser.add_argument("--out", default=str(HERE / "results" / "frame_dump_baseline.json"))
    args = parser.parse_args()
    names = parse_stages(args.stages)
    timings = {"dfstream": [], "frame_dump": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for r in range(args.repeats):
            out = str(tmp / f"stream{r}.mp4")
            start = time.perf_counter()
            summary = dfstream.process(args.input, out, stages=args.stages, overwrite=True, progress="none",
                                       encoder=dfstream.EncoderSettings(crf=CRF, preset=args.preset))
            timings["dfstream"].append(time.perf_counter() - start)
            work = tmp / f"dump{r}"
            work.mkdir()
            stages, _ = build_chain(names, {}, EngineOptions())
            start = time.perf_counter()
            disk = frame_dump(args.input, str(tmp / f"dump{r}.mp4"), stages, work, args.preset)
            timings["frame_dump"].append(time.perf_counter() - start)
        frames = summary.frames
        result = {
            "machine": stamp(), "input": Path(args.input).name, "stages": args.stages, "frames": frames,
            "encoder": f"libx264 crf {CRF}, preset {args.preset}, both",
            "dfstream": {"seconds": timings["dfstream"], "fps": round(frames / min(timings["dfstream"]), 2),
                         "temporary_bytes": 0, **survives(args.input, str(tmp / "stream0.mp4"))},
            "frame_dump": {"seconds": timings["frame_dump"],
                           "fps": round(frames / min(timings["frame_dump"]), 2), **disk,
                           **survives(args.input, str(tmp / "dump0.mp4"))},
        }
    result["throughput_ratio"] = round(result["dfstream"]["fps"] / result["frame_dump"]["fps"], 2)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("frames", "throughput_ratio")}),
          f"dfstream {result['dfstream']['fps']} fps, frame dump {result['frame_dump']['fps']} fps, "
          f"{result['frame_dump']['temporary_bytes'] / 1e6:.0f} MB temporary", sep="\n")


if __name__ == "__main__":
    main()
