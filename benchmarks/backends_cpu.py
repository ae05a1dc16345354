"""Backends on the CPU, per network and size: torch eager, ONNX Runtime, torch.compile.

Networks carry random weights in their published shapes (speed does not depend
on the values); each backend runs one warm-up call (graph export, session or
compilation) and then ``--frames`` timed frames. The fastest backend overall
is what ``--backend auto`` picks on the CPU (``AUTO_CPU`` in engines/backends.py).

    python benchmarks/backends_cpu.py [--frames 3] [--sizes 360p] [--backends torch,onnxruntime,compile]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import stamp  # noqa: E402
from weights import scratch_home  # noqa: E402

from dfstream.bench import SIZES  # noqa: E402
from dfstream.engines.backends import RUNNERS  # noqa: E402
from dfstream.engines.cartoonize.animegan import AnimeGANv2  # noqa: E402
from dfstream.engines.cartoonize.cartoongan import CartoonGAN  # noqa: E402
from dfstream.engines.colorize.deoldify import DeOldify  # noqa: E402
from dfstream.engines.stabilize.convlstm import ConvLSTMStep, TransformNet  # noqa: E402
from tests.published import randomised  # noqa: E402

HERE = Path(__file__).resolve().parent


def networks():
    """(name, module, inputs for a frame of (h, w)) for each network."""
    def frame(h, w):
        return torch.rand(1, 3, h, w)

    def step(h, w):
        h4, w4 = h // 4 * 4, w // 4 * 4
        f = torch.rand(1, 3, h4, w4)
        s = torch.zeros(1, 128, h4 // 4, w4 // 4)
        return (f, f, f, f, s, s)

    for name, build, inputs in (
            ("deoldify-video (render factor 21)", DeOldify, lambda h, w: (torch.rand(1, 3, 336, 336),)),
            ("convlstm", lambda: ConvLSTMStep(TransformNet()), step),
            ("cartoongan", CartoonGAN, lambda h, w: (frame(h // 4 * 4, w // 4 * 4),)),
            ("animegan2", AnimeGANv2, lambda h, w: (frame(h, w),))):
        module = build()
        module.load_state_dict(randomised(module.state_dict()))
        yield name, module.eval(), inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--sizes", default="360p")
    parser.add_argument("--backends", default="torch,onnxruntime,compile")
    parser.add_argument("--out", default=str(HERE / "results" / "backends_cpu.json"))
    args = parser.parse_args()
    rows = []
    with scratch_home():  # exported graphs go to a scratch store
        for name, module, make_inputs in networks():
            for size in args.sizes.split(","):
                if name.startswith("deoldify") and size != args.sizes.split(",")[0]:
                    continue  # DeOldify's input is its render square whatever the frame size
                inputs = make_inputs(*SIZES[size])
                label = "336x336" if name.startswith("deoldify") else size
                expected = None
                for backend in args.backends.split(","):
                    run = RUNNERS[backend](module, "fp32")
                    try:
                        with torch.inference_mode():
                            start = time.perf_counter()
                            out = run(*inputs)  # warm-up: export, session or compilation
                            first = time.perf_counter() - start
                            times = []
                            for _ in range(args.frames):
                                start = time.perf_counter()
                                out = run(*inputs)
                                times.append(time.perf_counter() - start)
                    except Exception as err:  # noqa: BLE001 - recorded: a backend that fails on a network
                        row = {"network": name, "size": label, "backend": backend,
                               "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                        continue
                    out = out[0] if isinstance(out, tuple) else out
                    expected = out if expected is None else expected
                    error = float((out - expected).norm() / expected.norm())
                    row = {"network": name, "size": label,
                           "backend": backend, "fps": round(1 / statistics.median(times), 3),
                           "first_call_s": round(first, 2), "relative_error_to_torch": error}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    totals = {}
    for row in rows:
        totals.setdefault(row["backend"], []).append(1 / row["fps"] if "fps" in row else float("inf"))
    fastest = min(totals, key=lambda b: sum(totals[b]))  # a backend that fails on any network never wins
    result = {"machine": stamp(), "rows": rows, "seconds_per_frame_summed": {
        b: round(sum(v), 3) if math.isfinite(sum(v)) else None for b, v in totals.items()},
              "fastest": fastest}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("fastest overall:", fastest)


if __name__ == "__main__":
    main()
