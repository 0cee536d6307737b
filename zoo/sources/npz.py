"""The ``.npz`` reader of a user's data (the format and its checks: :mod:`.images`)."""
from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import DataError, first_line, shown
from .images import RawData, as_labels, as_uint8_images, check_budget, hold_out_test
from .reader import Reader, register_source, regular_file


@register_source("npz")
class NpzReader(Reader):
    description = "an .npz file"

    def claims(self, path: Path) -> bool:
        return path.suffix.lower() == ".npz" and not path.is_dir()

    def files(self, path: Path) -> List[Path]:
        return [regular_file(path)]

    def read(self, path: Path, files: List[Path], resize: Optional[Sequence[int]]) -> RawData:
        if resize is not None:
            raise DataError(f"{shown(path)}: \"resize\" applies to image folders; resize the arrays of an .npz yourself")
        return read_npz(path)


def _npy_header(zf: zipfile.ZipFile, member: str):
    import numpy as np

    with zf.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)
    return shape, dtype


ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _check_declared(path: Path, declared) -> None:
    """Refuse from the arrays' headers alone, before any is read: test labels without test images, label
    counts that do not match, and arrays that need more memory than the budget (as stored, so a float64
    array counts 8 bytes a value, plus the uint8 copy of images that are not uint8)."""
    if "y_test" in declared and "x_test" not in declared:
        raise DataError(f"{shown(path)} has y_test but no x_test; give the test images too, or drop y_test "
                        f"(zoo then holds out a sixth of x_train, with its y_train labels)")
    for split in ("train", "test"):
        if f"y_{split}" in declared and f"x_{split}" in declared:
            (x_shape, _), (y_shape, _) = declared[f"x_{split}"], declared[f"y_{split}"]
            if len(y_shape) != 1 or not x_shape or y_shape[0] != x_shape[0]:
                count = y_shape[0] if len(y_shape) == 1 else f"a {len(y_shape)}-d array of"
                raise DataError(f"{shown(path)}: y_{split} declares {count} labels for {x_shape[0] if x_shape else 0} images")
    nbytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in declared.values())
    nbytes += sum(math.prod(declared[k][0]) for k in ("x_train", "x_test") if k in declared and declared[k][1].itemsize > 1)
    check_budget(nbytes, path)


def read_npz(path: Path) -> RawData:
    import numpy as np

    try:
        with zipfile.ZipFile(path) as zf:
            members = {name[:-4]: name for name in zf.namelist() if name.endswith(".npy")}
            if "x_train" not in members:
                raise DataError(f"{shown(path)} has no x_train array (it holds {', '.join(sorted(members)) or 'none'}); "
                                f"save it as np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
            declared = {k: _npy_header(zf, members[k]) for k in ARRAYS if k in members}
            _check_declared(path, declared)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ARRAYS if k in npz.files}
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
