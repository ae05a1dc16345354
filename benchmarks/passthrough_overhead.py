"""Passthrough overhead: ``dfstream --stages none`` against a bare PyAV decode+encode loop.

Both decode the same file with threaded decoding, encode with the same libx264
settings and copy the audio packets; runs alternate, the median counts.

    python benchmarks/passthrough_overhead.py [INPUT] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import stamp  # noqa: E402

import dfstream  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_INPUT = HERE.parents[1] / "shared" / "media" / "walkers_720p_aac.avi"
ENCODER = {"codec": "libx264", "preset": "veryfast", "crf": "18"}


def bare(src: str, dst: str) -> int:
    """The best loop a PyAV user writes by hand: threaded decoding and encoding, packets muxed as
    they come."""
    frames = 0
    with av.open(src) as inp, av.open(dst, "w") as out:
        v = inp.streams.video[0]
        v.thread_type = "AUTO"
        audio = inp.streams.audio
        vo = out.add_stream(ENCODER["codec"], rate=v.guessed_rate,
                            options={"preset": ENCODER["preset"], "crf": ENCODER["crf"]})
        vo.width, vo.height, vo.pix_fmt = v.codec_context.width, v.codec_context.height, "yuv420p"
        vo.codec_context.time_base = v.time_base
        vo.thread_type = "AUTO"  # frame threads in the encoder too
        step = round(1 / (v.guessed_rate * v.time_base))
        copies = {a.index: out.add_stream_from_template(a) for a in audio}
        for packet in inp.demux(v, *audio):
            if packet.stream.index in copies:
                if packet.size:
                    packet.stream = copies[packet.stream.index]
                    out.mux(packet)
                continue
            for frame in packet.decode():
                frame.pts = frames * step  # the AVI's pts are unusable; re-time at the nominal rate
                frame.pict_type = av.video.frame.PictureType.NONE
                for p in vo.encode(frame):
                    out.mux(p)
                frames += 1
        for p in vo.encode(None):
            out.mux(p)
    return frames


def streamed(src: str, dst: str) -> int:
    settings = dfstream.pipeline.EncoderSettings(ENCODER["codec"], int(ENCODER["crf"]), None,
                                                 ENCODER["preset"])
    return dfstream.process(src, dst, stages="none", encoder=settings, overwrite=True).frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=str(DEFAULT_INPUT))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "passthrough_overhead.json"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {"bare_pyav": [], "dfstream": []}
    frames = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, fn in (("bare_pyav", bare), ("dfstream", streamed)):
                started = time.perf_counter()
                frames[name] = fn(args.input, f"{tmp}/{name}.mkv")
                times[name].append(time.perf_counter() - started)
    fps = {k: frames[k] / statistics.median(v) for k, v in times.items()}
    result = {
        "machine": stamp(),
        "input": Path(args.input).name,
        "encoder": ENCODER,
        "frames": frames,
        "seconds": times,
        "fps_median": {k: round(v, 2) for k, v in fps.items()},
        "dfstream_relative_throughput": round(fps["dfstream"] / fps["bare_pyav"], 3),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("fps_median", "dfstream_relative_throughput")}))


if __name__ == "__main__":
    main()
