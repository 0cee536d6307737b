"""Atomic file writes: a crash or a kill never leaves a half-written file in place.

Each writer writes a temporary file in the destination's folder, fsyncs it, and moves it over the
destination with ``os.replace`` (atomic on POSIX), then fsyncs the folder so the rename survives a
power cut. The earlier file stays intact until the new one is complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Optional, Union

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


TMP_MARK = ".zoo-"  # in the name of every temporary file zoo writes: .<name>.zoo-XXXXXXXX.tmp


def leftovers(folder: Path) -> Iterator[Path]:
    """Temporary files of zoo's own writes in ``folder`` that a kill cut short (no one else's)."""
    return (p for p in Path(folder).glob(f".*{TMP_MARK}*.tmp") if p.is_file())


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", suffix=".tmp", dir=path.parent)
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


def output_file(path: Any, force: bool, *, flag: str = "--out", argument: str = "path") -> Path:
    """``path`` if zoo may write a file there, else one line saying why not: a file that exists is replaced only
    with ``force`` (it may be a run's weights), and a folder or anything but a regular file never is. ``flag``
    and ``argument`` name the option as the command line and Python do."""
    from .errors import UsageError, option, shown

    out = option(flag, argument)
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise UsageError(f"{out} must name the file to write, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{shown(path)} is a folder; {out} names the file to write")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{shown(path.parent)} is a file, not a folder, so {shown(path)} cannot be written")
    if path.exists() and not path.is_file():
        raise UsageError(f"{out} {shown(path)} is not a regular file")
    if path.exists() and not force:
        raise UsageError(f"{shown(path)} exists; choose another {out} or pass {option('--force', 'force=True')} to "
                         f"overwrite it")
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


CHECKSUM_KEY = "zoo.tensors_sha256"  # SHA-256 of the tensors (names, dtypes, shapes, bytes)
HEADER_CHECKSUM_KEY = "zoo.sha256"  # SHA-256 of every other header entry, the tensors' checksum included


def file_sha256(path: Union[str, Path]) -> str:
    """SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tensors_sha256(tensors: Dict[str, Any]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``tensors`` (in name order): catches bit rot
    that a well-formed safetensors header would not."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def header_sha256(metadata: Dict[str, str]) -> str:
    """SHA-256 of a header's entries (but its own), as canonical JSON."""
    rest = {k: v for k, v in metadata.items() if k != HEADER_CHECKSUM_KEY}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def atomic_save_safetensors(path: PathLike, tensors: Dict[str, Any], metadata: Optional[Dict[str, str]] = None) -> None:
    """Save with checksums of the tensors and of the whole header, atomically.

    The bytes are made in memory and written by Python, so a full disk is an ``OSError`` (ENOSPC)."""
    from safetensors.torch import save

    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {**(metadata or {}), CHECKSUM_KEY: tensors_sha256(contiguous)}
    metadata[HEADER_CHECKSUM_KEY] = header_sha256(metadata)
    atomic_write_bytes(path, save(contiguous, metadata=metadata))


def atomic_stream_safetensors(path: PathLike, name: str, shape: "tuple[int, ...]", chunks: Iterable[Any],
                              metadata: Optional[Dict[str, str]] = None) -> None:
    """One float32 tensor ``name`` of ``shape``, written from ``chunks`` (tensors whose rows make it, in order)
    without ever holding it whole: the bytes go to a temporary file as they come, their checksum computed on the
    way (the same as :func:`tensors_sha256`'s); then the header and those bytes make the file, atomically."""
    import struct

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{name}|torch.float32|{tuple(shape)}|".encode())
    fd, body_name = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", suffix=".body.tmp", dir=path.parent)
    rows, nbytes = 0, 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                data = chunk.detach().cpu().contiguous().float().numpy().tobytes()
                digest.update(data)
                handle.write(data)
                rows, nbytes = rows + len(chunk), nbytes + len(data)
        if rows != shape[0]:
            raise ValueError(f"the chunks hold {rows} rows, not the {shape[0]} of shape {tuple(shape)}")
        metadata = {**(metadata or {}), CHECKSUM_KEY: digest.hexdigest()}
        metadata[HEADER_CHECKSUM_KEY] = header_sha256(metadata)
        header = json.dumps({"__metadata__": metadata, name: {"dtype": "F32", "shape": list(shape),
                                                              "data_offsets": [0, nbytes]}}, separators=(",", ":")).encode()
        header += b" " * (-len(header) % 8)
        with atomic_path(path) as tmp, open(tmp, "wb") as out, open(body_name, "rb") as source:
            out.write(struct.pack("<Q", len(header)) + header)
            shutil.copyfileobj(source, out, 1 << 22)
    finally:
        Path(body_name).unlink(missing_ok=True)


def checksum_problem(tensors: Dict[str, Any], metadata: Dict[str, str], *, header: bool = True) -> Optional[str]:
    """Why a file's content fails its checksums (None when it passes). ``header``: the header's own
    checksum is required (files written before it existed have only the tensors' one)."""
    if CHECKSUM_KEY not in metadata:
        return "it carries no checksum of its tensors"
    if metadata[CHECKSUM_KEY] != tensors_sha256(tensors):
        return "its tensors fail the checksum in its header"
    if HEADER_CHECKSUM_KEY in metadata:
        if metadata[HEADER_CHECKSUM_KEY] != header_sha256(metadata):
            return "its header fails its checksum (it was edited or damaged)"
    elif header:
        return "its header carries no checksum"
    return None


def read_verified_safetensors(path: PathLike) -> "tuple[Dict[str, Any], Dict[str, str]]":
    """(tensors, header) of a regular safetensors file that passes both its checksums; else ValueError.

    The tensors are cloned: a file's mapping dies with SIGBUS when the file is rewritten in place,
    and some tensors (best weights, a cache) outlive this call."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise ValueError("it is not a regular file")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key).clone() for key in handle.keys()}
    problem = checksum_problem(tensors, metadata)
    if problem:
        raise ValueError(problem)
    return tensors, metadata


def loads_json(text: str, *, refuse_duplicates: bool = True) -> Any:
    """Parse JSON text, refusing duplicate keys and nesting too deep to parse (ValueError, one line)."""

    def no_duplicates(pairs):
        seen: Dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen[key] = value
        return seen

    try:
        return json.loads(text, object_pairs_hook=no_duplicates if refuse_duplicates else None)
    except RecursionError:
        raise ValueError("nested too deeply") from None
