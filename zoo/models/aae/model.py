"""A discriminator tells codes from N(0, I) draws, with an optimizer of its own; the autoencoder learns to
reconstruct and to fool it: two phases of the ``alternating`` objective."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch
import torch.nn.functional as F

from ...networks import Network
from ...networks.layers import check_widths, mlp_layers
from ...schema import require
from ..ae.model import CodeAutoencoder
from ..base import LossOutput, Phase, reconstruction_loss
from ..config import FamilyConfig
from ..priors import PriorSampling, prior_draws
from ..registry import register_family


@dataclass(frozen=True)
class AAEConfig(FamilyConfig):
    discriminator: List[int] = field(default_factory=lambda: [256, 256])  # its hidden widths
    adversarial_weight: float = 1.0  # of the fooling term, on the pixel-summed squared error

    def __post_init__(self):
        super().__post_init__()
        check_widths("discriminator", self.discriminator)
        require(self.adversarial_weight >= 0, "adversarial_weight", f"must be >= 0, got {self.adversarial_weight}")


@register_family("aae", AAEConfig)
class AAE(PriorSampling, CodeAutoencoder):
    """Two phases, each its own optimizer: the autoencoder (encoder and decoder: reconstruction plus the
    fooling term) and the discriminator (codes against N(0, I) draws)."""

    objective = "alternating"

    def __init__(self, config: AAEConfig, image_shape: Sequence[int], network: Network):
        super().__init__(config, image_shape, network)
        widths: List[int] = [config.latent_dim, *config.discriminator, 1]
        self.discriminator = mlp_layers(widths, "leaky_relu", None)

    def phases(self) -> List[Phase]:
        return [Phase("autoencoder", ("encoder", "decoder"), "loss"),
                Phase("discriminator", ("discriminator",), "discriminator_loss")]

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        z = self.encode(x)
        recon = reconstruction_loss(self.decode(z), target, kind)
        logits = self.discriminator(z).float()
        fool = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))  # non-saturating: -log D(E(x))
        loss = recon + self.config.adversarial_weight * fool / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "fool": fool.detach()})

    def discriminator_loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        """-log D(prior draw) - log (1 - D(code)): the codes held fixed, the draws from torch's global generator."""
        with torch.no_grad():
            z = self.encode(x)
        real = self.discriminator(prior_draws(z, self.training)).float()
        fake = self.discriminator(z).float()
        loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        accuracy = ((real > 0).float().mean() + (fake < 0).float().mean()) / 2
        return LossOutput(loss, {"accuracy": accuracy.detach()})
