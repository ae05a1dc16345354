"""The weights-free chain beside another busy program: torch's threads fitted to the free cores.

Whole runs of ``dfstream`` (``reference`` + ``flow``, libx264 veryfast) on DAVIS
bus made grey at 640x360, 240 frames (bus played forth, back and forth), each in
a fresh process: with the thread count fitted to the cores other programs leave
(stream/threads.py, the default), fixed at two threads and fixed at one
(``OMP_NUM_THREADS``), on an idle machine and beside one busy loop (a Python
process spinning on one core). The configurations take turns, round by round;
the median of three runs counts.

    python benchmarks/shared_cores.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from davis import load, save
from engine_speed import SIZE, write_clip, write_still

RUN = """import json, sys, dfstream
from dfstream.pipeline import EncoderSettings
s = dfstream.process(sys.argv[1], sys.argv[2], stages="colorize,stabilize", references=[sys.argv[3]],
                     encoder=EncoderSettings(preset="veryfast"), overwrite=True)
print(json.dumps(s.frames / s.seconds))"""
THREADS = {"fitted (default)": None, "two threads": "2", "one thread": "1"}


def run(src: str, ref: str, out: str, threads: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads:
        env["OMP_NUM_THREADS"] = threads
    done = subprocess.run([sys.executable, "-c", RUN, src, out, ref], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    frames = load("bus", SIZE)
    frames = frames + frames[::-1] + frames
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        src, ref, out = f"{folder}/grey.mkv", f"{folder}/ref.png", f"{folder}/out.mkv"
        write_clip(frames, src)
        write_still(frames[0], ref)
        for machine in ("idle", "beside a busy loop"):
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if machine != "idle" else None
            try:
                runs = {name: [] for name in THREADS}
                for _ in range(3):
                    for name, threads in THREADS.items():
                        runs[name].append(run(src, ref, out, threads))
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
            results[machine] = {name: round(statistics.median(fps), 1) for name, fps in runs.items()}
            print(machine, results[machine], flush=True)
    print(save("shared_cores", {"size": f"{SIZE[0]}x{SIZE[1]}", "frames": len(frames), "fps": results}))


if __name__ == "__main__":
    main()
