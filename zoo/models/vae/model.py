"""Variational autoencoder (``"vae"``): Gaussian posterior, N(0, I) prior, a pixel likelihood (Bernoulli or a
discretized logistic for 8-bit pixels), reparameterised sampling, and ``beta`` on the KL term (beta-VAE).

The likelihood contract (every probabilistic model of zoo, and any estimator works from it alone):
``posterior(x)`` is q(z|x) and ``prior()`` p(z), each a ``torch.distributions.Distribution`` whose event is
the code (``latent_dim``); ``likelihood(z)`` is p(x|z), a Distribution whose event is the image (C, H, W), for
codes of any batch shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import distributions as D
from torch import nn

from ...networks import Network
from ..base import Autoencoder, LossOutput, reconstruction_loss
from ..config import LatentVariableConfig, check_beta
from ..likelihoods import LIKELIHOODS
from ..registry import register_family


class LatentVariableModel(Autoencoder):
    """Base of the models with a likelihood: the network's encoder to a Gaussian q(z|x) (a Linear to the mean
    and log-variance), its decoder to the likelihood's parameters; subclasses choose the prior and the bound."""

    samplers = ("prior", "gmm")
    default_sampler = "prior"
    generative = True
    has_likelihood = True

    def __init__(self, config, image_shape: Sequence[int], network: Network):
        super().__init__(config, image_shape, network)
        self.pixels = LIKELIHOODS[config.likelihood]
        self.sigmoid_output = config.likelihood == "bernoulli"
        self.pixel_likelihood = config.likelihood
        self.encoder = self.encoder_on(network, lambda width: [nn.Linear(width, 2 * config.latent_dim)])
        self.decoder = self.decoder_on(network, self.image_shape[0] * self.pixels.channels)

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
        """The decoder's outputs for codes ``z`` (..., latent_dim), shaped (..., channels, H, W) in float32: the
        Bernoulli logits, or the logistics' means and log-scales."""
        out = self.decoder(z.reshape(-1, z.shape[-1])).float()
        return out.reshape(*z.shape[:-1], *out.shape[1:])

    def likelihood(self, z: torch.Tensor) -> D.Distribution:
        """p(x|z), event the image (C, H, W): ``Independent(Bernoulli(logits=...), 3)`` or discretized logistics."""
        return self.pixels.distribution(self.logits(z))

    def recon_nll(self, z: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
        """The reconstruction term per value: the recipe's loss (``bce``: -log p(x|z) / (C*H*W) for Bernoulli
        pixels), or -log p(x|z) / (C*H*W) of the 8-bit likelihood."""
        if self.config.likelihood == "bernoulli":
            return reconstruction_loss(self.decode(z), target, kind)
        return -self.likelihood(z).log_prob(target).mean() / self.input_dim

    # ------------------------------------------------------------------ the autoencoder contract
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.gaussian(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.pixels.mean(self.decoder(z))

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
        """``n`` images: the likelihood's means decoded from codes drawn from the prior."""
        return self.decode(self.sample_prior(n, generator))


@dataclass(frozen=True)
class VAEConfig(LatentVariableConfig):
    beta: float = 1.0  # weight of the KL term (1.0: the evidence lower bound)

    def __post_init__(self):
        super().__post_init__()
        check_beta(self.beta)


@register_family("vae", VAEConfig)
class VAE(LatentVariableModel):
    """``encode`` gives the posterior mean; ``forward`` decodes it (deterministic reconstruction)."""

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        """Negative ELBO per value: recon + beta * KL / (C*H*W) (KL in nats per image, reported raw).

        In training mode z is sampled with the reparameterisation trick (from torch's global RNG);
        in eval mode z is the posterior mean, so validation is deterministic.
        """
        mu, logvar = self.gaussian(x)  # float32 also under autocast (--amp)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        recon = self.recon_nll(z, target, kind)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        loss = recon + self.config.beta * kl / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "kl": kl.detach()})
