"""Frames per second against resolution, per backend, on this machine (the README's plot).

    python benchmarks/backend_scaling.py [--sizes 360p,480p,720p] [--backends torch,onnxruntime]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DFSTREAM_HOME", tempfile.mkdtemp(prefix="dfstream-scaling-"))

from machine import stamp  # noqa: E402
from weights import install_random_weights  # noqa: E402

from dfstream.bench import bench  # noqa: E402
from dfstream.engines import EngineOptions  # noqa: E402

STAGES = {"stabilize": "convlstm", "cartoonize": "animegan2:paprika"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="360p,480p,720p")
    parser.add_argument("--backends", default="torch,onnxruntime")
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "backend_scaling.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        install_random_weights(Path(tmp), ("convlstm", "animegan2-paprika"))
    rows = []
    for backend in args.backends.split(","):
        for stage, engine in STAGES.items():
            found = bench([stage], {stage: engine}, args.sizes.split(","), EngineOptions(backend=backend), "cpu",
                          args.frames, warmup=1, batch=1, end_to_end=False)
            rows += [r.__dict__ for r in found]
    Path(args.out).write_text(json.dumps({"machine": stamp(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
