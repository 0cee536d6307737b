"""The one batched pass over images that every evaluation shares: scoring, encoding, losses.

Images stay uint8 until a batch reaches the device; sums stay on the device until the end, so a
pass costs one host sync. ``EVAL_BATCH`` is larger than any training batch: no gradients are kept.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import torch

from ..data import checksums, header_may_read, to_float
from ..errors import UsageError, shown
from ..models import eval_mode
from ..models.capabilities import capabilities
from ..noise import corrupt
from ..recipe import Noise, Recipe
from ..seeds import derive_seed
from .metrics import METRICS

LOGGER = logging.getLogger("zoo")

EVAL_BATCH = 1000  # images per forward pass when evaluating


def batches(images: torch.Tensor, device: torch.device, batch_size: int = EVAL_BATCH) -> Iterator[torch.Tensor]:
    """Float batches ``(n, 1, H, W)`` in [0, 1] on ``device`` of uint8 ``images`` ``(N, H, W)``."""
    for start in range(0, len(images), batch_size):
        yield to_float(images[start : start + batch_size].to(device))


def corrupted(noise: Optional[Noise], seed: int, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The inputs a model sees for clean ``target`` batches: the same or, with ``noise``, corrupted
    from a generator seeded once per pass (so a pass is a function of ``seed``)."""
    if noise is None:
        return lambda target: target
    g = torch.Generator(device=device).manual_seed(seed)
    return lambda target: corrupt(target, noise, g)


@torch.no_grad()
def score(
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    metrics: Sequence[str],
    *,
    device: torch.device,
    noise: Optional[Noise] = None,
    noise_seed: int = 0,
) -> Dict[str, float]:
    """Mean of each metric over ``images`` (uint8), reconstructing (corrupted) inputs batch by batch."""
    totals = {m: torch.zeros((), dtype=torch.float64, device=device) for m in metrics}
    inputs = corrupted(noise, noise_seed, device)
    for target in batches(images, device):
        recon = reconstruct(inputs(target))
        for m in metrics:
            totals[m] += METRICS[m].fn(recon, target).sum()
    return {m: float(v) / len(images) for m, v in totals.items()}


def mean_loss(model: torch.nn.Module, images: torch.Tensor, recipe: Recipe, purpose: str) -> float:
    """The recipe's loss, averaged over ``images`` in eval mode; any corruption is drawn from a
    generator seeded by the recipe's seed and ``purpose`` ("val", "test")."""
    device = device_of(model)
    inputs = corrupted(recipe.noise, derive_seed(recipe.seed, purpose), device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    with eval_mode(model):
        for target in batches(images, device):
            total += model.loss(inputs(target), target, kind=recipe.loss).loss.double() * len(target)
    return float(total) / len(images)


@torch.no_grad()
def encode_all(encode: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, device) -> torch.Tensor:
    """Codes of every image, float64, on ``device``."""
    return torch.cat([encode(x).double() for x in batches(images, device)])


@torch.no_grad()
def code_nll(model: torch.nn.Module, codes: torch.Tensor) -> float:
    """Mean -log p(codes) under a discrete-code model's prior (its ``prior_loss``), in nats per image, in eval mode."""
    with eval_mode(model):
        total = sum(float(model.prior_loss(chunk)) * len(chunk) for chunk in codes.split(EVAL_BATCH))
    return total / len(codes)


def continuous_view(model: torch.nn.Module) -> Tuple[Callable, Callable, str]:
    """(encode, decode, what it is) of the model's code as continuous vectors: the code itself, or for a model
    whose code is discrete (a VQ-VAE's codebook indices) its ``features`` (the indices' codebook vectors) and
    ``decode_features``: what the latent scatter, the linear probe and the interpolation read."""
    if capabilities(model).continuous_code:
        return model.encode, model.decode, "code"
    return model.features, model.decode_features, "code's codebook vectors"


def device_of(model: torch.nn.Module) -> torch.device:
    """Where ``model`` runs: ``Autoencoder.device``, else its first parameter's device, else the CPU."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def check_model(model: object, caller: str) -> None:
    """Refuse what is not an autoencoder (a torch.nn.Module with ``encode`` and ``decode``)."""
    if not isinstance(model, torch.nn.Module) or not all(callable(getattr(model, m, None)) for m in ("encode", "decode")):
        raise UsageError(f"{caller}() takes an autoencoder (a torch.nn.Module with encode and decode, as zoo.load "
                         f"returns); got {type(model).__name__}")


def model_dataset(model: torch.nn.Module, dataset: Optional[str], caller: str) -> str:
    """``dataset``, else the data set the model was trained on (models from zoo.load know it), where its
    weights file alone may make zoo read it (:func:`zoo.data.header_may_read`); warns once when that data
    is not the content the model was trained on."""
    if dataset is not None:
        return dataset
    entry = getattr(model, "entry", None)
    if entry is None:
        raise UsageError(f"{caller}() needs dataset= for a model that does not come from zoo.load")
    weights_file = getattr(model, "weights_file", None)
    if not header_may_read(entry.dataset, weights_file):
        raise UsageError(f"{shown(weights_file)} names the data set {shown(entry.dataset)}, which is not one you named "
                         f"(a registry file's \"datasets\", zoo train --dataset, or a path inside its folder); zoo reads "
                         f"no path that a weights file alone names: name it ({caller}(..., dataset=PATH), or "
                         f"zoo eval --dataset PATH)")
    _warn_if_changed(model, entry.dataset)
    return entry.dataset


_WARNED: set = set()


def _warn_if_changed(model: torch.nn.Module, dataset: str) -> None:
    trained_on = getattr(model, "trained_on", None)
    if not trained_on or (id(model), dataset) in _WARNED:
        return
    now = checksums(dataset)
    if now != trained_on:
        _WARNED.add((id(model), dataset))
        first = sorted(set(now) | set(trained_on))[0]
        LOGGER.warning(f"{dataset} is not the data {model.entry.name} was trained on: SHA-256 "
                       f"{str(trained_on.get(first))[:12]} then, {str(now.get(first))[:12]} now ({first})")
