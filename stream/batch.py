"""``dfstream batch``: a film library through the usual run, one Ray task per file.

Ray is an optional extra (``pip install 'dfstream[ray]'``). dfstream starts a
local Ray instance sized by ``--workers`` (default: the cores), or joins an
existing cluster given by ``--ray ADDRESS`` or ``RAY_ADDRESS``. Outputs are
written under their own names only when complete (as every run is), so a
re-run skips what is there and redoes only what failed or was interrupted.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import DfstreamError, UsageError
from .sink import temporary_name
from .summary import counted
from .source import disc_title

VIDEO_TYPES = {".avi", ".mkv", ".mp4", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".webm", ".nut", ".flv",
               ".wmv", ".ogv", ".dv", ".mxf", ".y4m", ".vob", ".m2ts", ".mts", ".3gp", ".asf"}
DISC_FOLDERS = {"video_ts", "bdmv"}  # a disc's own folders: a film given by one is named after the disc


@dataclass
class Job:
    source: str
    target: str


def expand(inputs: list[str]) -> list[str]:
    """Files, folders (their videos and the discs' folders in them, DVDs and Blu-rays, in name
    order), a disc's folder itself (one film), globs and text lists (``.txt``: a path per line)."""
    found: list[str] = []
    for entry in inputs:
        if os.path.isdir(entry) and disc_title(entry):
            found.append(entry)
        elif os.path.isdir(entry):
            found += sorted(str(p) for p in Path(entry).iterdir()
                            if p.suffix.lower() in VIDEO_TYPES or (p.is_dir() and disc_title(str(p))))
        elif entry.endswith(".txt") and os.path.isfile(entry):
            lines = Path(entry).read_text().splitlines()
            found += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        elif any(c in entry for c in "*?["):
            found += sorted(glob.glob(entry, recursive=True))
        else:
            found.append(entry)
    if not found:
        raise UsageError("no input files found", "give files, folders, globs or a .txt list")
    return list(dict.fromkeys(found))


def film_name(source: str) -> str:
    """The output's name: the input's stem; for a disc's VIDEO_TS or BDMV, the disc's folder name."""
    path = Path(os.path.abspath(source))
    if not os.path.isdir(path):
        return path.stem
    return path.parent.name if path.name.lower() in DISC_FOLDERS else path.name


def plan(sources: list[str], folder: str, extension: str) -> list[Job]:
    """One output per input in ``folder``; two inputs of the same name are refused."""
    jobs = [Job(s, os.path.join(folder, film_name(s) + "." + extension.lstrip("."))) for s in sources]
    targets = [j.target for j in jobs]
    clash = next((t for t in targets if targets.count(t) > 1), None)
    if clash:
        raise UsageError(f"two inputs would both be written to '{clash}'", "give inputs with different names")
    return jobs


def run_one(source: str, target: str, options) -> tuple[int, str | None]:
    """One file (a Ray task): its frame count, or None and the one-line error."""
    from .pipeline import Pipeline

    try:
        summary = Pipeline(source, options).run(target)
    except DfstreamError as err:
        return 0, str(err)
    except Exception as err:  # noqa: BLE001 - reported with the file, the others go on
        return 0, f"{type(err).__name__}: {err}"
    if summary.interrupted:
        return summary.frames, f"interrupted ({summary.interrupted})"
    return summary.frames, None


@contextlib.contextmanager
def connected(address: str | None, workers: int | None):
    """Ray for the length of a run: the caller's instance if one is running (left running), else the
    cluster at ``address`` or RAY_ADDRESS, else a local instance of ``workers`` CPUs (stopped after)."""
    try:
        import ray
    except ImportError:
        raise DfstreamError("Ray is not installed", "pip install 'dfstream[ray]'") from None
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address:
        ray.init(address=address, **quiet)
    else:
        # Ray lowers its workers' priority (nice 15) by default; here they are the run itself, and
        # would all but stop beside any other busy program
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, **quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def refuse_early(address: str | None, options) -> None:
    """On a local Ray instance the workers are this machine: what each would refuse (a chain that
    cannot run), refused now, as a single run refuses it."""
    if not (address or os.environ.get("RAY_ADDRESS")):
        from .pipeline import Pipeline

        Pipeline.check_stages(options)


def batch(inputs: list[str], folder: str, options, extension: str = "mkv", address: str | None = None,
          workers: int | None = None, say=print) -> list[tuple[Job, str]]:
    """Process a library; returns the failed jobs with their errors."""
    if options.progress_url or options.readrate or options.size_limit:
        raise UsageError("batch runs its files side by side: -progress, -re and -fs follow a single run",
                         "drop them, or run each file with 'dfstream run'")
    jobs = plan(expand(inputs), folder, extension)
    refuse_early(address, options)
    os.makedirs(folder, exist_ok=True)
    todo = jobs if options.overwrite else [j for j in jobs if not os.path.exists(j.target)]
    if len(todo) < len(jobs):
        say(f"{len(jobs) - len(todo)} of {len(jobs)} files already done, skipped")
    options = replace(options, progress="none", preview=None)
    failed: list[tuple[Job, str]] = []
    if not todo:
        return failed
    pending: dict = {}
    try:
        with connected(address, workers) as ray:
            try:
                task = ray.remote(num_cpus=1, max_retries=2)(run_one)
                pending = {task.remote(j.source, j.target, options): j for j in todo}
                done_files = done_frames = 0
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    job = pending.pop(ready[0])
                    frames, error = ray.get(ready[0])
                    done_files += 1
                    done_frames += frames
                    if error:
                        failed.append((job, error))
                    say(f"files {done_files}/{len(todo)}, frames {done_frames}: {job.source} "
                        + (f"failed: {error}" if error else f"-> {job.target} ({counted(frames, 'frame')})"))
            except KeyboardInterrupt:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
    finally:
        for job in todo:  # what workers that died mid-file left behind (a retry wrote the file anew)
            for stale in glob.glob(temporary_name(job.target, "*")):
                os.remove(stale)
    return failed


def command(args, options) -> int:
    from .cli import talk

    say = talk(args)
    failed = batch(args.inputs, args.output_dir, options, args.ext, args.ray, args.workers, say)
    for job, error in failed:
        print(f"dfstream: failed: {job.source}: {error}", file=sys.stderr)
    return 1 if failed else 0
