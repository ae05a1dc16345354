"""The decode threads: each source's video items and pass-through packets into a bounded queue."""

from __future__ import annotations

import queue
import threading
import time

from .runstate import END, RunState, Stopped, put
from .source import Source
from .summary import Summary


class Decoders:
    """One thread per source (the input, and the --original read in step)."""

    def __init__(self, state: RunState, summary: Summary, size: int):
        self.state, self.summary, self.size = state, summary, size
        self.threads: list[threading.Thread] = []

    def start(self, source: Source) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=self.size)
        thread = threading.Thread(target=self._decode, args=(source, q), name="decode", daemon=True)
        thread.start()
        self.threads.append(thread)
        return q

    def _decode(self, source: Source, q: queue.Queue) -> None:
        started = time.perf_counter()
        waited = 0.0
        try:
            for item in source.items():
                t = time.perf_counter()
                put(q, item, self.state.halt)
                waited += time.perf_counter() - t
            put(q, END, self.state.halt)
        except Stopped:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            self.state.fail(err)
        finally:
            self.summary.decode_seconds += time.perf_counter() - started - waited

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
