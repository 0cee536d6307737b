"""Readers of data sources: the built-in IDX files (idx.py); a user's data through the registered readers
(reader.py: ``register_source``), image folders (folder.py) and .npz files (npz.py), on the common checks
of images.py; and the uint8 cache of a user's data (cache.py)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from . import folder, npz  # noqa: F401  (registration side effects)
from .images import RawData
from .reader import READERS, Reader, content_sha256, reader_for, register_source

__all__ = ["READERS", "RawData", "Reader", "content_sha256", "reader_for", "read_source", "register_source", "source_files"]


def source_files(path: Path) -> Tuple[Reader, List[Path], str]:
    """The reader of ``path``, exactly the files it reads, and the SHA-256 of their content."""
    reader = reader_for(path)
    files = reader.files(path)
    return reader, files, content_sha256(path, files)


def read_source(path: Path, resize: Optional[Sequence[int]] = None) -> RawData:
    """A user's data set (a folder or an .npz file, or any registered format), read and checked."""
    reader = reader_for(path)
    return reader.read(path, reader.files(path), resize)
