"""zoo: a model zoo of autoencoders for MNIST-like data.

What users may import from ``zoo`` (everything else is internal):

- ``list_models(pattern)``, ``get_entry(name)``, ``load_registry(path)``: the registry;
- ``load(name_or_path)``: a model with its weights, rebuilt from safetensors, never unpickled;
- ``train(name, **overrides)``: train an entry into a run folder;
- ``evaluate(model)``, ``compare(names)``, ``linear_probe(model)``: test metrics beside PCA;
- ``nll(model, samples=5000)``: the importance-sampled test NLL and ELBO of a model with a likelihood;
- ``sample(model, n, sampler="prior"|"gmm", seed=0)``: generated images (N, C, H, W) in [0, 1];
- ``fd(model)``: the Fréchet distance of 10,000 samples to the test set in zoo's MNIST classifier's features;
- ``sweep(name, params={...}, trials=N, storage=...)``: a hyperparameter search on Optuna (the ``[sweep]`` extra);
- ``load_dataset(name, split)``: the verified data as uint8 tensors;
- ``ZooError``: the base of every error zoo raises on purpose (one line, an exit status);
- ``Autoencoder`` and ``register_family(key, ConfigDataclass)``: your own family (its heads and loss) on any
  network, built as ``cls(config, image_shape, network)`` (docs/adding-a-family.md); ``register_model(key,
  ConfigDataclass)``: a model that builds all its layers itself, built as ``cls(config, image_shape)``;
- ``Network``, ``EncoderBody``, ``GridBody`` and ``register_network(key, ConfigDataclass)``: your own network,
  the bodies every family builds on (docs/adding-a-network.md);
- ``Objective``, ``register_objective(key)``, ``Phase``, ``Single``, ``Alternating``: what a training step
  does (a model names its objective; ``alternating`` steps the model's phases, each its own optimizer).

``import zoo`` imports torch and what ``zoo.load`` needs (registry, models, safetensors), so that
loading a model right after it is quick; what only training, evaluation and plots need
(torchvision, matplotlib, TensorBoard, tqdm) is imported on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from .models import Autoencoder, Phase, register_family, register_model
from .networks import EncoderBody, GridBody, Network, register_network
from .registry import get_entry, list_models, load_registry
from .version import __version__
from .weights import load

_LAZY = {
    "load_dataset": "data",
    "train": "training.run",
    "Trainer": "training.trainer",
    "ZooError": "errors",
    "evaluate": "evaluation.results",
    "compare": "evaluation.results",
    "linear_probe": "evaluation.probe",
    "nll": "evaluation.likelihood",
    "Objective": "training.objectives",
    "Single": "training.objectives",
    "Alternating": "training.objectives",
    "register_objective": "training.objectives",
    "sweep": "sweeps",
    "sample": "evaluation.sampling",
    "fd": "evaluation.quality",
}

__all__ = ["__version__", "Autoencoder", "Phase", "register_family", "register_model", "Network", "EncoderBody",
           "GridBody", "register_network", "get_entry", "list_models", "load_registry", "load", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
