"""The model contract every architecture follows, so the trainer never special-cases a model.

A model is built as ``cls(config, image_shape)``: ``image_shape`` is ``(C, H, W)`` of its data set
(``(1, 28, 28)`` for MNIST). Input: images ``(N, C, H, W)``, float32 in ``[0, 1]``. ``forward``
returns the reconstruction of that shape in ``[0, 1]``; ``encode`` gives ``(N, latent_dim)`` codes;
``decode`` maps codes back to images; ``loss`` returns a :class:`LossOutput` with the training loss
and its named parts.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..schema import require

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


@dataclass(frozen=True)
class Phase:
    """One loss of an ``alternating`` objective (:mod:`zoo.training.objectives`): ``name`` (its optimizer's
    name in the state and its logs), the model's submodules whose parameters it trains, and the model's method that gives its
    loss, called as ``method(inputs, target, kind=recipe.loss)`` and returning a ``LossOutput``."""

    name: str
    modules: Tuple[str, ...]
    loss: str = "loss"


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


def check_image_shape(image_shape: Sequence[int]) -> Tuple[int, int, int]:
    """``(C, H, W)`` with 1 or 3 channels and positive sizes, as a tuple of ints."""
    shape = tuple(int(v) for v in image_shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with C 1 or 3, got {tuple(image_shape)}")
    return shape  # type: ignore[return-value]


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


class Autoencoder(nn.Module):
    """Base class of every architecture, built-in or a user's (``zoo.register_model``).

    Subclasses call ``super().__init__(config, image_shape)``, build their layers from
    ``self.image_shape`` (``(C, H, W)``) and ``config``, and implement ``encode`` and ``decode``;
    ``forward`` and ``loss`` (mean reconstruction loss) come with the base. ``config`` is the
    architecture's config dataclass and must have ``latent_dim``.
    """

    architecture: str = ""
    objective: str = "single"  # what a training step does (zoo.training.objectives): "single", "alternating", a plugin's
    latent_dim: int

    def __init__(self, config: Any, image_shape: Sequence[int]):
        super().__init__()
        self.config = config
        self.image_shape = check_image_shape(image_shape)
        self.latent_dim = config.latent_dim
        require(0 < self.latent_dim <= self.input_dim, "latent_dim",
                f"a code of {self.latent_dim} is wider than the {self.input_dim}-pixel input; use at most {self.input_dim}")

    @property
    def input_dim(self) -> int:
        """Values per image: C * H * W."""
        c, h, w = self.image_shape
        return c * h * w

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
