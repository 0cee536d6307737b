"""Config dataclasses the registry's ``kwargs`` are validated against (one per architecture)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import did_you_mean
from ..schema import require
from .base import ACTIVATIONS

MAX_WIDTH = 16384  # a typo like 100000 should fail validation, not exhaust memory


def _check_widths(hidden: List[int], latent_dim: int) -> None:
    for i, width in enumerate(hidden):
        require(0 < width <= MAX_WIDTH, f"hidden[{i}]", f"width must be 1..{MAX_WIDTH}, got {width}")
    require(latent_dim > 0, "latent_dim", f"must be a positive integer, got {latent_dim}")
    # the code's upper bound depends on the data's image size: Autoencoder.__init__ checks it


def _check_activation(key: str, name: Optional[str]) -> None:
    if name is None:
        return
    known = ", ".join(sorted(ACTIVATIONS))
    hint = did_you_mean(name, ACTIVATIONS)
    require(name in ACTIVATIONS, key, f"unknown activation {name!r}.{hint or ' Known: ' + known}")


@dataclass(frozen=True)
class MLPConfig:
    """Fully connected autoencoder: C*H*W -> hidden... -> latent_dim -> reversed(hidden) -> C*H*W."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)  # encoder widths; the decoder mirrors them
    activation: str = "relu"  # between hidden layers
    latent_activation: Optional[str] = None  # None: an unbounded (linear) code

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_activation("activation", self.activation)
        _check_activation("latent_activation", self.latent_activation)


@dataclass(frozen=True)
class CustomMLPConfig:
    """The hand-written MLP: own Linear/ReLU/sigmoid modules, unbounded code."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)


@dataclass(frozen=True)
class ConvConfig:
    """Convolutional autoencoder: stride-2 3x3 convolutions, a linear code, transposed convs back."""

    latent_dim: int
    channels: List[int] = field(default_factory=lambda: [32, 64])  # one stride-2 conv per entry
    activation: str = "relu"

    def __post_init__(self):
        require(1 <= len(self.channels) <= 3, "channels", f"needs 1 to 3 layers, got {len(self.channels)}")
        for i, c in enumerate(self.channels):
            require(0 < c <= 1024, f"channels[{i}]", f"must be 1..1024, got {c}")
        _check_widths([], self.latent_dim)
        _check_activation("activation", self.activation)


@dataclass(frozen=True)
class VAEConfig:
    """Variational MLP autoencoder with a Gaussian posterior and a standard normal prior."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)
    activation: str = "relu"
    beta: float = 1.0  # weight of the KL term (1.0: the evidence lower bound)

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_activation("activation", self.activation)
        require(self.beta >= 0, "beta", f"must be >= 0, got {self.beta}")


@dataclass(frozen=True)
class IWAEConfig:
    """Importance-weighted autoencoder (Burda et al. 2016): the VAE's networks trained on the K-sample bound."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)
    activation: str = "relu"
    samples: int = 5  # K, the importance samples per image in the training bound (1: the ELBO)

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_activation("activation", self.activation)
        require(1 <= self.samples <= 5000, "samples", f"must be 1..5000, got {self.samples}")


@dataclass(frozen=True)
class VampConfig:
    """VAE with the VampPrior (Tomczak & Welling 2018): p(z) a mixture of the posteriors of K learned pseudo-inputs."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)
    activation: str = "relu"
    pseudo_inputs: int = 500  # K, the mixture's components
    pseudo_init_mean: float = 0.05  # the pseudo-inputs start as N(mean, std^2) pixels (the paper's code)
    pseudo_init_std: float = 0.01
    beta: float = 1.0  # weight of the KL term

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_activation("activation", self.activation)
        require(1 <= self.pseudo_inputs <= 10_000, "pseudo_inputs", f"must be 1..10000, got {self.pseudo_inputs}")
        require(self.pseudo_init_std > 0, "pseudo_init_std", f"must be > 0, got {self.pseudo_init_std}")
        require(self.beta >= 0, "beta", f"must be >= 0, got {self.beta}")


