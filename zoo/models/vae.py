"""Variational autoencoder (``"vae"``): Gaussian posterior, N(0, I) prior, reparameterised sampling."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .architectures import register_model
from .base import Autoencoder, LossOutput, reconstruction_loss
from .configs import VAEConfig
from .mlp import mlp_layers


@register_model("vae", VAEConfig)
class VAE(Autoencoder):
    """``encode`` gives the posterior mean; ``forward`` decodes it (deterministic reconstruction)."""

    def __init__(self, config: VAEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
        widths = [self.input_dim, *config.hidden]
        body = mlp_layers(widths, config.activation, config.activation) if config.hidden else nn.Sequential()
        self.encoder = nn.Sequential(nn.Flatten(), body, nn.Linear(widths[-1], 2 * config.latent_dim))
        self.decoder = mlp_layers([config.latent_dim, *config.hidden[::-1], self.input_dim], config.activation, "sigmoid")

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        """Negative ELBO per value: recon + beta * KL / (C*H*W) (KL in nats per image, reported raw).

        In training mode z is sampled with the reparameterisation trick (from torch's global RNG);
        in eval mode z is the posterior mean, so validation is deterministic.
        """
        mu, logvar = (t.float() for t in self.posterior(x))  # float32 also under autocast (--amp)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        recon = reconstruction_loss(self.decode(z), target, kind)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        loss = recon + self.config.beta * kl / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "kl": kl.detach()})

    @torch.no_grad()
    def sample(self, n: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` images decoded from codes drawn from the prior."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)
