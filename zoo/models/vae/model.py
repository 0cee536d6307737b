"""Variational autoencoder (``"vae"``): Gaussian posterior, N(0, I) prior, a pixel likelihood (Bernoulli or a
discretized logistic for 8-bit pixels), reparameterised sampling, and ``beta`` on the KL term (beta-VAE).

The likelihood contract (every probabilistic model of zoo, and any estimator works from it alone):
``posterior(x)`` is q(z|x) and ``prior()`` p(z), each a ``torch.distributions.Distribution`` whose event is
the code (``latent_dim``); ``likelihood(z)`` is p(x|z), a Distribution whose event is the image (C, H, W), for
codes of any batch shape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import distributions as D
from torch import nn

from ...networks import Network
from ..base import Autoencoder, LossOutput, reconstruction_loss
from ..config import LatentVariableConfig, check_beta
from ..likelihoods import LIKELIHOODS, Bernoulli, binary_log_prob_, is_binary
from ..registry import register_family

LOG_2PI = math.log(2 * math.pi)


class LatentVariableModel(Autoencoder):
    """Base of the models with a likelihood: the network's encoder to a Gaussian q(z|x) (a Linear to the mean
    and log-variance), its decoder to the likelihood's parameters; subclasses choose the prior and the bound."""

    samplers = ("prior", "gmm")
    default_sampler = "prior"
    generative = True
    has_likelihood = True
    importance_weights = True

    def __init_subclass__(cls, **kwargs):
        """A subclass that redefines ``posterior`` or ``likelihood`` but not :meth:`importance_sampler` (whose
        draws and pixels are this class's Gaussian and decoder) declares no batched path: zoo.nll then reads its
        distributions; one that defines its own ``importance_sampler`` declares it (unless it sets
        ``importance_weights`` itself)."""
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "importance_weights" in own:  # declared
            return
        if "importance_sampler" in own:  # its own batched path
            cls.importance_weights = True
        elif {"posterior", "likelihood"} & set(own):
            cls.importance_weights = False

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
        return D.Independent(D.Normal(zeros, torch.ones_like(zeros), validate_args=False), 1, validate_args=False)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's outputs for codes ``z`` (..., latent_dim), shaped (..., channels, H, W) in float32: the
        Bernoulli logits, or the logistics' means and log-scales."""
        out = self.decoder(z.reshape(-1, z.shape[-1])).float()
        return out.reshape(*z.shape[:-1], *out.shape[1:])

    def likelihood(self, z: torch.Tensor) -> D.Distribution:
        """p(x|z), event the image (C, H, W): ``Independent(Bernoulli(logits=...), 3)`` or discretized logistics."""
        return self.pixels.distribution(self.logits(z))

    def log_px(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log p(target | z) per code, from the decoder's outputs by the likelihood's fused ``log_prob`` (the
        value of ``likelihood(z).log_prob(target)``, without building distribution objects)."""
        return self.pixels.log_prob(self.logits(z), target)

    def recon_nll(self, z: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
        """The reconstruction term per value: -log p(x|z) / (C*H*W) (``bce`` for Bernoulli pixels, taken from
        the logits), or the recipe's ``mse`` on the Bernoulli means."""
        if self.config.likelihood == "bernoulli" and kind != "bce":
            return reconstruction_loss(self.decode(z), target, kind)
        return -self.log_px(z, target).mean() / self.input_dim

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
        return self.log_px(z, target) + self.prior().log_prob(z) - q.log_prob(z)

    @torch.no_grad()
    def importance_sampler(self, x: torch.Tensor, *,
                           generator: Optional[torch.Generator] = None) -> Callable[[int], torch.Tensor]:
        """For images ``x`` (N, C, H, W): a function of K giving log p(x|z) + log p(z) - log q(z|x) for K draws
        z ~ q(z|x) per image from ``generator``, shape (K, N), float32: what :func:`zoo.nll` averages. The
        images are encoded once, however many draws follow. The value of the likelihood contract's
        ``likelihood(z).log_prob(x) + prior().log_prob(z) - posterior(x).log_prob(z)``, computed without
        distribution objects: the draws of an image side by side and decoded as one batch, log q from the
        standard normal draws themselves, and the pixels' log-probability fused (binary images: in place)."""
        mu, logvar = self.gaussian(x)
        mu, std = mu.unsqueeze(1), torch.exp(0.5 * logvar).unsqueeze(1)
        log_q_const = -0.5 * (logvar.sum(-1, keepdim=True) + self.latent_dim * LOG_2PI)
        binary, prior = self.pixels is Bernoulli and is_binary(x), self.prior()

        @torch.no_grad()
        def draw(samples: int) -> torch.Tensor:
            eps = torch.randn((len(x), samples, self.latent_dim), generator=generator, device=mu.device,
                              dtype=mu.dtype)
            z = torch.addcmul(mu, std, eps)  # (N, K, latent)
            log_px = binary_log_prob_(self.logits(z), x) if binary else None
            if log_px is None:  # grey pixels, an 8-bit likelihood, or a binary pixel's sigmoid underflowed
                log_px = self.pixels.log_prob(self.logits(z), x.unsqueeze(1))
            return (log_px + prior.log_prob(z) + (log_q_const - 0.5 * eps.pow(2).sum(-1)).neg()).T

        return draw

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
