"""The run folder: one run at a time (an exclusive lock), no one else's files overwritten, and only
zoo's own leftovers cleaned up."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, List, Optional

from ..errors import UsageError, option, shown
from ..io import TMP_MARK, leftovers

LOCK_FILE = ".zoo.lock"
ZOO_FILES = {LOCK_FILE, "config.json", "tensorboard"}  # what a run leaves before its first state


def lock(folder: Path) -> Optional[IO]:
    """Take the folder's exclusive lock (``flock`` on ``.zoo.lock``, released by the OS when the process
    ends, so a killed run leaves no stale lock); a held lock is a UsageError naming the holder's PID.
    Returns the open lock file (keep it open while training); None where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs there are not protected from each other
        return None
    try:
        handle = open(folder / LOCK_FILE, "a+")
    except OSError as exc:
        raise UsageError(f"Cannot write to the run folder {shown(folder)}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise UsageError(f"{shown(folder)} is in use by another zoo run (PID {holder}); wait for it to end "
                         f"or choose another {option('--out')}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def make_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check that files can be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".write-check{TMP_MARK}", suffix=".tmp"):
            pass
    except OSError as exc:
        raise UsageError(f"Cannot write to the run folder {shown(folder)}: {exc.strerror or exc}") from None


def foreign_files(folder: Path) -> List[str]:
    """What in ``folder`` is not zoo's (a fresh run refuses to write there without --force)."""
    if not folder.is_dir():
        return []
    ours = {p.name for p in leftovers(folder)}
    foreign = []
    for path in sorted(folder.iterdir()):
        if path.name in ours or (path.name in ZOO_FILES and path.name != "config.json"):
            continue
        if path.name == "config.json" and _is_zoo_config(path):
            continue
        foreign.append(path.name)
    return foreign


def _is_zoo_config(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"name", "entry", "overrides"} <= set(data)


def clean_leftovers(folder: Path) -> None:
    """Remove the temporary files of zoo's writes that a kill cut short (never anyone else's)."""
    for path in leftovers(folder):
        path.unlink(missing_ok=True)
