"""The deterministic autoencoder on any network: a linear code head, a sigmoid image."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from ...networks import Network
from ...networks.layers import activation, check_activation
from ..base import Autoencoder
from ..config import FamilyConfig
from ..registry import register_family


@dataclass(frozen=True)
class AEConfig(FamilyConfig):
    latent_activation: Optional[str] = None  # None: an unbounded (linear) code

    def __post_init__(self):
        super().__post_init__()
        check_activation("latent_activation", self.latent_activation)


class CodeAutoencoder(Autoencoder):
    """The network's encoder body with a Linear to the code (and ``latent_activation`` where the config has
    one), its decoder to one value per pixel, a sigmoid image. The base of the ae, wae, rae and aae families."""

    sigmoid_output = True  # decode applies the sigmoid to the decoder's last layer (what RBM pretraining unrolls into)

    def __init__(self, config, image_shape: Sequence[int], network: Network):
        super().__init__(config, image_shape, network)
        last = getattr(config, "latent_activation", None)
        self.encoder = self.encoder_on(
            network, lambda width: [nn.Linear(width, config.latent_dim), *([activation(last)] if last else [])])
        self.decoder = self.decoder_on(network, self.image_shape[0])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


@register_family("ae", AEConfig)
class AE(CodeAutoencoder):
    """Trained on the reconstruction loss alone (``recipe.loss``: mse or bce)."""

    # samples only through a mixture fitted to its codes, when asked: the base's samplers, not generative
