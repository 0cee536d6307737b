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
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..networks import Network, Stack
from ..networks.layers import ACTIVATIONS, activation  # noqa: F401  (re-exported: families name activations)
from ..schema import require

LOSSES = ("mse", "bce")


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


class Autoencoder(nn.Module):
    """Base of every family, built-in or a user's (``zoo.register_family`` / ``zoo.register_model``).

    A family on a network is built as ``cls(config, image_shape, network)``: it takes the network's bodies
    (:meth:`encoder_on`, :meth:`decoder_on`) and adds its heads. A family registered with ``register_model``
    (no network) is built as ``cls(config, image_shape)`` and builds every layer itself. Subclasses call
    ``super().__init__``, then implement ``encode`` and ``decode``; ``forward`` and ``loss`` (mean
    reconstruction loss) come with the base. ``config`` is the family's config dataclass, with ``latent_dim``.

    What a family can do beyond encoding and decoding it declares (``zoo.models.capabilities``): the class
    attributes below, and the methods of the protocols it implements.
    """

    family: str = ""
    objective: str = "single"  # what a training step does (zoo.training.objectives): "single", "alternating", a plugin's
    latent_dim: int
    # ---- declared capabilities (zoo.models.capabilities reads these; nothing probes a model for them)
    samplers: Tuple[str, ...] = ("gmm",)  # how it can generate: "prior" (its sample_prior), "gmm" (a mixture fitted to its codes)
    default_sampler: str = "gmm"  # the sampler zoo sample uses unless told
    has_likelihood: bool = False  # posterior(x), prior() and likelihood(z) as torch.distributions (zoo.nll)
    importance_weights: bool = False  # importance_sampler(x, generator=): zoo.nll's batched path
    pixel_likelihood: Optional[str] = None  # what its likelihood models: "bernoulli" (binary pixels), "logistic" (8-bit)
    generative: bool = False  # generating is what it was trained for (cards and zoo compare measure its samples)
    code_kind: str = "continuous"  # "continuous", or what a discrete code is ("codebook indices")
    sigmoid_output: bool = False  # decode is the sigmoid of the decoder's last layer (RBM pretraining, the report's explorer)
    code_prior: bool = False  # a prior over its discrete codes, trained after it (recipe.prior): prior_loss(codes)
    # ---- the networks it builds on (register_family; register_model sets network_kind None)
    network_kind: Optional[str] = "vector"  # "vector": any network; "grid": one keeping a spatial grid; None: its own layers
    networks: Optional[Tuple[str, ...]] = None  # None: every network of its kind; else only these keys
    default_network: str = "mlp"  # the network of an entry that names none

    def __init__(self, config: Any, image_shape: Sequence[int], network: Optional[Network] = None):
        super().__init__()
        self.config = config
        self.image_shape = check_image_shape(image_shape)
        if config.latent_dim is not None:  # None: the family derives it from the network (vq-vae's grid)
            self.set_latent_dim(config.latent_dim)

    def set_latent_dim(self, latent_dim: int) -> None:
        """The code size, checked against the image: a code no wider than the input."""
        self.latent_dim = latent_dim
        require(0 < self.latent_dim <= self.input_dim, "latent_dim",
                f"a code of {self.latent_dim} is wider than the {self.input_dim}-pixel input; use at most {self.input_dim}")

    # ------------------------------------------------------------------ building on a network
    def encoder_on(self, network: Network, head: Callable[[int], List[nn.Module]]) -> Stack:
        """The network's encoder body with the family's ``head`` (called with the body's feature count)
        after it, in one Sequential: images to the family's code parameters."""
        body = network.encoder(self.image_shape)
        return Stack(*body.layers, *head(body.features), flat_input=body.flat_input)

    def decoder_on(self, network: Network, channels: int) -> nn.Sequential:
        """The network's decoder: codes (N, latent_dim) to unbounded outputs (N, channels, H, W)."""
        return nn.Sequential(*network.decoder(self.latent_dim, self.image_shape, channels))

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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous view of the code (N, F) that the latent scatter projects, the linear probe reads and
        the interpolation walks: the code itself, unless the code is discrete (vq-vae: its codebook vectors)."""
        return self.encode(x)

    def decode_features(self, f: torch.Tensor) -> torch.Tensor:
        """Images from the continuous view of the code, as :meth:`features` gives it."""
        return self.decode(f)

    def trained_parameters(self) -> Iterator[nn.Parameter]:
        """What the training stage's optimizer trains: every parameter, unless a family says otherwise (the
        vq-vae leaves its code prior to the prior stage)."""
        return self.parameters()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (CPU for a model without any)."""
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")
