"""How many torch threads a zoo process uses: its share of the cores it may run on.

Processes that share a machine each hold a lock file in a common folder while they run (:class:`Workers`) and
count the live ones: the ``zoo`` command in :func:`machine_folder` (every command), a sweep's workers in the sweep
folder (before each trial). A process's share is its cores (``os.sched_getaffinity``) over the live processes;
the ``zoo`` command also leaves the cores that other runnable tasks hold when it starts (:func:`share`): on a busy
machine a thread that waits for another one on a taken core costs far more than the work it would share.

Torch's thread count is part of a CPU run's bits (a reduction split over 2 threads adds in another order than
over 1), so the ``zoo`` command chooses it when a run starts and a resumed run takes the count its run recorded
(``config.json``'s ``threads``), whatever the machine's load then.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
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


def machine_folder() -> Path:
    """Where the ``zoo`` commands of this user on this machine hold their lock files."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"zoo-{uid}" / "processes"


_THIS: Optional[Workers] = None
_BUSY = 0  # the other runnable tasks the zoo command found on the machine when it started


def others_running(readings: int = 5, interval: float = 0.01) -> Optional[int]:
    """How many tasks besides this one are runnable on the machine now: the fewest of a few readings of the
    kernel's count (/proc/loadavg's 4th field, this process included); None where the OS does not say."""
    import time

    fewest = None
    for i in range(readings):
        try:
            with open("/proc/loadavg") as handle:
                count = int(handle.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        fewest = count if fewest is None else min(fewest, count)
        if fewest <= 1:  # this process alone: no later reading can be fewer (an idle machine waits for none)
            break
        if i + 1 < readings:
            time.sleep(interval)
    return max(0, fewest - 1)


def join_machine() -> int:
    """Count this process among the machine's zoo processes until it exits, and note how busy the machine is (the
    ``zoo`` command does this first, before torch starts); returns the other runnable tasks found. A folder that
    cannot be written counts nobody."""
    global _THIS, _BUSY
    _BUSY = others_running() or 0
    if _THIS is None:
        try:
            _THIS = Workers(machine_folder()).__enter__()
        except OSError:
            _THIS = None
        else:
            import atexit

            atexit.register(_THIS.__exit__)
    return _BUSY


def share() -> Optional[int]:
    """This process's threads: its cores (os.sched_getaffinity) over the zoo commands running on the machine, and
    no more than the cores the other runnable tasks leave free when it started (at least one). None (torch's
    threads left as they are) in a process that is not the ``zoo`` command (Python code calling zoo, click's test
    runner) and where ``OMP_NUM_THREADS`` says how many (a user's choice, or torchrun's one per rank)."""
    if _THIS is None or os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, min(_THIS.share(), cores() - _BUSY))


def check_threads(threads: object) -> int:
    from .errors import UsageError, option

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"{option('--threads', 'threads')} must be a whole number >= 1, got {threads!r}")
    return threads


def for_run(threads: object, config: Optional[Path]) -> Optional[int]:
    """A run's torch threads (None: leave them as the caller has them): ``threads`` itself; for ``"auto"`` (the
    ``zoo`` command) the count a resumed run recorded in ``config`` (its config.json), else :func:`share`."""
    if threads is None:
        return None
    if threads != "auto":
        return check_threads(threads)
    try:
        saved = json.loads(config.read_text()).get("threads") if config is not None else None
    except (OSError, ValueError, AttributeError):
        saved = None
    if isinstance(saved, int) and not isinstance(saved, bool) and saved >= 1:
        return saved
    return share()
