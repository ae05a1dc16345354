"""A stamp for recorded results: the machine, the libraries and the exact command."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return f"{pynvml.nvmlDeviceGetName(handle)}, driver {pynvml.nvmlSystemGetDriverVersion()}"
    except Exception:  # noqa: BLE001 - no NVIDIA GPU here
        return None


def stamp() -> dict:
    import av
    import numpy
    import torch

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(shlex.quote(a) for a in [os.path.basename(sys.executable), *sys.argv]),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "gpu": _gpu(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": av.ffmpeg_version_info,
        "numpy": numpy.__version__,
    }


def no_options(doc: str) -> None:
    """For a script that takes no options: ``--help`` prints its ``doc`` and exits, anything else is
    refused, before it runs for minutes and writes its results."""
    argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
