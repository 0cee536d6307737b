"""A user's image folder (torchvision's ImageFolder layout) as uint8 tensors: see :mod:`.images`."""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import DataError, shown
from .decoding import decode, is_colour, one_size
from .images import IMAGE_EXTENSIONS, RawData, check_budget, hold_out_test
from .reader import Reader, register_source, regular_file


@register_source("folder")
class FolderReader(Reader):
    description = "an image folder"

    def claims(self, path: Path) -> bool:
        return path.is_dir()

    def files(self, path: Path) -> List[Path]:
        """Every image the folder's layout gives, train split first (see :func:`layout`)."""
        (train, _), (test, _) = layout(path)
        return train + test

    def read(self, path: Path, files: List[Path], resize: Optional[Sequence[int]]) -> RawData:
        listing = layout(path)
        if listing[0][0] + listing[1][0] != files:  # what the hash covered is what is read, or nothing
            raise DataError(f"{shown(path)} changed while it was being read; read it again")
        return read_folder(path, resize, listing)


def _images_in(folder: Path) -> List[Path]:
    """The images of one folder: not hidden, named like an image; each a regular file (a FIFO or a device
    under an image's name is refused, not read for ever). Sub-folders are not images."""
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
                   and not p.is_dir())
    return [regular_file(p) for p in found]


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


def layout(path: Path) -> Tuple[Tuple[List[Path], List[Optional[str]]], Tuple[List[Path], List[Optional[str]]]]:
    """((train files, their class names), (test files, class names)) of an image folder."""
    split = (path / "train").is_dir()
    train = _listing(path / "train" if split else path)
    test = _listing(path / "test") if split and (path / "test").is_dir() else ([], [])
    return train, test


def read_folder(path: Path, resize: Optional[Sequence[int]] = None, listing=None) -> RawData:
    """An image folder as uint8 tensors; ``listing``: its :func:`layout`, where the caller has it already."""
    (train_files, train_names), (test_files, test_names) = listing or layout(path)
    if not train_files:
        raise DataError(f"{shown(path)} holds no images ({', '.join(IMAGE_EXTENSIONS)}), in class folders or loose")
    if (None in train_names + test_names) and any(n is not None for n in train_names + test_names):
        raise DataError(f"{shown(path)}: train/ and test/ must both use class folders, or neither")
    files = train_files + test_files
    size = one_size(files, resize)  # from the files' headers, before anything is decoded
    colour = any(is_colour(f) for f in files)
    check_budget(math.prod(size) * (3 if colour else 1) * len(files), path)
    train = decode(train_files, resize, colour)
    test = decode(test_files, resize, colour) if test_files else None
    classes = tuple(sorted({n for n in train_names + test_names if n is not None})) or None
    index = {name: i for i, name in enumerate(classes or ())}
    train_labels = torch.tensor([index[n] for n in train_names], dtype=torch.int64) if classes else None
    test_labels = torch.tensor([index[n] for n in test_names], dtype=torch.int64) if classes and test_files else None
    if test is None:
        train, train_labels, test, test_labels = hold_out_test(train, train_labels)
    return RawData(train, train_labels, test, test_labels, classes)
