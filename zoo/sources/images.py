"""A user's own images, the common part of the readers (image folders: :mod:`.folder`; ``.npz``: :mod:`.npz`).

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

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

from ..errors import DataError, UsageError, shown

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
DEFAULT_BUDGET = 4 * 2**30  # bytes of uint8 images held in memory; ZOO_MAX_DATA_BYTES changes it
MAX_LABEL = 2**16 - 1  # labels are class numbers: a class name is made for each one up to the largest
SPLIT_SEED = 20240101  # fixes which images split_off holds out: the same files give the same split


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
        raise DataError(f"{shown(source)} needs {nbytes / 2**20:,.1f} MiB of memory to read, more than the "
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
    if len(array) and int(array.max()) > MAX_LABEL:
        raise DataError(f"{where} holds the label {int(array.max())}; zoo takes labels up to {MAX_LABEL} "
                        f"(class numbers 0..{MAX_LABEL}): number the classes from 0")
    return torch.from_numpy(array.astype(np.int64))
