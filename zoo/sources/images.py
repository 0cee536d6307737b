"""A user's own images, the common part and the ``.npz`` reader (image folders: :mod:`.folder`).

Both become uint8 tensors: ``(N, H, W)`` for one channel, ``(N, 3, H, W)`` for colour, with int64
labels where the source has them. Everything is checked before it is used, and every refusal is one
line that names the file: unreadable images, mixed sizes, NaN or out-of-range floats, wrong dtypes,
label counts that do not match, data beyond the memory budget.

Layouts:

* folder: ``DIR/train/<class>/*.png`` and ``DIR/test/<class>/*.png``; or ``DIR/<class>/*.png``; or
  ``DIR/*.png`` (no labels). Class folders give labels, in sorted order of their names. Without a
  ``test/`` folder, the test split is ``split_off``'s sixth of the images (see below).
* ``.npz``: ``x_train`` (required), ``y_train``, ``x_test``, ``y_test`` (optional), arrays
  ``(N, H, W)`` or ``(N, H, W, C)`` with C 1 or 3, uint8, or floats in [0, 1] (scaled by 255 and
  rounded, so ``uint8 / 255`` comes back exactly).
"""
from __future__ import annotations

import hashlib
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

from ..errors import DataError, UsageError, first_line, shown

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
DEFAULT_BUDGET = 4 * 2**30  # bytes of uint8 images held in memory; ZOO_MAX_DATA_BYTES changes it
SPLIT_SEED = 20240101  # fixes which images split_off holds out: the same files give the same split
_HASHED: dict = {}  # the content hash of a source, by its files' names, sizes and modification times


@dataclass
class RawData:
    """A data set's two published splits as uint8 tensors (labels None where the source has none)."""

    train_images: torch.Tensor
    train_labels: Optional[torch.Tensor]
    test_images: torch.Tensor
    test_labels: Optional[torch.Tensor]
    classes: Optional[Tuple[str, ...]]


def budget() -> int:
    value = os.environ.get("ZOO_MAX_DATA_BYTES")
    try:
        return int(value) if value else DEFAULT_BUDGET
    except ValueError:
        raise UsageError(f"ZOO_MAX_DATA_BYTES={value!r} is not a number of bytes") from None


def check_budget(nbytes: int, source: Path) -> None:
    if nbytes > budget():
        raise DataError(f"{shown(source)} needs {nbytes / 2**20:,.1f} MiB as uint8 images, more than the "
                        f"{budget() / 2**20:,.0f} MiB budget; raise ZOO_MAX_DATA_BYTES or use fewer or smaller images")


def split_off(n: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(kept, held out) indices, each in increasing order: a fixed permutation of ``n`` holds out its
    last ceil(n / 6) (MNIST's 10,000 of 60,000), so the split does not follow any sorting of the files."""
    held = max(1, math.ceil(n / 6))
    if n < 2:
        raise DataError(f"{n} image(s) cannot be split into two parts; zoo needs at least 2 (better: hundreds)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return perm[:-held].sort().values, perm[-held:].sort().values


def hold_out_test(images: torch.Tensor, labels: Optional[torch.Tensor]):
    """(train images, train labels, test images, test labels) of a source without a test split."""
    keep, held = split_off(len(images))
    return images[keep], None if labels is None else labels[keep], images[held], None if labels is None else labels[held]


# ---------------------------------------------------------------------- content checksums
def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's image files (relative paths and contents, sorted).
    Read once while every file keeps its size and modification time (a data set is looked up often)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    signature = (str(path), *((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if signature not in _HASHED:
        digest = hashlib.sha256()
        for file in files:
            if file is not path:
                digest.update(f"{file.relative_to(path).as_posix()}\0".encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
        _HASHED[signature] = digest.hexdigest()
    return _HASHED[signature]


# ---------------------------------------------------------------------- arrays to uint8
def as_uint8_images(array, source: Path, what: str) -> torch.Tensor:
    """A numpy array ``(N, H, W)`` or ``(N, H, W, C)`` (C 1 or 3), uint8 or floats in [0, 1], as uint8
    ``(N, H, W)`` or ``(N, 3, H, W)``."""
    import numpy as np

    where = f"{shown(source)}: {what}"
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)):
        raise DataError(f"{where} has shape {tuple(array.shape)}; expected (N, H, W) or (N, H, W, C) with C 1 or 3")
    if min(array.shape) < 1:
        raise DataError(f"{where} is empty (shape {tuple(array.shape)})")
    if array.dtype == np.uint8:
        out = array
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise DataError(f"{where} holds NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise DataError(f"{where} holds floats in [{low:g}, {high:g}]; floats must be in [0, 1] (or give uint8)")
        out = np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    else:
        raise DataError(f"{where} has dtype {array.dtype}; images must be uint8, or floats in [0, 1]")
    tensor = torch.from_numpy(np.ascontiguousarray(out))
    return tensor.permute(0, 3, 1, 2).contiguous() if tensor.dim() == 4 else tensor


def as_labels(array, n: int, source: Path, what: str) -> torch.Tensor:
    import numpy as np

    where = f"{shown(source)}: {what}"
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise DataError(f"{where} must be a 1-d array of integer labels, got {array.dtype} {tuple(array.shape)}")
    if len(array) != n:
        raise DataError(f"{where} holds {len(array)} labels for {n} images")
    if len(array) and int(array.min()) < 0:
        raise DataError(f"{where} holds negative labels")
    return torch.from_numpy(array.astype(np.int64))


# ---------------------------------------------------------------------- .npz
def _npy_header(zf: zipfile.ZipFile, member: str):
    import numpy as np

    with zf.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)
    return shape, dtype


def read_npz(path: Path) -> RawData:
    import numpy as np

    try:
        with zipfile.ZipFile(path) as zf:
            members = {name[:-4]: name for name in zf.namelist() if name.endswith(".npy")}
            if "x_train" not in members:
                raise DataError(f"{shown(path)} has no x_train array (it holds {', '.join(sorted(members)) or 'none'}); "
                                f"save it as np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
            nbytes = 0
            for key in ("x_train", "x_test"):
                if key in members:
                    shape, dtype = _npy_header(zf, members[key])
                    nbytes += math.prod(shape)  # as uint8
            check_budget(nbytes, path)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test") if k in npz.files}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{shown(path)} is not a readable .npz ({first_line(exc)})") from None
    train = as_uint8_images(arrays["x_train"], path, "x_train")
    train_labels = as_labels(arrays["y_train"], len(train), path, "y_train") if "y_train" in arrays else None
    if "x_test" in arrays:
        test = as_uint8_images(arrays["x_test"], path, "x_test")
        if test.shape[1:] != train.shape[1:]:
            raise DataError(f"{shown(path)}: x_test images are {_size(test)}, x_train images {_size(train)}")
        test_labels = as_labels(arrays["y_test"], len(test), path, "y_test") if "y_test" in arrays else None
    else:
        train, train_labels, test, test_labels = hold_out_test(train, train_labels)
    if (train_labels is None) != (test_labels is None):
        raise DataError(f"{shown(path)} has labels for one split only; give both y_train and y_test, or neither")
    classes = _classes(train_labels, test_labels)
    return RawData(train, train_labels, test, test_labels, classes)


def _classes(*labels: Optional[torch.Tensor]) -> Optional[Tuple[str, ...]]:
    present = [t for t in labels if t is not None and len(t)]
    if not present:
        return None
    return tuple(str(i) for i in range(int(max(int(t.max()) for t in present)) + 1))


def _size(images: torch.Tensor) -> str:
    return "x".join(map(str, images.shape[-2:])) + (" RGB" if images.dim() == 4 else "")
