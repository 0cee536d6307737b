"""zoo: a model zoo of autoencoders for MNIST-like data.

``zoo.list_models()``, ``zoo.get_entry(name)``, ``zoo.load(name)`` and ``zoo.train(name)``.

``import zoo`` imports torch and what ``zoo.load`` needs (registry, models, safetensors), so that
loading a model right after it is quick; what only training, evaluation and plots need
(torchvision, matplotlib, TensorBoard, tqdm) is imported on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from .registry import get_entry, list_models, load_registry  # noqa: E402
from .weights import load  # noqa: E402

_LAZY = {
    "load_dataset": "data",
    "train": "runs",
    "Trainer": "trainer",
    "ZooError": "errors",
    "evaluate": "evaluation",
    "compare": "evaluation",
    "linear_probe": "probe",
}

__all__ = ["__version__", "get_entry", "list_models", "load_registry", "load", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
