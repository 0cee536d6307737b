"""A user data set, read once, is kept as uint8 tensors under ``$ZOO_CACHE_DIR/datasets/``, keyed by
the SHA-256 of its source's content (and any resize): a changed file gets a new key, so the cache is
never trusted over the source; a damaged cache file fails its checksums and is read again from the source."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Optional, Sequence

from ..errors import first_line, shown
from ..io import atomic_save_safetensors, read_verified_safetensors
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