@dataclass(frozen=True)
class WAEConfig:
    """Wasserstein autoencoder (Tolstikhin et al. 2018), MMD penalty with the inverse multiquadric kernel."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)
    activation: str = "relu"
    penalty: float = 10.0  # lambda: weight of the MMD to N(0, I), on the pixel-summed squared error (as in the paper)

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_activation("activation", self.activation)
        require(self.penalty >= 0, "penalty", f"must be >= 0, got {self.penalty}")


@dataclass(frozen=True)
class RAEConfig:
    """Regularised deterministic autoencoder (Ghosh et al. 2020): an L2 penalty on the code, and on the decoder
    its weights' squared norm (``"l2"``) or the squared gradient of its output with respect to the code (``"gp"``)."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)
    activation: str = "relu"
    variant: str = "l2"  # "l2": decoder weight decay; "gp": decoder gradient penalty
    code_weight: float = 1.0  # beta: of ||z||^2 / 2, on the pixel-summed squared error
    decoder_weight: float = 1e-7  # lambda: of the decoder regulariser, on the same scale

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_activation("activation", self.activation)
        require(self.variant in ("l2", "gp"), "variant", f'must be "l2" or "gp", got {self.variant!r}')
        require(self.code_weight >= 0, "code_weight", f"must be >= 0, got {self.code_weight}")
        require(self.decoder_weight >= 0, "decoder_weight", f"must be >= 0, got {self.decoder_weight}")


@dataclass(frozen=True)
class AAEConfig:
    """Adversarial autoencoder (Makhzani et al. 2016): a discriminator tells codes from N(0, I) draws, with an
    optimizer of its own; the autoencoder learns to reconstruct and to fool it."""

    latent_dim: int
    hidden: List[int] = field(default_factory=list)
    activation: str = "relu"
    discriminator: List[int] = field(default_factory=lambda: [256, 256])  # its hidden widths
    adversarial_weight: float = 1.0  # of the fooling term, on the pixel-summed squared error

    def __post_init__(self):
        _check_widths(self.hidden, self.latent_dim)
        _check_widths(self.discriminator, self.latent_dim)
        _check_activation("activation", self.activation)
        require(self.adversarial_weight >= 0, "adversarial_weight", f"must be >= 0, got {self.adversarial_weight}")


@dataclass(frozen=True)
class VQVAEConfig:
    """VQ-VAE (van den Oord et al. 2017): a convolutional encoder to an (H/4) x (W/4) grid of vectors, each
    replaced by the nearest of ``codebook_size`` codebook vectors, and a convolutional decoder; the codebook
    follows the encoder by exponential moving averages. ``latent_dim`` is the grid's positions (49 for 28 x 28):
    the code ``encode`` gives is one codebook index per position. A PixelCNN over the index grid is its prior."""

    latent_dim: int  # (H/4) * (W/4): checked against the image size by the model
    channels: int = 64  # of the encoder's and decoder's convolutions
    residual_layers: int = 2  # residual 3x3-1x1 blocks after the encoder's and before the decoder's strided convs
    embedding_dim: int = 16  # D: of each codebook vector
    codebook_size: int = 128  # K
    commitment_cost: float = 0.25  # beta: of |z_e - sg(e)|^2
    decay: float = 0.99  # of the codebook's moving averages
    restart_below: float = 1.0  # a code whose moving-average use falls below this (per batch) restarts at an encoder output
    prior_channels: int = 32  # of the PixelCNN prior's gated layers
    prior_layers: int = 6  # gated layers: the first a 5x5 mask-A layer, then 3x3 mask-B layers (6 see all of a 7x7 grid)

    def __post_init__(self):
        _check_widths([self.channels, self.embedding_dim, self.prior_channels], self.latent_dim)
        require(0 <= self.residual_layers <= 16, "residual_layers", f"must be 0..16, got {self.residual_layers}")
        require(2 <= self.codebook_size <= 65536, "codebook_size", f"must be 2..65536, got {self.codebook_size}")
        require(self.commitment_cost >= 0, "commitment_cost", f"must be >= 0, got {self.commitment_cost}")
        require(0 < self.decay < 1, "decay", f"must be in (0, 1), got {self.decay}")
        require(self.restart_below >= 0, "restart_below", f"must be >= 0, got {self.restart_below}")
        require(1 <= self.prior_layers <= 32, "prior_layers", f"must be 1..32, got {self.prior_layers}")
