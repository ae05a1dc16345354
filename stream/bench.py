"""``dfstream bench``: throughput of each stage and of the whole chain on this machine.

Per stage and size: frames per second, latency of a batch (median, p95),
FLOPs per frame for networks, peak host memory and, on a GPU, peak GPU memory
and utilisation (NVML). Warm-up batches are not counted. Frames are a
synthetic moving texture unless ``--input`` gives a video. The ``end-to-end``
row runs the real pipeline (decode, stages, libx264) into a null muxer.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from dfstream.engines import EngineOptions, StageContext, build_chain
from dfstream.engines.registry import backend_of, engine_name

from .colour import luma
from .device import resolve_device
from .errors import DfstreamError, UsageError
from .pipeline import Options, Pipeline, frames

SOURCE = "testsrc2=size={width}x{height}:rate=25"  # the end-to-end input (made grey), FFmpeg's test source
SIZES = {"360p": (360, 640), "480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}


@dataclass
class Row:
    stage: str  # a stage, 'chain' (all stages, compute only) or 'end-to-end'
    engine: str
    size: str
    device: str
    backend: str
    frames: int
    fps: float
    latency_ms_median: float  # one batch, from its start to its result
    latency_ms_p95: float
    gflops_per_frame: float | None  # counted by torch's FLOP counter (networks)
    host_peak_mb: float
    gpu_peak_mb: float | None = None
    gpu_util_percent: float | None = None
    split_ms_per_frame: dict[str, float] | None = None  # end-to-end: decode, upload, each stage, download, encode


def parse_sizes(text: str) -> list[str]:
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            raise UsageError(f"unknown size '{s}'", f"choose from {', '.join(SIZES)}")
    return sizes


def synthetic(count: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """A textured grey scene panning 3 px per frame: [count,3,H,W] in [0,1]."""
    y = torch.linspace(0, 1, height, device=device).view(-1, 1)
    x = torch.linspace(0, 1, width + 3 * count, device=device).view(1, -1)
    g = torch.Generator(device=device).manual_seed(0)
    noise = torch.rand(1, 1, height // 8 + 1, (width + 3 * count) // 8 + 1, generator=g, device=device)
    texture = F.interpolate(noise, size=(height, width + 3 * count), mode="bilinear", align_corners=False)[0, 0]
    scene = (0.5 + 0.25 * torch.sin(12 * x + 5 * y) + 0.25 * texture).clamp(0, 1)
    frames = torch.stack([scene[:, 3 * i: 3 * i + width] for i in range(count)])
    return frames.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def from_file(path: str, count: int, device: torch.device) -> torch.Tensor:
    import dfstream

    images = []
    for frame in dfstream.frames(path, stages="none"):
        images.append(torch.from_numpy(frame.image).permute(2, 0, 1))
        if len(images) == count:
            break
    if not images:
        raise UsageError(f"'{path}' has no video frames", "give a video with --input")
    return torch.stack(images).to(device).float() / 255


class Sampler:
    """Peak resident memory of this process and mean GPU utilisation, sampled every 20 ms."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0
        self.util: list[int] = []
        self._stop = threading.Event()
        self._nvml = None
        if device.type == "cuda":
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = (pynvml, pynvml.nvmlDeviceGetHandleByIndex(device.index or 0))
            except Exception:  # noqa: BLE001 - no NVML: utilisation is not reported
                self._nvml = None
            torch.cuda.reset_peak_memory_stats(device)

    def _sample(self):
        try:
            with open("/proc/self/statm") as f:
                self.peak = max(self.peak, int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
        except OSError:  # not Linux: the process's lifetime peak is the best there is
            self.peak = max(self.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        if self._nvml:
            pynvml, handle = self._nvml
            self.util.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)

    def _run(self):
        self._sample()
        while not self._stop.wait(0.02):
            self._sample()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def fill(self, row: Row) -> Row:
        row.host_peak_mb = round(self.peak / 2**20, 1)
        if self.device.type == "cuda":
            row.gpu_peak_mb = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
            row.gpu_util_percent = round(statistics.mean(self.util), 1) if self.util else None
        return row


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_stages(stages, frames: torch.Tensor, cuts: list[bool]) -> torch.Tensor:
    """The chain as the pipeline runs it: each stage padded to its multiple and cropped back."""
    ctx = StageContext(frames, luma(frames, "bt601"), cuts)
    x = frames
    for stage in stages:
        x = stage.apply(x, ctx)
    return x


def count_flops(stages, frame: torch.Tensor) -> float | None:
    """GFLOPs for one frame through ``stages`` as torch counts them; None if no network runs."""
    from torch.utils.flop_counter import FlopCounterMode

    from dfstream.engines.placed import Placed

    swapped = [(s, s.net) for s in stages if backend_of(s) not in (None, "torch")]
    for stage, net in swapped:  # torch can only count what it runs itself
        stage.net = Placed(net.module, "fp32")
    try:
        for stage in stages:
            stage.reset()
        counter = FlopCounterMode(display=False)
        with torch.inference_mode():
            run_stages(stages, frame, [True])  # a recurrent network runs from the second frame on
            with counter:
                run_stages(stages, frame, [False])
    finally:
        for stage, net in swapped:
            stage.net = net
    total = counter.get_total_flops()
    return round(total / 1e9, 2) if total else None


def measure(stages, frames: torch.Tensor, batch: int, warmup: int) -> tuple[float, list[float]]:
    """Seconds for all frames and each batch's latency, after ``warmup`` uncounted runs over the
    first frames (two at least, so that a recurrent network runs: sessions are built, code is
    compiled, caches are filled)."""
    device = frames.device
    latencies = []
    chunks = [frames[i:i + batch] for i in range(0, len(frames), batch)]
    head = frames[:max(2, batch)]
    with torch.inference_mode():
        for _ in range(warmup):
            run_stages(stages, head, [True] + [False] * (len(head) - 1))
        for k, chunk in enumerate(chunks):
            cuts = [k == 0 and not warmup] + [False] * (len(chunk) - 1)  # state goes on from the warm-up
            start = time.perf_counter()
            run_stages(stages, chunk, cuts)
            _sync(device)
            latencies.append(time.perf_counter() - start)
    return sum(latencies), latencies


def bench(stage_names: list[str], choices: dict[str, str], sizes: list[str], options: EngineOptions,
          device_name: str = "auto", frames: int = 24, warmup: int = 2, batch: int = 4,
          input_path: str | None = None, end_to_end: bool = True, say=print) -> list[Row]:
    device = resolve_device(device_name)
    options = replace(options, device=str(device))
    stage_names, options = runnable(stage_names, choices, options)
    rows = []
    for size in sizes:
        height, width = SIZES[size]
        clip = from_file(input_path, frames, device) if input_path else synthetic(frames, height, width, device)
        if input_path:
            clip = F.interpolate(clip, size=(height, width), mode="bilinear", antialias=True).clamp(0, 1)
        chain, _ = build_chain(stage_names, choices, options)
        groups = [([stage], stage.name) for stage in chain] + ([(chain, "chain")] if len(chain) > 1 else [])
        for stages, label in groups:
            engine = "+".join(engine_name(s) for s in stages)
            with Sampler(device) as sampler:
                total, latencies = measure(stages, clip, batch, warmup)
            measured = len(clip)
            backend = "+".join(backend_of(s) or "torch" for s in stages)
            row = sampler.fill(Row(label, engine, size, str(device), backend, measured,
                                   round(measured / total, 2), _ms(statistics.median(latencies)),
                                   _ms(_p95(latencies)), count_flops(stages, clip[:1]), 0.0))
            rows.append(row)
            say(format_row(row))
        if end_to_end:
            row = _end_to_end(stage_names, choices, options, size, device, frames, batch, input_path)
            rows.append(row)
            say(format_row(row))
    return rows


def runnable(stage_names: list[str], choices: dict[str, str], options: EngineOptions
             ) -> tuple[list[str], EngineOptions]:
    """The stages that can run here. Without colorizer weights or a --reference, the reference
    colorizer takes the first colour frame of FFmpeg's testsrc2 (as the demo does, and the end-to-end
    run's input is that source made grey); a stage that cannot run at all is skipped, with why."""
    kept = []
    for name in stage_names:
        try:
            build_chain([name], choices, options)
        except DfstreamError as err:
            if name == "colorize" and not options.references and choices.get(name, "auto") == "auto":
                options = replace(options, references=[_testsrc_still()])
                note("no colorizer weights and no --reference: the reference colorizer runs with "
                    "testsrc2's first colour frame as its reference")
            else:
                note(f"skipped {name}: {err}")
                continue
        kept.append(name)
    if stage_names and not kept:
        raise UsageError("none of the stages can run here", "see the notes above, or pass --stages")
    return kept, options


def note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr)


