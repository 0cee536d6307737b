"""Weights as safetensors with the registry entry in the header: rebuilt from data, never unpickled.

A weights file carries everything needed to rebuild its model: ``zoo.entry`` (the registry entry
as JSON) names the architecture and its kwargs, so :func:`load` works on a file from an older or
another registry too. Training adds epochs, best validation loss and data checksums.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

from .devices import resolve_device
from .errors import WeightsError
from .io import atomic_save_safetensors, verify_checksum
from .paths import resource_path
from .registry import NAME_RE, Entry, load_registry, parse_entry
from .version import __version__

FORMAT_VERSION = "1"
WEIGHTS_FILE = "model.safetensors"


def weights_dir() -> Path:
    """$ZOO_WEIGHTS_DIR, else the weights installed inside the package, else the repository's."""
    return resource_path("ZOO_WEIGHTS_DIR", "weights")


def shipped_weights(name: str) -> Path:
    return weights_dir() / name / WEIGHTS_FILE


def has_weights(name: str) -> bool:
    return shipped_weights(name).is_file()


def save_weights(path: Union[str, Path], model: torch.nn.Module, entry: Entry, **extra: Any) -> None:
    """Write ``model``'s tensors and ``entry`` (plus ``extra`` metadata, JSON-encoded) atomically."""
    metadata = {
        "format": "pt",
        "zoo.format": FORMAT_VERSION,
        "zoo.name": entry.name,
        "zoo.entry": entry.to_json(),
        "zoo.version": __version__,
    }
    metadata.update({f"zoo.{k}": json.dumps(v) for k, v in extra.items()})
    atomic_save_safetensors(path, model.state_dict(), metadata)


def read_metadata(path: Union[str, Path]) -> Dict[str, str]:
    """The header metadata of a zoo weights file (checks that it is safetensors at all)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except FileNotFoundError:
        raise WeightsError(f"Weights file {path} does not exist") from None
    except IsADirectoryError:
        raise WeightsError(f"{path} is a folder, not a weights file") from None
    except Exception as exc:  # SafetensorError, OSError: a truncated file, a pickle, random bytes
        raise WeightsError(f"{path} is not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    if "zoo.entry" not in metadata:
        raise WeightsError(f"{path} is a safetensors file but not a zoo model (no 'zoo.entry' in its header)")
    return metadata


def entry_from_file(path: Union[str, Path]) -> Tuple[Entry, Dict[str, str]]:
    metadata = read_metadata(path)
    name = metadata.get("zoo.name", "")
    try:
        data = json.loads(metadata["zoo.entry"])
    except ValueError:
        raise WeightsError(f"{path}: the 'zoo.entry' header is not valid JSON") from None
    return parse_entry(name, data, source=str(path)), metadata


def load_weights_into(model: torch.nn.Module, path: Union[str, Path], device: torch.device) -> None:
    """Load tensors into ``model`` after checking names and shapes match exactly."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:
        raise WeightsError(f"{path} cannot be read as safetensors ({str(exc).splitlines()[0]})") from None
    if not verify_checksum(tensors, metadata):
        raise WeightsError(f"{path} is corrupted: its tensors fail the checksum in its header; get a fresh copy")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise WeightsError(f"{path} does not fit this model: {'; '.join(parts)}")
    for key, value in expected.items():
        if tensors[key].shape != value.shape or tensors[key].dtype != value.dtype:
            raise WeightsError(
                f"{path} does not fit this model: {key} is {tuple(tensors[key].shape)} {tensors[key].dtype}, "
                f"the model needs {tuple(value.shape)} {value.dtype}"
            )
    model.load_state_dict(tensors, strict=True)


def _looks_like_path(text: str) -> bool:
    return os.sep in text or text.endswith(".safetensors") or Path(text).exists() or not NAME_RE.match(text)


def load(name_or_path: Union[str, Path], *, pretrained: bool = True, device: Union[str, torch.device, None] = None):
    """A zoo model in eval mode on ``device`` (default: CUDA, then MPS, then CPU).

    Args:
        name_or_path: a registry name (``"fashion-64"``), a ``.safetensors`` file written by zoo, or
            a run directory holding ``model.safetensors``.
        pretrained: load trained weights (default). ``False`` gives a freshly initialised model
            built from the registry entry (names only).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"`` or a ``torch.device``.
    """
    target = resolve_device(device)
    text = str(name_or_path)
    registry = load_registry()
    if isinstance(name_or_path, Path) or (text not in registry and _looks_like_path(text)):
        path = Path(text)
        if path.is_dir():
            path = path / WEIGHTS_FILE
        if not pretrained:
            raise WeightsError("pretrained=False takes a registry name, not a file; use zoo.get_entry(name).build()")
        entry, _ = entry_from_file(path)
    else:
        entry = registry.get(text)  # unknown names: UnknownModelError with a suggestion
        path = shipped_weights(text)
        if pretrained and not path.is_file():
            raise WeightsError(
                f"No trained weights are shipped for {text!r} yet (looked for {path}); "
                f"train them with `zoo train {text}` and load the run folder, or pass pretrained=False"
            )
    model = entry.build()
    if pretrained:
        load_weights_into(model, path, torch.device("cpu"))
    return model.to(target).eval()
