"""Readers of data sources: the built-in IDX files (idx.py), a user's .npz files (images.py) and image
folders (folder.py), and the uint8 cache of the latter two (cache.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..errors import DataError, shown
from .folder import read_folder
from .images import RawData, read_npz


def read_source(path: Path, resize: Optional[Sequence[int]] = None) -> RawData:
    """A folder or an .npz file, read and checked."""
    if path.is_dir():
        return read_folder(path, resize)
    if not path.exists():
        raise DataError(f"Data set {shown(path)} does not exist")
    if not path.is_file() or path.suffix.lower() != ".npz":
        raise DataError(f"{shown(path)} is neither an image folder nor a .npz file")
    if resize is not None:
        raise DataError(f"{shown(path)}: \"resize\" applies to image folders; resize the arrays of an .npz yourself")
    return read_npz(path)
