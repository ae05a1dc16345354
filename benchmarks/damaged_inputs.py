"""Damaged copies of a real clip, as a broadcast recording or a cut download is damaged: how many
runs end well (an output that decodes, or a one-line error with its fix) and how many end in a
bare FFmpeg error, per container in and out.

One second of walkers (720p H.264 with its AAC) in Matroska, MPEG-TS and MP4; each copy gets 1
to 80 bits flipped past its first 3,000 bytes (seeded), and runs ``dfstream IN OUT --stages gray``
into WebM, MP4, Matroska and MPEG-TS, in a process of its own (forked).

    python benchmarks/damaged_inputs.py [--seeds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import stamp  # noqa: E402

from dfstream import cli  # noqa: E402

HERE = Path(__file__).resolve().parent
WALKERS = HERE.parents[1] / "shared" / "media" / "walkers_720p_aac.avi"
SOURCES = ("mkv", "ts", "mp4")
TARGETS = ("webm", "mp4", "mkv", "ts")


def run(argv: list[str]) -> tuple[int, str]:
    """``dfstream ARGV`` in a forked process: its exit status and its standard error."""
    with tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            os.dup2(err.fileno(), 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os._exit(cli.main(argv))
        _, status = os.waitpid(pid, 0)
        err.seek(0)
        return os.waitstatus_to_exitcode(status), err.read().decode(errors="replace")


def damaged(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    b = bytearray(data)
    for _ in range(rng.randrange(1, 80)):
        b[rng.randrange(3000, len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def outcome(code: int, stderr: str, output: Path) -> str:
    """'decodes', 'one-line error', 'bare error' (FFmpeg's, with no fix) or 'unreadable output'."""
    if code == 0:
        try:
            with av.open(str(output)) as c:
                return "decodes" if next(c.decode(video=0), None) is not None else "unreadable output"
        except av.error.FFmpegError:
            return "unreadable output"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return "bare error" if "run with --debug" in last else "one-line error"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "damaged_inputs.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mkv"
        assert run([str(WALKERS), str(clip), "-t", "1", "--stages", "none", "-q"])[0] == 0
        for kind in SOURCES:
            whole = clip if kind == "mkv" else folder / f"clip.{kind}"
            if kind != "mkv":
                assert run([str(clip), str(whole), "--stages", "none", "-q"])[0] == 0
            counts: dict[str, dict[str, int]] = {t: {} for t in TARGETS}
            bare = []
            for seed in range(args.seeds):
                src = folder / f"damaged.{kind}"
                src.write_bytes(damaged(whole.read_bytes(), seed))
                for target in TARGETS:
                    out = folder / f"out.{target}"
                    out.unlink(missing_ok=True)
                    code, stderr = run([str(src), str(out), "--stages", "gray", "--progress", "none", "-y"])
                    result = outcome(code, stderr, out)
                    counts[target][result] = counts[target].get(result, 0) + 1
                    if result == "bare error":
                        bare.append({"seed": seed, "target": target, "error": stderr.strip().splitlines()[-1]})
            rows.append({"input": kind, "runs": args.seeds * len(TARGETS), "by_output": counts, "bare_errors": bare})
            print(kind, counts, flush=True)
    result = {"machine": stamp(), "clip": "walkers_720p_aac.avi, first 1 s, libx264 + its AAC",
              "damage": "1 to 80 bits flipped past the first 3,000 bytes, seeded 0..seeds-1", "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
