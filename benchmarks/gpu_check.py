"""Everything only a GPU can show, in one command: parity of each backend in fp16 against CPU
fp32, throughput of each network and of the whole chain at 720p and 1080p (with the time split
into decode, stages and encode), GPU memory and utilisation, and the fraction of the device's
measured fp16 matrix throughput that each network reaches.

Networks carry random weights in their published shapes (speed and parity do not depend on the
values). Results go to benchmarks/results/gpu_<device>.json.

    python benchmarks/gpu_check.py [--sizes 720p,1080p] [--frames 48] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from dfstream.bench import bench
from dfstream.colour import luma
from dfstream.engines import EngineOptions, StageContext, build
from dfstream.engines.backends import BACKENDS, available
from machine import stamp
from weights import scratch_home

from tests.published import relative_error

NETWORKS = {"colorize": "deoldify-video", "stabilize": "convlstm", "cartoonize": "cartoongan:hayao"}


def matmul_tflops(device: torch.device, n: int = 8192, repeats: int = 20) -> float:
    """The device's measured dense fp16 matrix throughput."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.float16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def parity(device: torch.device, backends: list[str]) -> list[dict]:
    """Each network through each backend in fp16 on the GPU against eager fp32 on the CPU."""
    rows = []
    for stage, engine in (("colorize", "deoldify-video"), ("stabilize", "convlstm"),
                          ("cartoonize", "cartoongan:hayao"), ("cartoonize", "animegan2:paprika")):
        frames = torch.rand(4, 3, 256, 384)

        def run(options, x):
            built, _ = build(stage, engine, options)
            ctx = StageContext(x, luma(x, "bt601"), [True, False, False, False])
            with torch.inference_mode():
                return built.process(x, ctx).float().cpu()

        reference = run(EngineOptions(precision="fp32", backend="torch", device="cpu"), frames)
        for backend in backends:
            try:
                out = run(EngineOptions(precision="fp16", backend=backend, device=str(device)), frames.to(device))
                rows.append({"network": engine, "backend": backend, "relative_error": relative_error(out, reference),
                             "passes_1e-2": relative_error(out, reference) < 1e-2})
            except Exception as err:  # noqa: BLE001 - recorded per backend
                rows.append({"network": engine, "backend": backend, "error": f"{type(err).__name__}: {err}"[:300]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="720p,1080p")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type != "cuda" or not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU here: run it on a machine with an NVIDIA GPU")
    result = {"machine": stamp(), "gpu": torch.cuda.get_device_name(device)}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", str(HERE.parent / "tests")],
                           capture_output=True, text=True)
    result["gpu_tests"] = {"exit_status": tests.returncode, "summary": tests.stdout.strip().splitlines()[-12:]}
    with scratch_home(("deoldify-video", "convlstm", "cartoongan-hayao", "animegan2-paprika")):
        measure(result, device, args.sizes.split(","), args.frames)
    name = re.sub(r"[^a-z0-9]+", "_", result["gpu"].lower()).strip("_")
    out = HERE / "results" / f"gpu_{name}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out}")


def measure(result: dict, device: torch.device, sizes: list[str], frames: int) -> None:
    """Backend parity, network and chain throughput at each size, into ``result``."""
    works = available(device)
    backends = list(BACKENDS[1:])
    result["backends_available"] = works
    result["parity_fp16"] = parity(device, backends)
    result["matmul_fp16_tflops"] = round(matmul_tflops(device), 1)
    throughput = []
    for backend in [b for b in backends if works[b] is None]:
        for stage, engine in NETWORKS.items():
            choices = {stage: engine}
            options = EngineOptions(precision="fp16", backend=backend)
            try:
                rows = bench([stage], choices, sizes, options, str(device), frames,
                             warmup=2, batch=8, end_to_end=False)
            except Exception as err:  # noqa: BLE001 - recorded per backend
                throughput.append({"stage": stage, "backend": backend, "error": f"{type(err).__name__}: {err}"[:300]})
                continue
            for row in rows:
                entry = row.__dict__
                if row.gflops_per_frame:
                    entry["fraction_of_matmul_peak"] = round(
                        row.gflops_per_frame * row.fps / 1e3 / result["matmul_fp16_tflops"], 3)
                throughput.append(entry)
        try:
            chain = bench(list(NETWORKS), NETWORKS, sizes, EngineOptions(precision="fp16", backend=backend),
                          str(device), frames, warmup=2, batch=8, end_to_end=True)
            throughput += [r.__dict__ for r in chain if r.stage in ("chain", "end-to-end")]
        except Exception as err:  # noqa: BLE001
            throughput.append({"stage": "chain", "backend": backend, "error": f"{type(err).__name__}: {err}"[:300]})
    result["throughput"] = throughput
    result["end_to_end_over_chain"] = {  # target: 0.9 or more (decode and encode hidden behind compute)
        f"{r['backend']} {r['size']}": round(r["fps"] / c["fps"], 3)
        for r in throughput if r.get("stage") == "end-to-end" and "fps" in r
        for c in throughput if c.get("stage") == "chain" and c.get("size") == r["size"]
        and c.get("backend") == r["backend"] and c.get("fps")}


if __name__ == "__main__":
    main()
