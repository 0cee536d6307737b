"""Deterministic autoencoders whose codes are pushed towards a distribution they can be sampled from:
``wae`` (an MMD penalty to N(0, I)), ``rae`` (a small code and a smooth decoder; sampled through a density
fitted to its codes afterwards) and ``aae`` (a discriminator on codes, trained by a second optimizer).

The papers weigh each penalty against the squared error summed over the pixels; zoo's reconstruction loss
is the mean over the pixels, so every penalty is divided by the pixels (C*H*W): the same balance, the
same recipes.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from .architectures import register_model
from .base import Autoencoder, LossOutput, Phase, reconstruction_loss
from .configs import AAEConfig, RAEConfig, WAEConfig
from .mlp import mlp_layers

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # the WAE paper's code: the kernel at several widths


class MLPCoder(Autoencoder):
    """An MLP encoder to an unbounded code and its mirror to a sigmoid output, shared by these families."""

    def __init__(self, config, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
        widths = [self.input_dim, *config.hidden, config.latent_dim]
        self.encoder = mlp_layers(widths, config.activation, None)
        self.decoder = mlp_layers(widths[::-1], config.activation, "sigmoid")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)


class PriorSampling:
    """For the families whose codes were trained towards N(0, I): draws from it, decoded."""

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` codes from the prior the codes were trained towards, N(0, I)."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` images decoded from prior draws."""
        return self.decode(self.sample_prior(n, generator))


def imq_mmd(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 between the codes ``z`` and draws ``prior`` (both (N, D)) with the inverse multiquadric
    kernel k(x, y) = C / (C + |x - y|^2), summed over C = s * 2D (2D: the kernel's width for N(0, I))."""
    n, d = z.shape
    zz, pp, zp = torch.cdist(z, z).pow(2), torch.cdist(prior, prior).pow(2), torch.cdist(z, prior).pow(2)
    off = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    total = z.new_zeros(())
    for s in IMQ_SCALES:
        c = 2.0 * d * s
        same = (c / (c + zz) * off).sum() + (c / (c + pp) * off).sum()
        total = total + same / (n * (n - 1)) - 2.0 * (c / (c + zp)).mean()
    return total


def prior_draws(z: torch.Tensor, training: bool) -> torch.Tensor:
    """N(0, I) draws shaped like ``z``: from torch's global generator in training (saved with the run's state,
    so a resumed run draws the same), from a generator seeded 0 in eval mode (validation is deterministic)."""
    if training:
        return torch.randn(z.shape, device=z.device)
    return torch.randn(z.shape, device=z.device, generator=torch.Generator(device=z.device).manual_seed(0))


@register_model("wae", WAEConfig)
class WAE(PriorSampling, MLPCoder):
    """Reconstruction plus lambda * MMD(codes, N(0, I)), with prior draws from torch's global generator."""

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        z = self.encode(x)
        recon = reconstruction_loss(self.decode(z), target, kind)
        if len(z) < 2:
            return LossOutput(recon, {"recon": recon.detach(), "mmd": torch.zeros((), device=z.device)})
        mmd = imq_mmd(z.float(), prior_draws(z, self.training))
        loss = recon + self.config.penalty * mmd / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "mmd": mmd.detach()})


@register_model("rae", RAEConfig)
class RAE(MLPCoder):
    """Reconstruction plus beta * |z|^2 / 2 plus lambda * (decoder weights' |w|^2, or |d decoder / d z|^2).
    It has no prior: it samples through a density fitted to its training codes (``zoo sample --sampler gmm``)."""

    default_sampler = "gmm"

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        z = self.encode(x)
        recon_x = self.decode(z)
        recon = reconstruction_loss(recon_x, target, kind)
        code = 0.5 * z.float().pow(2).sum(dim=1).mean()
        if self.config.variant == "l2":
            reg = sum(p.pow(2).sum() for name, p in self.decoder.named_parameters() if name.endswith("weight"))
        elif z.requires_grad:  # training: the decoder's gradient with respect to the code, kept in the graph (pythae's)
            (grad,) = torch.autograd.grad(recon_x.sum(), z, create_graph=True)
            reg = grad.pow(2).sum(dim=1).mean()
        else:
            reg = torch.zeros((), device=z.device)
        loss = recon + (self.config.code_weight * code + self.config.decoder_weight * reg) / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "code": code.detach(), "decoder_reg": reg.detach()})


@register_model("aae", AAEConfig)
class AAE(PriorSampling, MLPCoder):
    """Two phases of the ``alternating`` objective, each its own optimizer: the autoencoder (encoder and
    decoder: reconstruction plus the fooling term) and the discriminator (codes against N(0, I) draws)."""

    objective = "alternating"

    def __init__(self, config: AAEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
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
