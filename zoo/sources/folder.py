"""A user's image folder (torchvision's ImageFolder layout) as uint8 tensors: see :mod:`.images`."""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import DataError, first_line, shown
from .images import IMAGE_EXTENSIONS, RawData, check_budget, hold_out_test


def _images_in(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not p.name.startswith("."))


def _listing(split_dir: Path) -> Tuple[List[Path], List[Optional[str]]]:
    """Image files of one split and their class names (None without class folders)."""
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    if classes:
        for name in classes:
            found = _images_in(split_dir / name)
            files += found
            labels += [name] * len(found)
    loose = _images_in(split_dir)
    if loose and classes:
        raise DataError(f"{shown(split_dir)} holds both class folders and loose images ({loose[0].name}); "
                        f"put every image in a class folder, or none")
    files += loose
    labels += [None] * len(loose)
    return files, labels


def read_folder(path: Path, resize: Optional[Sequence[int]] = None) -> RawData:
    split = (path / "train").is_dir()
    train_files, train_names = _listing(path / "train" if split else path)
    test_files, test_names = _listing(path / "test") if split and (path / "test").is_dir() else ([], [])
    if not train_files:
        raise DataError(f"{shown(path)} holds no images ({', '.join(IMAGE_EXTENSIONS)}), in class folders or loose")
    if (None in train_names + test_names) and any(n is not None for n in train_names + test_names):
        raise DataError(f"{shown(path)}: train/ and test/ must both use class folders, or neither")
    first = _open(train_files[0], resize)
    per_image = math.prod(first.shape)
    check_budget(per_image * (len(train_files) + len(test_files)), path)
    colour = any(_is_colour(f) for f in train_files + test_files)
    train = _decode(train_files, resize, colour)
    test = _decode(test_files, resize, colour) if test_files else None
    classes = tuple(sorted({n for n in train_names + test_names if n is not None})) or None
    index = {name: i for i, name in enumerate(classes or ())}
    train_labels = torch.tensor([index[n] for n in train_names], dtype=torch.int64) if classes else None
    test_labels = torch.tensor([index[n] for n in test_names], dtype=torch.int64) if classes and test_files else None
    if test is None:
        train, train_labels, test, test_labels = hold_out_test(train, train_labels)
    return RawData(train, train_labels, test, test_labels, classes)


def _open(file: Path, resize: Optional[Sequence[int]]):
    """One image as a uint8 (H, W) or (H, W, 3) numpy array."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            image.load()
            if image.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16", "I"):
                raise DataError(f"Image {shown(file)} has mode {image.mode}; zoo reads grey, RGB and palette images")
            image = image.convert("RGB" if _mode_is_colour(image) else "L")
            if resize is not None:
                image = image.resize((int(resize[1]), int(resize[0])), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DataError(f"Image {shown(file)} cannot be read ({first_line(exc)})") from None


def _mode_is_colour(image) -> bool:
    if image.mode in ("RGB", "RGBA"):
        return True
    if image.mode in ("P", "PA"):
        return image.convert("RGB").getextrema() != image.convert("L").convert("RGB").getextrema()
    return False


def _is_colour(file: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(file) as image:
            return image.mode in ("RGB", "RGBA", "P", "PA") and _mode_is_colour(image)
    except Exception:
        return False  # _open names the file and the reason


def _decode(files: List[Path], resize: Optional[Sequence[int]], colour: bool) -> torch.Tensor:
    import numpy as np

    arrays, sizes = [], {}
    for file in files:
        array = _open(file, resize)
        if colour and array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        sizes.setdefault(array.shape[:2], file)
        if len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataError(f"Images of two sizes: {fa.name} is {a[0]}x{a[1]}, {fb.name} is {b[0]}x{b[1]}; resize them "
                            f"to one size, or declare the data set in a registry file with \"resize\": [H, W]")
        arrays.append(array)
    stacked = torch.from_numpy(np.stack(arrays))
    return stacked.permute(0, 3, 1, 2).contiguous() if stacked.dim() == 4 else stacked
