"""The weights-free chain beside another busy program: torch's threads fitted to the free cores.

Whole runs of ``dfstream GREY OUT --reference STILL --preset veryfast`` on
``side_by_side.py``'s clip (DAVIS bus made grey at 640x360, 240 frames), each
in a fresh process of the working tree: with the thread count fitted to the
cores other programs leave (stream/threads.py, the default), fixed at two
threads and at one (``OMP_NUM_THREADS``), on an idle machine and beside one
busy loop (a Python process spinning on one core). The configurations take
turns, round by round; recorded per configuration: the median of three runs'
fps, CPU time per frame and the colorizer's milliseconds per frame.

    python benchmarks/shared_cores.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from davis import save
from machine import no_options
from engine_speed import SIZE
from side_by_side import bus_clip, checkout, whole_run

THREADS = {"fitted (default)": None, "two threads": "2", "one thread": "1"}
LABELS = ("fps", "cpu_ms_per_frame", "colorize_ms_per_frame")


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        package = Path(folder) / "package"
        package.mkdir()
        commit = checkout("WORK", package)
        src, still = bus_clip(folder)
        for machine in ("idle", "beside a busy loop"):
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if machine != "idle" else None
            runs = {name: [] for name in THREADS}
            try:
                for _ in range(3):
                    for name, threads in THREADS.items():
                        os.environ.pop("OMP_NUM_THREADS", None)
                        if threads:
                            os.environ["OMP_NUM_THREADS"] = threads
                        runs[name].append(whole_run(package, src, still, f"{folder}/out.mkv"))
            finally:
                os.environ.pop("OMP_NUM_THREADS", None)
                if busy:
                    busy.kill()
                    busy.wait()
            results[machine] = {name: {label: round(statistics.median(column), 1) for label, column
                                       in zip(LABELS, zip(*rows))} for name, rows in runs.items()}
            print(machine, results[machine], flush=True)
    print(save("shared_cores", {"revision": commit, "size": f"{SIZE[0]}x{SIZE[1]}", "results": results}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
