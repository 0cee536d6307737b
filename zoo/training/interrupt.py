"""Ctrl-C during training: the first one asks the loop to stop at the next step boundary, save the
state there and end (KeyboardInterrupt, exit status 130), so no step since the last checkpoint is
lost; a second one ends the process at once (the state on disk stays the last good one)."""
from __future__ import annotations

import signal
import threading
from typing import Any


class Interrupt:
    """A context that turns the first SIGINT into ``requested = True`` (main thread, one process only:
    under torchrun every rank would have to save at the same step)."""

    def __init__(self, enabled: bool = True):
        self.requested = False
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._previous: Any = None

    def __enter__(self) -> "Interrupt":
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # a second Ctrl-C: at once

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)
