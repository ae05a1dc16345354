"""``dfstream info``: devices, backends and library versions on this machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform

import av
import torch

from dfstream.engines import engines
from dfstream.engines.registry import STAGES


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpus() -> list[str]:
    """GPUs as NVML sees them (name, memory, driver), else as torch sees them."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            driver = pynvml.nvmlSystemGetDriverVersion()
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total / 2**30
                out.append(f"cuda:{i} {pynvml.nvmlDeviceGetName(handle)}, {memory:.0f} GiB, driver {driver}")
            return out
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML or no driver: fall back to torch
        pass
    return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]


def _backends() -> list[tuple[str, str]]:
    """Each backend: where it runs here, or why it does not (with the fix)."""
    from dfstream.engines.backends import BACKENDS, available, choose

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    found = {d.type: available(d) for d in devices}
    rows = []
    for name in BACKENDS[1:]:
        works = [d.upper() for d, reasons in found.items() if reasons[name] is None]
        why = "; ".join(f"{d}: {reasons[name]}" for d, reasons in found.items() if reasons[name] is not None)
        rows.append((name, ("yes (" + ", ".join(works) + ")" if works else "no") + (f"; {why}" if why and works
                                                                                      else f": {why}" if why else "")))
    rows.append(("auto", ", ".join(f"{d.type}: {choose('auto', d)}" for d in devices)))
    return rows


def _hardware_decoding() -> str:
    """What --hwaccel can use here: FFmpeg's device types, and whether NVDEC has a GPU."""
    from av.codec.hwaccel import hwdevices_available

    kinds = hwdevices_available()
    if "cuda" not in kinds:
        return "software" + (f"; --hwaccel {', '.join(kinds)}" if kinds else "")
    nvdec = "--hwaccel cuda (NVDEC)" if torch.cuda.is_available() else "NVDEC needs an NVIDIA GPU (none here)"
    others = [k for k in kinds if k != "cuda"]
    return f"software; {nvdec}" + (f"; also {', '.join(others)}" if others else "")


def report() -> list[str]:
    lines = ["dfstream " + (_version("dfstream") or "(not installed)")]
    lines.append(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU cores")
    gpus = _gpus()
    lines.append("devices: cpu" + "".join(f"; {g}" for g in gpus))
    lines.append("backends:")
    lines += [f"  {name:<12} {state}" for name, state in _backends()]
    lines.append(f"decoding: {_hardware_decoding()}")
    lines.append("stages:")
    lines += [f"  {stage:<12} {', '.join(engines(stage)) or 'no engine installed'}" for stage in STAGES]
    lines.append(f"libraries: torch {torch.__version__}, av {av.__version__} (FFmpeg {av.ffmpeg_version_info})")
    others = [f"{d} {_version(d)}" for d in ("numpy", "opencv-python", "onnx", "onnxruntime",
                                             "onnxruntime-gpu", "torch-tensorrt", "nvidia-ml-py")]
    lines.append("          " + ", ".join(o for o in others if not o.endswith("None")))
    return lines


def streams(name: str, select, input_format: str | None = None, options: dict | None = None) -> list[str]:
    """What a run with these stream choices (``select``: -map, -an, -sn) does with each stream of
    input ``name``, as ffprobe lists them: processed, kept, or left and why."""
    from .source import Source
    from .summary import counted

    source = Source(name, input_format, options, select=select, deinterlace="off")
    try:
        container = source.container
        seconds = f", {container.duration / av.time_base:.2f} s" if container.duration else ""
        title = f", '{container.metadata['title']}'" if container.metadata.get("title") else ""
        chapters = len(container.chapters())
        lines = [f"{name}: {container.format.long_name}{seconds}{title}"
                 + (f", {counted(chapters, 'chapter')}" if chapters else "")]
        kept = source.passthrough + source.attachments
        for stream in container.streams:
            fate = ("processed" if stream is source.video else "kept" if stream in kept
                    else "left: dfstream processes one video stream" if stream in source.ignored
                    else "left: no audio found in it" if stream in source.silent
                    else "its timecode goes with the video's tags (MOV, MP4 and MXF write it again)"
                    if stream in source.uncarried and stream.metadata.get("timecode")
                    else "left: dfstream writes no data streams" if stream in source.uncarried
                    else "left out (-map, -an, -sn)")
            lines.append(f"  #{stream.index} {_described(stream)}: {fate}")
        return lines
    finally:
        source.close()


def _described(stream) -> str:
    """A stream as ffprobe would sum it up: type, codec, shape, tags and flags."""
    ctx, what = stream.codec_context, [stream.type]
    if stream.type == "attachment":
        what.append(f"{stream.name} ({stream.mimetype})")
    else:
        what.append(getattr(ctx, "name", None) or stream.name or "unknown codec")
    if stream.type == "video" and ctx:
        rate = stream.guessed_rate or stream.average_rate
        what.append(f"{ctx.width}x{ctx.height}" + (f" {float(rate):.3g} fps" if rate else "")
                    + (f" {ctx.pix_fmt}" if ctx.pix_fmt else ""))
    if stream.type == "audio" and ctx and ctx.sample_rate:
        what.append(f"{ctx.sample_rate} Hz {ctx.layout.name}")
    what += [f"'{stream.metadata[k]}'" if k == "title" else stream.metadata[k]
             for k in ("language", "title") if stream.metadata.get(k)]
    flags = [f for f, bit in (("default", av.stream.Disposition.default), ("forced", av.stream.Disposition.forced),
                              ("cover art", av.stream.Disposition.attached_pic)) if stream.disposition & bit]
    return " ".join(what) + (f" ({', '.join(flags)})" if flags else "")
