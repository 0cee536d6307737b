"""Data sets by name, as uint8 tensors: the built-in MNIST and Fashion-MNIST (verified IDX files,
:mod:`zoo.sources.idx`), the data sets a registry file declares (``"datasets": {NAME: {"path": ...}}``),
and an image folder or an .npz given by its path (:mod:`zoo.sources.images`).

Images are ``(N, H, W)`` for one channel and ``(N, 3, H, W)`` for colour; labels int64 ``(N,)``, or
None for a data set without them. Splits: ``train`` and ``test`` as the source has them; training
fits on ``fit`` and early-stops on ``val``, both carved from ``train`` without randomness: for the
built-in sets the last 10,000 training images are ``val``; for a user's, a fixed permutation of the
training images holds out its last sixth (:func:`zoo.sources.images.split_off`). A user's data is
read once and cached as uint8 tensors keyed by the SHA-256 of its content.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Tuple, Union

import torch

from .errors import DataError, UsageError, checked_call, did_you_mean, did_you_mean_any, option, shown
from .registry import BUILTIN_DATASETS, load_registry, looks_like_path
from .sources import cache, idx, images, source_files
from .sources.idx import DATASETS, FILES, VAL_SIZE, locate  # noqa: F401  (the built-in sets' files)

SPLITS = ("train", "test", "fit", "val")


class DataSplit(NamedTuple):
    """``images``: uint8 ``(N, H, W)`` or ``(N, 3, H, W)``; ``labels``: int64 ``(N,)``, or None."""

    images: torch.Tensor
    labels: Optional[torch.Tensor]


@dataclass(frozen=True)
class Dataset:
    """What zoo knows of a data set once it is read."""

    name: str
    image_shape: Tuple[int, int, int]  # (C, H, W), what its models are built for
    classes: Optional[Tuple[str, ...]]  # None: no labels
    sha256: Dict[str, str]  # built-in: each IDX file's; a user's: {"content": ...} of its source
    sizes: Dict[str, int]  # images per split


_LOADED: Dict[Tuple[str, ...], Tuple[Dataset, Dict[str, Optional[torch.Tensor]]]] = {}


class _Located(NamedTuple):
    """Where a user's data set is: its path and any resize (a built-in set is found by :mod:`.sources.idx`)."""

    path: Path
    resize: Optional[Tuple[int, int]]


