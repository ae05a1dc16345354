"""What the trainers share: reproducible sampling, atomic checkpoints, resume, and the loss log.

Every iteration draws its samples from a generator seeded by (seed, iteration),
so a run resumed from a checkpoint sees exactly the batches, and gives exactly
the losses, of a run that was never stopped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from dfstream.errors import DfstreamError
from dfstream.signals import stop_on_signals


def generator(seed: int, iteration: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + iteration)


def run(trainer, total: int, per_epoch: int, epoch_end, stop_after: int | None = None) -> None:
    """Train to iteration ``total`` (or ``stop_after`` more): ``epoch_end(epoch)`` after each
    epoch, and a checkpoint after each epoch and where the run stops. Ctrl-C or SIGTERM stops
    at the end of the current iteration, with a checkpoint, and raises KeyboardInterrupt; a
    second signal stops at once (the last checkpoint stays)."""
    end = total if stop_after is None else min(total, trainer.iteration + stop_after)
    stop: list[str] = []
    with stop_on_signals(stop.append):
        while trainer.iteration < end:
            trainer.train_step()
            if trainer.iteration % per_epoch == 0:
                epoch_end(trainer.iteration // per_epoch)
            if trainer.iteration % per_epoch == 0 or trainer.iteration == end or stop:
                trainer.save()
            if stop:
                raise KeyboardInterrupt


def save(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename: a stop never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        torch.save(state, temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def load(path: Path) -> dict:
    """A checkpoint written by ``save`` (tensors and plain values only: weights_only)."""
    if not path.is_file():
        raise DfstreamError(f"there is no checkpoint '{path}' to resume", "drop --resume to start afresh")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for damaged files
        raise DfstreamError(f"cannot read the checkpoint '{path}' ({err})",
                            "resume from an earlier checkpoint or start afresh") from None


class Log:
    """One JSON object per line (iterations, evaluations), flushed as written; ``say`` echoes."""

    def __init__(self, path: Path, say=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.say = path, say
        self.started = time.perf_counter()

    def write(self, **entry) -> None:
        entry["elapsed_s"] = round(time.perf_counter() - self.started, 2)
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if self.say:
            self.say(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))

    def truncate_after(self, iteration: int) -> None:
        """Drop entries past ``iteration`` (written after the checkpoint a run resumes from)."""
        if not self.path.is_file():
            return
        lines = [line for line in self.path.read_text().splitlines()
                 if json.loads(line).get("iteration", 0) <= iteration]
        self.path.write_text("".join(line + "\n" for line in lines))


def entries(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
