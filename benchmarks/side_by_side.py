"""Whole runs of two revisions of dfstream side by side, taking turns: the fair speed comparison on
a machine whose speed swings by a third or more within an hour (a recorded benchmark compares
only with itself).

Each revision's package is taken from git (``WORK``: the working tree) into a temporary folder;
then ``dfstream GREY OUT --reference STILL --preset veryfast`` (the weights-free chain) runs on
a grey 640x360 clip of DAVIS bus played forth, back and forth (240 frames), revision after
revision for ``--rounds`` rounds. Recorded per revision: the median fps, the process's CPU time
per frame (all its threads, start-up included) and the colorizer's milliseconds per frame.
With ``--live WxH``: live runs as ``live_latency.py`` makes them, at that size, 12 seconds each;
recorded: the median latency, the share of frames dropped and the colorizer's time per frame.

    python benchmarks/side_by_side.py 62319ba WORK [--rounds 5]
    python benchmarks/side_by_side.py e326b98~1 HEAD --live 1280x720 --rounds 3
    python benchmarks/side_by_side.py 611047d ee615f7 --name side_by_side_12-05
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

import dfstream
import live_latency
from davis import HERE, load, save
from engine_speed import SIZE, write_clip, write_still

ROOT = HERE.parent
# where each package's folder goes in the tree Python imports: pyproject.toml's package-dir
PACKAGES = {folder: package.replace(".", "/") for package, folder in
            tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].items()}


def checkout(revision: str, folder: Path) -> str:
    """The dfstream package of ``revision`` laid out under ``folder``; its commit."""
    for source, target in sorted(PACKAGES.items(), key=lambda item: item[1]):  # dfstream before dfstream/engines
        if revision == "WORK":
            subprocess.run(["cp", "-r", str(ROOT / source), str(folder / target)], check=True)
            continue
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, source], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder / "tree", filter="data")
        (folder / "tree" / source).rename(folder / target)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD" if revision == "WORK" else revision],
                          check=True, capture_output=True, text=True).stdout.strip()
    return head + (" + working tree" if revision == "WORK" else "")


def child_env(package: Path) -> dict[str, str]:
    """This process's environment for a run of ``package``, less dfstream's default OpenMP settings
    (which importing it here added, unless set by hand): each revision makes its own."""
    env = {k: v for k, v in os.environ.items() if dfstream.OPENMP.get(k) != v}
    return {**env, "PYTHONPATH": str(package)}


def bus_clip(folder: str) -> tuple[str, str]:
    """The grey clip the whole runs take (DAVIS bus at 640x360 played forth, back and forth: 240
    frames) and its first frame in colour as the still, written under ``folder``."""
    frames = load("bus", SIZE)
    src, still = f"{folder}/grey.mkv", f"{folder}/still.png"
    write_clip(frames + frames[::-1] + frames, src)
    write_still(frames[0], still)
    return src, still


def whole_run(package: Path, src: str, still: str, out: str) -> tuple[float, float, float]:
    """fps, CPU milliseconds per frame and the colorizer's milliseconds per frame of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "dfstream", src, out, "--reference", still, "-y", "--preset", "veryfast"],
                          env=child_env(package), capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    summary = re.search(r"(\d+) frames in [\d.]+s \(([\d.]+) fps\).*colorize ([\d.]+) ms/frame", done.stderr + done.stdout)
    frames, fps, colorize = int(summary[1]), float(summary[2]), float(summary[3])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return fps, 1000 * cpu / frames, colorize


def live_run(package: Path, still: str, folder: str, size: str) -> tuple[float, float, float]:
    """Median latency (ms), share of frames dropped and the colorizer's milliseconds per frame of a
    12-second live run (``live_latency.measure``)."""
    r = live_latency.measure(12, still, folder, size, env=child_env(package))
    return r["latency_ms"]["median"], r["frames_dropped"] / r["frames_in"], r["colorize_ms_per_frame"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs=2, help="git revisions, or WORK for the working tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--live", metavar="WxH", help="live runs instead: testsrc2 at this size, made black and "
                        "white, --realtime --latency low, 12 s each")
    parser.add_argument("--name", help="the result's name under results/ (default: side_by_side, or "
                        "side_by_side_live_WxH)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        packages, commits = [], []
        for i, revision in enumerate(args.revisions):
            (Path(folder) / str(i)).mkdir()
            commits.append(checkout(revision, Path(folder) / str(i)))
            packages.append(Path(folder) / str(i))
        if args.live:
            still = live_latency.reference(folder, args.live)
            run = functools.partial(live_run, still=still, folder=folder, size=args.live)
        else:
            src, still = bus_clip(folder)
            run = functools.partial(whole_run, src=src, still=still, out=f"{folder}/out.mkv")
        runs = [[] for _ in packages]
        for _ in range(args.rounds):
            for package, rows in zip(packages, runs):
                rows.append(run(package))
    labels = (("latency_ms_median", "dropped_share", "colorize_ms_per_frame") if args.live else
              ("fps_median", "cpu_ms_per_frame", "colorize_ms_per_frame"))
    result = []
    for commit, rows in zip(commits, runs):
        medians = {label: round(statistics.median(column), 3) for label, column in zip(labels, zip(*rows))}
        result.append({"revision": commit, **medians, "runs": rows})
        print(commit, medians)
    name = args.name or (f"side_by_side_live_{args.live}" if args.live else "side_by_side")
    print(save(name, {"size": args.live or f"{SIZE[0]}x{SIZE[1]}", "rounds": args.rounds, "revisions": result}))


if __name__ == "__main__":
    main()
