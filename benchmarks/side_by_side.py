"""Whole runs of two revisions of dfstream side by side, taking turns: the fair speed comparison on
a machine whose speed swings by half over an hour (a recorded benchmark compares only with itself).

Each revision's package is taken from git (``WORK``: the working tree) into a temporary folder;
then ``dfstream GREY OUT --reference STILL --preset veryfast`` (the weights-free chain) runs on
a grey 640x360 clip of DAVIS bus played forth, back and forth (240 frames), revision after
revision for ``--rounds`` rounds. Recorded per revision: the median fps, the process's CPU time
per frame (all its threads, start-up included) and the colorizer's milliseconds per frame.

    python benchmarks/side_by_side.py 62319ba WORK [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
from davis import HERE, load, save
from engine_speed import SIZE, write_clip

PACKAGES = {"stream": "dfstream", "engines": "dfstream/engines", "export": "dfstream/export",
            "training": "dfstream/training"}
RUN = "import sys; from dfstream.cli import main; sys.argv[0] = 'dfstream'; sys.exit(main())"


def checkout(revision: str, folder: Path) -> str:
    """The dfstream package of ``revision`` laid out under ``folder``; its commit."""
    root = HERE.parent
    for source, target in PACKAGES.items():
        if revision == "WORK":
            subprocess.run(["cp", "-r", str(root / source), str(folder / target)], check=True)
            continue
        archive = subprocess.run(["git", "-C", str(root), "archive", revision, source], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder / "tree", filter="data")
        (folder / "tree" / source).rename(folder / target)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD" if revision == "WORK" else revision],
                          check=True, capture_output=True, text=True).stdout.strip()
    return head + (" + working tree" if revision == "WORK" else "")


def whole_run(package: Path, src: str, still: str, out: str) -> tuple[float, float, float]:
    """fps, CPU milliseconds per frame and the colorizer's milliseconds per frame of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", RUN, src, out, "--reference", still, "-y", "--preset", "veryfast"],
                          env={**os.environ, "PYTHONPATH": str(package)}, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    summary = re.search(r"(\d+) frames in [\d.]+s \(([\d.]+) fps\).*colorize ([\d.]+) ms/frame", done.stderr + done.stdout)
    frames, fps, colorize = int(summary[1]), float(summary[2]), float(summary[3])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return fps, 1000 * cpu / frames, colorize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs=2, help="git revisions, or WORK for the working tree")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        frames = load("bus", SIZE)
        src, still = str(folder / "grey.mkv"), str(folder / "still.png")
        write_clip(frames + frames[::-1] + frames, src)
        cv2.imwrite(still, cv2.cvtColor((frames[0][0].permute(1, 2, 0) * 255).byte().numpy(), cv2.COLOR_RGB2BGR))
        packages, commits = [], []
        for i, revision in enumerate(args.revisions):
            (folder / str(i)).mkdir()
            commits.append(checkout(revision, folder / str(i)))
            packages.append(folder / str(i))
        runs = [[] for _ in packages]
        for _ in range(args.rounds):
            for package, rows in zip(packages, runs):
                rows.append(whole_run(package, src, still, str(folder / "out.mkv")))
    result = []
    for commit, rows in zip(commits, runs):
        fps, cpu, colorize = (statistics.median(column) for column in zip(*rows))
        result.append({"revision": commit, "fps_median": fps, "fps_runs": [r[0] for r in rows],
                       "cpu_ms_per_frame": round(cpu, 1), "colorize_ms_per_frame": colorize})
        print(f"{commit:30} {fps:5.1f} fps (runs {', '.join(str(r[0]) for r in rows)})  CPU {cpu:.1f} ms/frame  "
              f"colorizer {colorize:.1f} ms/frame")
    print(save("side_by_side", {"size": f"{SIZE[0]}x{SIZE[1]}", "frames": 240, "rounds": args.rounds,
                                "revisions": result}))


if __name__ == "__main__":
    main()
