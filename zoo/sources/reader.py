"""Readers of a user's data, registered by format like architectures (``register_source``).

A reader says whether it reads a path (``claims``), lists exactly the files it will read (``files``:
regular files only, so a FIFO or a device under an image's name is refused instead of read for ever),
and reads those files into uint8 tensors (``read``). The content hash of a data set is taken over the
same list, so whatever a reader reads is what the hash covers (a symlinked class folder included).
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..errors import DataError, check_key, check_registration, shown
from .images import RawData

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}
_HASHED: Dict[tuple, str] = {}  # a source's content hash, by its files' names, sizes and modification times


class Reader:
    """Base of a data-set format; subclasses set ``key`` (by :func:`register_source`) and implement the three methods."""

    key: str = ""
    description: str = ""  # what it reads, for messages: "an image folder"

    def claims(self, path: Path) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def files(self, path: Path) -> List[Path]:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, path: Path, files: List[Path], resize: Optional[Sequence[int]]) -> RawData:  # pragma: no cover
        raise NotImplementedError


READERS: Dict[str, Reader] = {}


def register_source(key: str) -> Callable[[type], type]:
    """Class decorator: register a :class:`Reader` subclass under ``key`` (a key twice is refused)."""
    check_key("register_source", key)

    def wrapper(cls: type) -> type:
        check_registration("register_source", "A data source", READERS, key, cls, Reader, "zoo.sources.Reader",
                           holder=type)
        cls.key = key
        READERS[key] = cls()
        return cls

    return wrapper


def reader_for(path: Path) -> Reader:
    """The registered reader that reads ``path`` (one line naming the formats when none does)."""
    if not path.exists():
        raise DataError(f"Data set {shown(path)} does not exist")
    for reader in READERS.values():
        if reader.claims(path):
            return reader
    known = " nor ".join(r.description for r in READERS.values())
    raise DataError(f"{shown(path)} is neither {known}")


def regular_file(file: Path) -> Path:
    """``file`` if it is (or links to) a regular file; else one line naming what it is."""
    try:
        mode = os.stat(file).st_mode  # follows a symlink: what is read is what counts
    except OSError as exc:
        raise DataError(f"{shown(file)} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{shown(file)} is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not an image file; "
                        f"zoo reads regular files only: remove it from the data set")
    return file


def content_sha256(root: Path, files: List[Path]) -> str:
    """SHA-256 of ``files`` (their paths relative to ``root`` and their bytes, sorted by path; a lone file:
    its bytes). Taken once while every file keeps its size and modification time."""
    files = sorted(files)
    stats = [os.stat(f) for f in files]
    signature = (str(root), *((str(f), s.st_size, s.st_mtime_ns) for f, s in zip(files, stats)))
    if signature not in _HASHED:
        digest = hashlib.sha256()
        for file in files:
            if file != root:
                digest.update(os.fsencode(os.path.relpath(file, root)) + b"\0")  # any name, UTF-8 or not
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
        _HASHED[signature] = digest.hexdigest()
    return _HASHED[signature]
