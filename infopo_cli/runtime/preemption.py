"""Stopping cleanly when a scheduler asks: SIGTERM (SLURM preemption, ``scancel``, Kubernetes) or
SIGUSR1 (SLURM's ``--signal=USR1@<seconds>`` warning before the time limit).

Inside ``preemptible()`` such a signal is only noted; the caller finishes the work at hand (one
training step), saves, and exits. The previous handlers come back when the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SIGNALS = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None)) if s
)


@dataclass
class StopRequest:
    requested: bool = False
    signal_name: str = ""


@contextmanager
def preemptible() -> Iterator[StopRequest]:
    """Note SIGTERM / SIGUSR1 instead of dying while the block runs; yields the request record."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return

    def note(signum, _frame) -> None:
        stop.requested = True
        stop.signal_name = signal.Signals(signum).name

    previous = {s: signal.signal(s, note) for s in SIGNALS}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
