"""What the threads of a run share: the flags that stop it, its first error, and bounded queues
whose waits give up when the run stops."""

from __future__ import annotations

import queue
import threading

END = object()  # the last item of a queue


class Stopped(Exception):
    """A queue wait was abandoned because the run is stopping."""


class RunState:
    """``halt``: stop decoding (interrupt, failure, early end); ``failed``: stop everything now."""

    def __init__(self):
        self.halt = threading.Event()
        self.failed = threading.Event()
        self.errors: list[BaseException] = []

    def fail(self, err: BaseException) -> None:
        self.errors.append(err)
        self.halt.set()
        self.failed.set()


def put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            pass
    raise Stopped


def get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            pass
    raise Stopped
