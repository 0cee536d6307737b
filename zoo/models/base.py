"""The model contract every architecture follows, so the trainer never special-cases a model.

Input: images ``(N, 1, 28, 28)``, float32 in ``[0, 1]``. ``forward`` returns the reconstruction
of that shape in ``[0, 1]``; ``encode`` gives ``(N, latent_dim)`` codes; ``decode`` maps codes back
to images; ``loss`` returns a :class:`LossOutput` with the training loss and its named parts.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
INPUT_DIM = 28 * 28
LOSSES = ("mse", "bce")
ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


@dataclass
class LossOutput:
    """``loss`` is what the optimizer minimises; ``parts`` are its named components (detached)."""

    loss: torch.Tensor
    parts: Dict[str, torch.Tensor] = field(default_factory=dict)


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean per-pixel reconstruction loss: ``"mse"`` or ``"bce"`` (binary cross-entropy).

    Always taken in float32, also when autocast (``--amp``) made ``recon`` bf16: binary cross-entropy
    is not safe to autocast, and a mean over 784 pixels in bf16 would lose digits.
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; expected one of {', '.join(LOSSES)}")
    if _autocasting(recon.device.type):
        with torch.autocast(recon.device.type, enabled=False):
            return reconstruction_loss(recon.float(), target.float(), kind)
    return F.mse_loss(recon, target) if kind == "mse" else F.binary_cross_entropy(recon, target)


def _autocasting(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no device type
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block in eval mode without gradients, then put back the mode the model had."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


class Autoencoder(nn.Module):
    """Base class: subclasses set ``latent_dim`` and implement ``encode`` and ``decode``."""

    architecture: str = ""
    latent_dim: int

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.latent_dim = config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        """Reconstruction loss of ``x`` against ``target`` (they differ when denoising)."""
        recon = reconstruction_loss(self(x), target, kind)
        return LossOutput(recon, {"recon": recon.detach()})

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (CPU for a model without any)."""
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")
