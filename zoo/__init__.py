"""zoo: a model zoo of autoencoders for MNIST-like data.

``zoo.list_models()``, ``zoo.get_entry(name)``, ``zoo.load(name)`` and ``zoo.train(name)``; the
heavy modules are imported on first use so ``import zoo`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "list_models": "registry",
    "get_entry": "registry",
    "load_registry": "registry",
    "load": "weights",
    "load_dataset": "data",
    "train": "runs",
    "Trainer": "trainer",
    "ZooError": "errors",
    "evaluate": "evaluation",
    "compare": "evaluation",
    "linear_probe": "probe",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
