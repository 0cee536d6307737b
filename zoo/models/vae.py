"""Variational autoencoder (``"vae"``): Gaussian posterior, N(0, I) prior, Bernoulli likelihood, reparameterised
sampling, and ``beta`` on the KL term (beta-VAE).

The likelihood contract (every probabilistic model of zoo, and any estimator works from it alone):
``posterior(x)`` is q(z|x) and ``prior()`` p(z), each a ``torch.distributions.Distribution`` whose event is
the code (``latent_dim``); ``likelihood(z)`` is p(x|z), a Distribution whose event is the image
(``Independent(Bernoulli(logits=...), 3)``), for codes of any batch shape.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import distributions as D
from torch import nn

from .architectures import register_model
from .base import Autoencoder, LossOutput, reconstruction_loss
from .configs import VAEConfig
from .mlp import mlp_layers


class LatentVariableModel(Autoencoder):
    """Base of the models with a likelihood: an MLP encoder to a Gaussian q(z|x), an MLP decoder to
    Bernoulli logits; subclasses choose the prior and the training bound."""

    def __init__(self, config, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
        widths = [self.input_dim, *config.hidden]
        body = mlp_layers(widths, config.activation, config.activation) if config.hidden else nn.Sequential()
        self.encoder = nn.Sequential(nn.Flatten(), body, nn.Linear(widths[-1], 2 * config.latent_dim))
        self.decoder = mlp_layers([config.latent_dim, *config.hidden[::-1], self.input_dim], config.activation, "sigmoid")

    # ------------------------------------------------------------------ the likelihood contract
    def gaussian(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), in float32 (also under autocast)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu.float(), logvar.float()

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """q(z|x): ``Independent(Normal(mu, sigma), 1)``, batch shape (N,), event (latent_dim,)."""
        mu, logvar = self.gaussian(x)
        return D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1)

    def prior(self) -> D.Distribution:
        """p(z): N(0, I) over the code."""
        zeros = torch.zeros(self.latent_dim, device=self.device)
        return D.Independent(D.Normal(zeros, torch.ones_like(zeros)), 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's Bernoulli logits for codes ``z`` (..., latent_dim), shaped (..., C, H, W)."""
        return self.decoder[:-1](z).float().reshape(*z.shape[:-1], *self.image_shape)

    def likelihood(self, z: torch.Tensor) -> D.Distribution:
        """p(x|z): ``Independent(Bernoulli(logits=...), 3)``, event the image (C, H, W)."""
        return D.Independent(D.Bernoulli(logits=self.logits(z), validate_args=False), 3)

    # ------------------------------------------------------------------ the autoencoder contract
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.gaussian(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)

    def log_weights(self, x: torch.Tensor, target: torch.Tensor, samples: int) -> torch.Tensor:
        """log p(target|z) + log p(z) - log q(z|x) for ``samples`` draws z ~ q(z|x) (reparameterised, from
        torch's global generator) per image, shape (samples, N); in eval mode the posterior mean, once."""
        q = self.posterior(x)
        z = q.rsample((samples,)) if self.training else q.mean.unsqueeze(0)
        return self.likelihood(z).log_prob(target) + self.prior().log_prob(z) - q.log_prob(z)

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` codes drawn from the prior (here N(0, I)) with ``generator``."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` images: the Bernoulli means decoded from codes drawn from the prior."""
        return self.decode(self.sample_prior(n, generator))


@register_model("vae", VAEConfig)
class VAE(LatentVariableModel):
    """``encode`` gives the posterior mean; ``forward`` decodes it (deterministic reconstruction)."""

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        """Negative ELBO per value: recon + beta * KL / (C*H*W) (KL in nats per image, reported raw).

        In training mode z is sampled with the reparameterisation trick (from torch's global RNG);
        in eval mode z is the posterior mean, so validation is deterministic.
        """
        mu, logvar = self.gaussian(x)  # float32 also under autocast (--amp)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        recon = reconstruction_loss(self.decode(z), target, kind)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        loss = recon + self.config.beta * kl / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "kl": kl.detach()})