def _source(name: str) -> Optional[_Located]:
    """None for a built-in set, else the user's data set's path and resize."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"A data set is a name or a path, got {name!r}")
    if name in BUILTIN_DATASETS:
        return None
    declared = load_registry().datasets
    if name in declared:
        spec = declared[name]
        return _Located(Path(spec.path), tuple(spec.resize) if spec.resize else None)
    if looks_like_path(name) or Path(name).exists():
        return _Located(Path(name).resolve(), None)
    known = [*BUILTIN_DATASETS, *declared]
    hint = did_you_mean(name, known) or f" Known: {', '.join(known)}; or give the path of an image folder or an .npz."
    raise UsageError(f"Unknown dataset {name!r}.{hint}")


def _load(name: str) -> Tuple[Dataset, Dict[str, Optional[torch.Tensor]]]:
    located = _source(name)
    if located is None:
        key: Tuple[str, ...] = (name, str(locate(name).resolve()))
        if key not in _LOADED:
            tensors = idx.load_idx(name)
            info = idx.get_info(name)
            dataset = Dataset(name, info.image_shape, info.classes, dict(info.sha256), _sizes(tensors))
            _LOADED[key] = dataset, dict(tensors)
        return _LOADED[key]
    path, resize = located
    if not path.exists():
        raise DataError(f"Data set {name!r}: {shown(path)} does not exist")
    reader, files, content = source_files(path)
    key = (reader.key, str(path), cache.cache_key(content, resize))
    if key not in _LOADED:
        raw = cache.load_cached(key[2])
        if raw is None:
            raw = reader.read(path, files, resize)
            cache.save_cached(key[2], raw)
        tensors = {"train_images": raw.train_images, "train_labels": raw.train_labels,
                   "test_images": raw.test_images, "test_labels": raw.test_labels}
        shape = tuple(to_float(raw.train_images[:1]).shape[1:])
        _LOADED[key] = Dataset(name, shape, raw.classes, {"content": content}, _sizes(tensors)), tensors
    return _LOADED[key]


def _sizes(tensors) -> Dict[str, int]:
    return {"train": len(tensors["train_images"]), "test": len(tensors["test_images"])}


def canonical(name: str) -> str:
    """The name a run records for a data set: a built-in or declared name as it is, a path made absolute
    (so that the run loads from anywhere)."""
    located = _source(name)
    return name if located is None or name in load_registry().datasets else str(located.path)


def header_may_read(dataset: str, weights_file: Optional[Path]) -> bool:
    """Whether a weights file's header naming ``dataset`` is enough for zoo to read it: a built-in set, one
    declared in an active registry file (by its name or its path, or as an entry's data set), a path inside
    the weights file's folder,
    or a path the user gave ``zoo train --dataset`` (recorded in the cache). Any other path is one only the
    file names (from elsewhere, it could name a FIFO or the root of the file system), and zoo reads it only
    when the caller names it."""
    registry = load_registry()
    if dataset in BUILTIN_DATASETS or dataset in registry.datasets:
        return True
    path = Path(dataset).resolve()  # '..' and symlinks followed: inside means inside
    if weights_file is not None and path.is_relative_to(Path(weights_file).resolve().parent):
        return True
    named = [spec.path for spec in registry.datasets.values()] + [e.dataset for e in registry.entries.values()]
    if any(Path(p).resolve() == path for p in named if p not in BUILTIN_DATASETS):
        return True
    remembered = cache.named_paths()  # one read of the file
    return str(path) in remembered or dataset in remembered


def dataset_info(name: str) -> Dataset:
    """Image shape, classes, checksums and sizes of a data set (reading it if it is not yet)."""
    return _load(name)[0]


@checked_call
def load_dataset(dataset: Union[str, os.PathLike], split: str = "train") -> DataSplit:
    """Images and labels of one split: ``train``, ``test``, ``fit`` (train minus val) or ``val``.

    ``dataset``: a built-in name (``"mnist"``, ``"fashion-mnist"``), a name a registry file declares, or
    the path (a string or an ``os.PathLike``) of an image folder or an .npz."""
    dataset = os.fspath(dataset) if isinstance(dataset, os.PathLike) else dataset
    if not isinstance(split, str) or split not in SPLITS:
        hint = did_you_mean_any(split, SPLITS) or f" Known splits: {', '.join(SPLITS)}."
        raise UsageError(f"Unknown split {split!r}.{hint}")
    info, tensors = _load(dataset)
    part = "test" if split == "test" else "train"
    images_, labels = tensors[f"{part}_images"], tensors[f"{part}_labels"]
    labels = labels.long() if labels is not None else None
    if split in ("fit", "val") and dataset in BUILTIN_DATASETS:  # the last 10,000 are val: views, no copy
        cut = slice(0, len(images_) - VAL_SIZE) if split == "fit" else slice(len(images_) - VAL_SIZE, None)
        images_, labels = images_[cut], labels[cut] if labels is not None else None
    elif split in ("fit", "val"):
        chosen = images.split_off(len(images_))[0 if split == "fit" else 1]
        images_, labels = images_[chosen], labels[chosen] if labels is not None else None
    return DataSplit(images_, labels)


def check_limit(limit: Optional[int]) -> Optional[int]:
    """A ``--limit`` on the number of test images: None (all) or a positive count."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise UsageError(f"limit must be a whole number of images or None, got {limit!r}")
    if limit is not None and limit < 1:
        raise UsageError(f"{option('--limit')} must be >= 1, got {limit}")
    return limit


def checksums(dataset: str) -> Dict[str, str]:
    """SHA-256 of the data's content, as verified on load (for weights metadata and cards)."""
    return dict(dataset_info(dataset).sha256) if dataset not in BUILTIN_DATASETS else dict(idx.get_info(dataset).sha256)


def image_shape(dataset: str) -> Tuple[int, int, int]:
    """(C, H, W) of a data set's images: what its models are built for."""
    return BUILTIN_DATASETS[dataset].image_shape if dataset in BUILTIN_DATASETS else dataset_info(dataset).image_shape


def to_float(images_: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W)`` or ``(N, C, H, W)`` -> float32 ``(N, C, H, W)`` in ``[0, 1]`` (on their device)."""
    x = images_.unsqueeze(1) if images_.dim() == 3 else images_
    return x.to(torch.float32).div_(255.0)
