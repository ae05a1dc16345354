"""Ctrl-C and SIGTERM as a request to stop cleanly, the second one as a demand to stop now."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop):
    """In the main thread, the first SIGINT/SIGTERM calls stop(name); the next one raises."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
    previous = {sig: signal.getsignal(sig) for sig in names}

    def first(signum, frame):
        for sig in names:
            signal.signal(sig, signal.default_int_handler)
        stop(names[signum])

    for sig in names:
        signal.signal(sig, first)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
