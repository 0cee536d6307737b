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

``import zoo`` imports nothing heavy: each name above is imported on first use (``zoo.load`` brings torch and
the load path, not torchvision, matplotlib or TensorBoard, which wait for training, evaluation or plots), so
that the ``zoo`` command can set up the process (zoo.command) before torch starts.
"""
from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

_LAZY = {
    "Autoencoder": "models",
    "Phase": "models",
    "register_family": "models",
    "register_model": "models",
    "EncoderBody": "networks",
    "GridBody": "networks",
    "Network": "networks",
    "register_network": "networks",
    "get_entry": "registry",
    "list_models": "registry",
    "load_registry": "registry",
    "load": "weights",
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

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
