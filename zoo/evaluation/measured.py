"""One model's row of ``zoo compare`` and ``zoo report``, measured once per weights file.

A row is a function of the weights (their SHA-256), the data (its checksums) and how it was measured (the
images, ``--limit``; the importance samples of its NLL, ``--samples``), so it is read back rather than measured
again from:

- a shipped entry's ``card.json``, when the weights file is the one the card gives the SHA-256 of, the data are
  the card's, the whole test split is asked for and no other K than the card's: its test metrics and PCA's, its
  NLL and ELBO (K=5000 on all 10,000 test images) and its fd, all measured by the same functions when the
  card was written;
- the measurement cache, ``$ZOO_CACHE_DIR/measurements/<sha256>.json``, where every row measured here is kept,
  keyed by the data's checksums, the limit, the samples and :data:`MEASUREMENT` (raised whenever a
  measurement changes, which retires the rows before it).

Each row says where it came from (``source``: ``card``, ``cache`` or ``measured``) and the K of its NLL
(``nll_k``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from .. import hf
from ..data import checksums
from ..io import atomic_write_json, file_sha256
from ..paths import cache_dir
from ..registry import list_models
from ..weights import CARD_FILE, WEIGHTS_FILE, hf_weights, shipped_weights
from .likelihood import fits_data

MEASUREMENT = 1  # the version of what a row measures; raise it when a measurement changes
COMPARE_SAMPLES = 100  # importance samples per image of a measured nll column (zoo eval: 5000)


def weights_file(target: str) -> Path:
    """The weights file of a registry name (shipped), a run folder / file, or an ``hf://`` repository."""
    if hf.is_hf(target):
        return hf_weights(target)
    if target in list_models():
        return shipped_weights(target)
    path = Path(target)
    return path / WEIGHTS_FILE if path.is_dir() else path


def row_of(target: str, model, *, limit: Optional[int], samples: Optional[int], reuse: bool,
           measure: Callable[[int], Dict[str, Any]]) -> Dict[str, Any]:
    """``target``'s row: from its card or the cache where ``reuse`` allows, else ``measure(samples)`` (kept in the
    cache). ``samples`` None: the card's K where a card serves, else :data:`COMPARE_SAMPLES`."""
    entry = model.entry
    path = weights_file(str(target))
    sha = file_sha256(path) if path.is_file() else None
    head = {"name": str(target), "dataset": entry.dataset, "latent_dim": entry.latent_dim,
            "params": model.num_parameters()}
    if reuse and sha is not None and limit is None:
        card = _card_row(path, sha, model, samples)
        if card is not None:
            return {**head, **card, "source": "card"}
    k = samples or COMPARE_SAMPLES
    key = json.dumps({"measurement": MEASUREMENT, "data": checksums(entry.dataset), "limit": limit, "samples": k},
                     sort_keys=True)
    cache = cache_dir() / "measurements" / f"{sha}.json"
    if reuse and sha is not None:
        kept = _read(cache).get(key)
        if kept is not None:
            return {**head, **kept, "source": "cache"}
    row = measure(k)
    row["nll_k"] = k if row.get("nll") is not None else None
    if sha is not None:
        try:
            atomic_write_json(cache, {**_read(cache), key: row})
        except OSError:  # a cache that cannot be written costs time, never the result
            pass
    return {**head, **row, "source": "measured"}


def _read(path: Path) -> Dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _card_row(path: Path, sha: str, model, samples: Optional[int]) -> Optional[Dict[str, Any]]:
    """The row a shipped card gives for these weights, or None where it gives not all of it."""
    from .classifier import CLASSIFIER_DATASETS
    from .sampling import generative

    card = _read(path.parent / CARD_FILE)
    entry = model.entry
    try:
        if card["files"][WEIGHTS_FILE] != sha or card["dataset"] != entry.dataset:
            return None
        if card["data_sha256"] != checksums(entry.dataset):
            return None
        tested = card["test"]["reconstruction"]
        row = {**tested["model"], **{f"pca_{m}": v for m, v in tested["pca"].items()}}
        likelihood = card.get("likelihood")
        if fits_data(model, entry.dataset):
            if not likelihood or likelihood["n"] != 10000 or samples not in (None, likelihood["samples"]):
                return None
            row.update(nll=likelihood["nll"], elbo=likelihood["elbo"], nll_k=likelihood["samples"])
        else:
            row.update(nll=None, elbo=None, nll_k=None)
        if generative(model) and entry.dataset in CLASSIFIER_DATASETS:
            sampled = card["sampling"]
            row.update(fd=sampled["fd"], pca_fd=sampled["pca_fd"], floor_fd=sampled["floor_fd"])
        else:
            row.update(fd=None, pca_fd=None, floor_fd=None)
    except (KeyError, TypeError):
        return None
    return row
