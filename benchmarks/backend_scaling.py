"""Frames per second against resolution, per backend, on this machine (the README's plot).

    python benchmarks/backend_scaling.py [--sizes 360p,480p,720p] [--backends torch,onnxruntime]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dfstream.bench import bench
from dfstream.engines import EngineOptions
from machine import stamp
from weights import scratch_home

STAGES = {"stabilize": "convlstm", "cartoonize": "animegan2:paprika"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="360p,480p,720p")
    parser.add_argument("--backends", default="torch,onnxruntime")
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "backend_scaling.json"))
    args = parser.parse_args()
    rows = []
    with scratch_home(("convlstm", "animegan2-paprika")):
        for backend in args.backends.split(","):
            for stage, engine in STAGES.items():
                found = bench([stage], {stage: engine}, args.sizes.split(","), EngineOptions(backend=backend), "cpu",
                              args.frames, warmup=1, batch=1, end_to_end=False)
                rows += [r.__dict__ for r in found]
    Path(args.out).write_text(json.dumps({"machine": stamp(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
