"""Workers of one sweep on one machine split its cores: each holds a lock file in the sweep folder while it
runs, and before each trial sets torch's thread count to the cores over the live workers."""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import IO, Optional


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Workers:
    """This worker's lock in ``folder`` (a context manager); :meth:`share` is its part of the cores."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.handle: Optional[IO] = None

    def __enter__(self) -> "Workers":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.folder / f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.lock", "w")
        try:
            import fcntl

            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no advisory locks (Windows): every worker counts itself alone
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()
            (self.folder / Path(self.handle.name).name).unlink(missing_ok=True)

    def live(self) -> int:
        """Workers holding their lock now (this one too); a dead worker's file is removed."""
        try:
            import fcntl
        except ImportError:
            return 1
        n = 0
        for path in self.folder.glob("*.lock"):
            if self.handle is not None and path.name == Path(self.handle.name).name:
                n += 1
                continue
            try:
                with open(path, "a") as other:
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: its worker is gone
                    path.unlink(missing_ok=True)
            except OSError:
                n += 1  # held by a live worker
        return max(n, 1)

    def share(self) -> int:
        return max(1, cores() // self.live())