def _testsrc_still() -> torch.Tensor:
    first = next(iter(frames(SOURCE.format(width=1280, height=720), input_format="lavfi", duration=0.04)))
    return torch.from_numpy(first.image).permute(2, 0, 1)[None].float() / 255


def _end_to_end(stage_names, choices, options: EngineOptions, size: str, device, frames: int, batch: int,
                input_path: str | None) -> Row:
    """The real pipeline, decode to encode, into FFmpeg's null muxer."""
    height, width = SIZES[size]
    source, fmt = (input_path, None) if input_path else (
        SOURCE.format(width=width, height=height) + ",format=gray", "lavfi")
    run_options = Options(stages=",".join(stage_names) or "none", engines=choices, batch=batch,
                          references=options.references, strength=options.strength,
                          precision=options.precision, render_factor=options.render_factor,
                          backend=options.backend,
                          device=str(device), input_format=fmt, duration=frames / 25 if not input_path else None,
                          max_height=height, format="null", progress="none", overwrite=True)
    with Sampler(device) as sampler:
        pipeline = Pipeline(source, run_options)
        summary = pipeline.run(os.devnull)
    latencies = sorted(pipeline.latencies)
    backends = "+".join(backend_of(s) or "torch" for s in pipeline.stages)
    row = Row("end-to-end", "+".join(summary.stage_seconds) or "none", size, str(device), backends or "-",
              summary.frames, round(summary.fps, 2), _ms(statistics.median(latencies)), _ms(_p95(latencies)),
              None, 0.0)
    per_frame = lambda seconds: round(1000 * seconds / max(1, summary.frames), 2)  # noqa: E731
    row.split_ms_per_frame = {"decode": per_frame(summary.decode_seconds), "upload": per_frame(summary.upload_seconds),
                              **{k: per_frame(v) for k, v in summary.stage_seconds.items()},
                              "download": per_frame(summary.download_seconds), "encode": per_frame(summary.encode_seconds)}
    return sampler.fill(row)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def format_row(row: Row) -> str:
    flops = f"{row.gflops_per_frame:9.1f}" if row.gflops_per_frame is not None else f"{'-':>9}"
    gpu = (f"  gpu {row.gpu_peak_mb:.0f} MB {row.gpu_util_percent or 0:.0f}%"
           if row.gpu_peak_mb is not None else "")
    split = ("\n            ms per frame: " + ", ".join(f"{k} {v}" for k, v in row.split_ms_per_frame.items())
             if row.split_ms_per_frame else "")
    return (f"{row.stage:<11} {row.engine:<24} {row.size:>5} {row.backend:<7} {row.fps:8.1f} fps  "
            f"{row.latency_ms_median:8.1f} / {row.latency_ms_p95:8.1f} ms  {flops} GFLOP  "
            f"host {row.host_peak_mb:.0f} MB{gpu}{split}")


HEADER = (f"{'stage':<11} {'engine':<24} {'size':>5} {'backend':<7} {'speed':>12}  "
          f"{'latency median / p95':>22}  {'per frame':>15}  memory")


def as_dicts(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]

