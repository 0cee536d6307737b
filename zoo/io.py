"""Atomic file writes: a crash or a kill never leaves a half-written file in place.

Each writer writes a temporary file in the destination's folder, fsyncs it, and moves it over the
destination with ``os.replace`` (atomic on POSIX), then fsyncs the folder so the rename survives a
power cut. The earlier file stays intact until the new one is complete.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Union

PathLike = Union[str, Path]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode a plain open() would
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save(path: PathLike, save: Callable[[Path], None]) -> None:
    """Run ``save(tmp_path)`` (a library's own saver) and move the result into place."""
    with atomic_path(path) as tmp:
        save(tmp)


CHECKSUM_KEY = "zoo.tensors_sha256"


def tensors_sha256(tensors: Dict[str, Any]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``tensors`` (in name order): catches bit rot
    that a well-formed safetensors header would not."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def atomic_save_safetensors(path: PathLike, tensors: Dict[str, Any], metadata: Optional[Dict[str, str]] = None) -> None:
    """Save with a checksum of the tensors in the header, atomically."""
    from safetensors.torch import save_file

    contiguous = {k: v.detach().contiguous() for k, v in tensors.items()}
    metadata = {**(metadata or {}), CHECKSUM_KEY: tensors_sha256(contiguous)}
    atomic_save(path, lambda tmp: save_file(contiguous, str(tmp), metadata=metadata))


def verify_checksum(tensors: Dict[str, Any], metadata: Dict[str, str]) -> bool:
    """False when the header's checksum does not match; files without one (older ones) pass."""
    expected = metadata.get(CHECKSUM_KEY)
    return expected is None or expected == tensors_sha256(tensors)
