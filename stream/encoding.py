"""The encode thread: processed batches and their pass-through packets, encoded and muxed in order."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av

from .progress import Progress
from .runstate import END, RunState, Stopped, get
from .sink import Sink
from .summary import Summary


class Encoder(threading.Thread):
    """Encodes until the end of the queue; ``latencies``: seconds from decoder to encoder per frame.
    A closed output pipe ends the run quietly (``summary.pipe_closed``)."""

    def __init__(self, q: queue.Queue, sink: Sink | None, progress: Progress, summary: Summary,
                 state: RunState, time_base: Fraction, latencies: deque, full: Callable[[], None] = lambda: None):
        super().__init__(name="encode", daemon=True)
        self.q, self.sink, self.progress, self.summary, self.state = q, sink, progress, summary, state
        self.full = full  # called once the output reaches -fs's size: the reading ends there
        self.time_base = float(time_base)
        self.latencies = latencies

    def run(self) -> None:
        sink, summary = self.sink, self.summary
        try:
            while (item := get(self.q, self.state.failed)) is not END:
                batch, packets = item
                batch.ready()
                started = time.perf_counter()
                written = 0
                for frame, arrival in zip(batch.outputs, batch.arrivals):
                    if sink and sink.full:  # -fs reached: what follows is left out
                        break
                    if sink:
                        sink.write_frame(frame)
                    self.latencies.append(time.perf_counter() - arrival)
                    written += 1
                for packet in packets:
                    if sink:
                        sink.write_packet(packet)
                summary.encode_seconds += time.perf_counter() - started
                if sink and sink.full and not summary.size_limited:
                    summary.size_limited = True
                    self.full()
                summary.frames += written
                if batch.outputs:
                    self.progress.update(summary.frames, batch.outputs[-1].pts * self.time_base)
        except Stopped:
            pass
        except (BrokenPipeError, av.error.BrokenPipeError):
            summary.pipe_closed = True
            self.state.halt.set()
            self.state.failed.set()
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            self.state.fail(err)
