"""A user data set, read once, is kept as uint8 tensors under ``$ZOO_CACHE_DIR/datasets/``, keyed by
the SHA-256 of its source's content (and any resize): a changed file gets a new key, so the cache is
never trusted over the source; a damaged cache file fails its checksums and is read again from the source."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import first_line, shown
from ..io import atomic_save_safetensors, atomic_write_json, loads_json, read_verified_safetensors
from ..paths import cache_dir
from .images import RawData

LOGGER = logging.getLogger("zoo")


def cache_key(content_sha256: str, resize: Optional[Sequence[int]]) -> str:
    return hashlib.sha256(json.dumps([content_sha256, list(resize) if resize else None]).encode()).hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / "datasets" / f"{key}.safetensors"


def load_cached(key: str) -> Optional[RawData]:
    path = _path(key)
    if not path.exists():
        return None
    try:
        tensors, metadata = read_verified_safetensors(path)
        classes = json.loads(metadata["classes"])
        return RawData(tensors["train_images"], tensors.get("train_labels"), tensors["test_images"],
                       tensors.get("test_labels"), tuple(classes) if classes is not None else None)
    except Exception as exc:  # damaged: read the source again
        LOGGER.warning(f"the data cache {shown(path)} is damaged ({first_line(exc)}); "
                       f"reading the source again")
        return None


def save_cached(key: str, raw: RawData) -> None:
    tensors = {"train_images": raw.train_images, "test_images": raw.test_images}
    if raw.train_labels is not None:
        tensors.update(train_labels=raw.train_labels, test_labels=raw.test_labels)
    try:
        atomic_save_safetensors(_path(key), tensors, {"classes": json.dumps(list(raw.classes) if raw.classes else None)})
    except OSError as exc:  # a read-only or full cache only costs reading the source next time
        LOGGER.warning(f"could not cache the data set ({exc.strerror or exc}); it will be read from its source again")


# ---------------------------------------------------------------------- the paths a user has named
NAMED_FILE = "named.json"  # in $ZOO_CACHE_DIR/datasets/: data sets given by their path to zoo train --dataset


def remember_named(path: str) -> None:
    """Record that the user named the data set at ``path`` (``zoo train --dataset PATH``), so that the run's
    weights, whose header names it, may read it again here (:func:`zoo.data.header_may_read`)."""
    named = set(named_paths())
    if path in named:
        return
    try:
        atomic_write_json(cache_dir() / "datasets" / NAMED_FILE, sorted(named | {path}))
    except OSError as exc:  # a read-only cache: such a run's eval then needs --dataset
        LOGGER.warning(f"could not record the data set {shown(path)} in the cache ({exc.strerror or exc})")


def named_paths() -> List[str]:
    path = cache_dir() / "datasets" / NAMED_FILE
    try:
        data = loads_json(path.read_text()) if path.is_file() else []
    except (OSError, ValueError):
        return []
    return [p for p in data if isinstance(p, str)] if isinstance(data, list) else []
