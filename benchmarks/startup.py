"""Start-up of the ``dfstream`` command as a whole process: help, an argument error, the model list.

Median of 5 runs each, next to ``python -c 'import av'`` for scale.

    python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from davis import save
from machine import no_options

RUNS = {
    "python -c 'import av'": [sys.executable, "-c", "import av"],
    "dfstream --help": [sys.executable, "-m", "dfstream", "--help"],
    "dfstream run in.mp4 --bogus (argument error)": [sys.executable, "-m", "dfstream", "run", "in.mp4", "--bogus"],
    "dfstream models list": [sys.executable, "-m", "dfstream", "models", "list"],
}


def seconds(command: list[str]) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    rows = {name: round(seconds(command), 3) for name, command in RUNS.items()}
    for name, s in rows.items():
        print(f"{name:48} {s:.2f} s")
    print(save("startup", {"seconds": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
