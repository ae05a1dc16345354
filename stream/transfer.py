"""Moving frames between the host and the compute device without stalling either.

On a CUDA device: planes are stacked straight into pinned (page-locked) host
buffers, uploaded on their own stream, computed on a compute stream that waits
for the upload's event, and downloaded on a third stream into pinned buffers
after the compute's event; the encode thread waits for that download's event
only (never a device-wide synchronize), so the next batches upload and compute
meanwhile. Stage times are taken with CUDA events and read once the batch is
down. On the CPU every step is a plain tensor operation.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np
import torch

from .planes import stacked


class PinnedPool:
    """Reusable page-locked host buffers by (shape, dtype); thread-safe."""

    def __init__(self):
        self._free: dict[tuple, list[torch.Tensor]] = defaultdict(list)
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        with self._lock:
            free = self._free[(shape, dtype)]
            if free:
                return free.pop()
        return torch.empty(shape, dtype=dtype, pin_memory=True)

    def give(self, buffer: torch.Tensor) -> None:
        with self._lock:
            self._free[(tuple(buffer.shape), buffer.dtype)].append(buffer)


@dataclass
class Timings:
    """Seconds spent on the device per part (upload, each stage, download), read from CUDA events
    once they have completed, or measured directly on the CPU."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _pending: list[tuple[str, object, object]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_events(self, name: str, start, end) -> None:
        with self._lock:
            self._pending.append((name, start, end))

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds

    def collect(self) -> None:
        """Fold in the event pairs that have completed (call after waiting for a later event)."""
        with self._lock:
            still = []
            for name, start, end in self._pending:
                if end.query():
                    self.seconds[name] += start.elapsed_time(end) / 1000
                else:
                    still.append((name, start, end))
            self._pending = still


class Download:
    """Planes on their way to the host; ``arrays()`` waits for them (only for them)."""

    def __init__(self, hosts: list[torch.Tensor], done, pool: PinnedPool | None, timings: Timings):
        self.hosts, self.done, self.pool, self.timings = hosts, done, pool, timings

    def arrays(self) -> list[np.ndarray]:
        if self.done is not None:
            self.done.synchronize()
            self.timings.collect()
        return [h.numpy() for h in self.hosts]

    def release(self) -> None:
        """Hand the pinned buffers back once the arrays have been copied out."""
        if self.pool:
            for h in self.hosts:
                self.pool.give(h)
        self.hosts = []


class Transfers:
    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.timings = Timings()
        if self.cuda:
            self.pool = PinnedPool()
            self.upload_stream = torch.cuda.Stream(device)
            self.compute_stream = torch.cuda.Stream(device)
            self.download_stream = torch.cuda.Stream(device)
            self._uploading: deque = deque()  # (event, staging buffers) in upload order

    def compute(self):
        """The context the stages run in: the compute stream on CUDA."""
        return torch.cuda.stream(self.compute_stream) if self.cuda else contextlib.nullcontext()

    def upload_context(self):
        """Work on freshly uploaded planes that must not wait for the compute (scene cuts)."""
        return torch.cuda.stream(self.upload_stream) if self.cuda else contextlib.nullcontext()

    def upload(self, planes: list[list[np.ndarray]]) -> list[torch.Tensor]:
        """Per plane, the frames' arrays stacked to one tensor [N,h,w] on the device."""
        if not self.cuda:
            return stacked(planes)
        self._recycle()
        out, hosts = [], []
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(self.upload_stream)
        for arrays in planes:
            host = self.pool.take((len(arrays), *arrays[0].shape), torch.from_numpy(arrays[0][:0]).dtype)
            np.stack(arrays, out=host.numpy())
            with torch.cuda.stream(self.upload_stream):
                out.append(host.to(self.device, non_blocking=True))
            hosts.append(host)
        end.record(self.upload_stream)
        self.timings.add_events("upload", start, end)
        self.compute_stream.wait_event(end)
        for t in out:
            t.record_stream(self.compute_stream)
        self._uploading.append((end, hosts))
        return out

    def _recycle(self) -> None:
        """Staging buffers whose uploads have completed go back to the pool."""
        while self._uploading and self._uploading[0][0].query():
            for h in self._uploading.popleft()[1]:
                self.pool.give(h)

    def download(self, planes: list[torch.Tensor]) -> Download:
        """Integer planes computed on the device, copied to the host without waiting here."""
        if not self.cuda:
            return Download([p.contiguous() for p in planes], None, None, self.timings)
        ready = torch.cuda.Event()
        ready.record(self.compute_stream)
        self.download_stream.wait_event(ready)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        hosts = []
        with torch.cuda.stream(self.download_stream):
            start.record()
            for p in planes:
                p.record_stream(self.download_stream)
                hosts.append(self.pool.take(tuple(p.shape), p.dtype).copy_(p, non_blocking=True))
            end.record()
        self.timings.add_events("download", start, end)
        return Download(hosts, end, self.pool, self.timings)

    @contextlib.contextmanager
    def timed(self, name: str):
        """Time a stage: CUDA events on the compute stream, or the wall clock on the CPU."""
        if not self.cuda:
            started = time.perf_counter()
            yield
            self.timings.add(name, time.perf_counter() - started)
            return
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(self.compute_stream)
        yield
        end.record(self.compute_stream)
        self.timings.add_events(name, start, end)
