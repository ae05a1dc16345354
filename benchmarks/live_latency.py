"""Latency from frame in to frame out on a live source, and a screenshot of the split preview.

A real-time 640x360 source (FFmpeg's testsrc2 paced by its ``realtime``
filter) is made black and white and streamed through the weights-free preview
chain (``reference`` colorizer + ``flow`` stabilizer) with ``--realtime
--latency low``; dfstream's own summary gives the median and p95 latency and
the frames dropped. With ``--screenshot`` (needs Xvfb and xwd) the split
preview of the same chain is captured to results/preview_split.png.

    python benchmarks/live_latency.py [--seconds 20] [--screenshot]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from davis import HERE, save

SIZE = "640x360"


def source(size: str = SIZE) -> str:
    """FFmpeg's testsrc2 made black and white, at the wall clock's pace."""
    return f"testsrc2=size={size}:rate=25,realtime,hue=s=0"


def dfstream(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dfstream", *map(str, args)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)


def reference(folder: str, size: str = SIZE) -> str:
    """The first colour frame of the same source: what the user would hand-colour."""
    import av

    with av.open(f"testsrc2=size={size}:rate=25", format="lavfi") as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    path = f"{folder}/reference.png"
    cv2.imwrite(path, frame)
    return path


def measure(seconds: float, ref: str, folder: str, size: str = SIZE, env=None) -> dict:
    """A live run's latency, frames dropped and the colorizer's milliseconds per frame (``env``: the
    environment of the dfstream process)."""
    p = dfstream("--input-format", "lavfi", source(size), f"{folder}/live.nut", "-y", "-t", seconds, "--realtime",
                 "--latency", "low", "--reference", ref, "--progress", "none", env=env)
    err = p.stderr.read().decode()
    assert p.wait() == 0, err
    latency = re.search(r"median (\d+) ms, p95 (\d+) ms", err)
    drops = re.search(r"realtime: dropped (\d+) of (\d+) frames", err)
    print(err)
    return {"latency_ms": {"median": int(latency[1]), "p95": int(latency[2])},
            "frames_dropped": int(drops[1]), "frames_in": int(drops[2]),
            "colorize_ms_per_frame": float(re.search(r"colorize ([\d.]+) ms/frame", err)[1])}


def screenshot(ref: str, out: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from tests.test_live import read_xwd

    server = subprocess.Popen(["Xvfb", ":93", "-screen", "0", "1280x400x24", "-nolisten", "tcp"])
    env = dict(os.environ, DISPLAY=":93")
    try:
        time.sleep(1)
        p = dfstream("--input-format", "lavfi", source(), "--preview", "split", "-t", "6", "--realtime",
                     "--reference", ref, "--progress", "none", env=env)
        time.sleep(4)
        image = read_xwd(subprocess.run(["xwd", "-root", "-silent"], env=env, capture_output=True,
                                        check=True).stdout)
        p.wait()
    finally:
        server.terminate()
    rows, cols = np.nonzero(image.max(axis=2))
    cv2.imwrite(str(out), cv2.cvtColor(image[: rows.max() + 1, : cols.max() + 1], cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--screenshot", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ref = reference(folder)
        result = measure(args.seconds, ref, folder)
        if args.screenshot:
            screenshot(ref, HERE / "results" / "preview_split.png")
    print(save("live_latency", {"source": source(), "chain": "colorize=reference,stabilize=flow",
                                "options": "--realtime --latency low", "seconds": args.seconds, **result}))


if __name__ == "__main__":
    main()
