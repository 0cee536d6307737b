"""The VampPrior: p(z) a mixture of the posteriors of K learned pseudo-inputs; the loss is the negative ELBO
per value with the KL term estimated by the sample."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import distributions as D
from torch import nn

from ...networks import Network
from ...schema import require
from ..base import LossOutput
from ..config import LatentVariableConfig, check_beta
from ..registry import register_family
from ..vae import LatentVariableModel


@dataclass(frozen=True)
class VampConfig(LatentVariableConfig):
    pseudo_inputs: int = 500  # K, the mixture's components
    pseudo_init_mean: float = 0.05  # the pseudo-inputs start as N(mean, std^2) pixels (the paper's code)
    pseudo_init_std: float = 0.01
    beta: float = 1.0  # weight of the KL term

    def __post_init__(self):
        super().__post_init__()
        require(1 <= self.pseudo_inputs <= 10_000, "pseudo_inputs", f"must be 1..10000, got {self.pseudo_inputs}")
        require(self.pseudo_init_std > 0, "pseudo_init_std", f"must be > 0, got {self.pseudo_init_std}")
        check_beta(self.beta)


class GaussianMixture(D.MixtureSameFamily):
    """A mixture of diagonal Gaussians whose ``log_prob`` takes the K components' squared distances as two
    matrix products (torch's generic one broadcasts (N, K, D) tensors: 15x slower for the VampPrior's 500)."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        normal = self.component_distribution.base_dist
        mu, var = normal.loc, normal.scale.pow(2)  # (K, D)
        flat = z.reshape(-1, z.shape[-1])
        inv = 1.0 / var
        sq = flat.pow(2) @ inv.T - 2 * flat @ (mu * inv).T + (mu.pow(2) * inv).sum(-1)  # (M, K)
        log_norm = -0.5 * (var.log().sum(-1) + z.shape[-1] * math.log(2 * math.pi))  # (K,)
        log_mix = torch.log_softmax(self.mixture_distribution.logits, dim=-1)
        out = torch.logsumexp(log_mix + log_norm - 0.5 * sq, dim=-1)
        return out.reshape(z.shape[:-1])


@register_family("vamp", VampConfig)
class VampVAE(LatentVariableModel):
    """p(z) = (1/K) sum_k q(z | u_k): the posteriors of K pseudo-inputs u_k, learned with the rest."""

    def __init__(self, config: VampConfig, image_shape: Sequence[int], network: Network):
        super().__init__(config, image_shape, network)
        self.pseudo = nn.Linear(config.pseudo_inputs, self.input_dim, bias=False)  # u_k = hardtanh(W e_k)
        nn.init.normal_(self.pseudo.weight, config.pseudo_init_mean, config.pseudo_init_std)

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs as images (K, C, H, W), pixels in [0, 1]."""
        return torch.nn.functional.hardtanh(self.pseudo.weight.T, 0.0, 1.0).view(-1, *self.image_shape)

    def prior(self) -> D.Distribution:
        """p(z): ``MixtureSameFamily`` of the K pseudo-inputs' Gaussian posteriors, equally weighted."""
        mu, logvar = self.gaussian(self.pseudo_inputs())
        mix = D.Categorical(logits=torch.zeros(len(mu), device=mu.device))
        return GaussianMixture(mix, D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1))

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        mu, logvar = self.gaussian(self.pseudo_inputs())
        pick = torch.randint(0, len(mu), (n,), generator=generator, device=self.device)
        return mu[pick] + torch.exp(0.5 * logvar[pick]) * torch.randn(n, self.latent_dim, generator=generator,
                                                                       device=self.device)

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        """Negative ELBO with the KL term estimated by the sample (no closed form for a mixture prior)."""
        q = self.posterior(x)
        z = q.rsample() if self.training else q.mean
        log_px = self.log_px(z, target)
        kl = q.log_prob(z) - self.prior().log_prob(z)
        loss = (-log_px + self.config.beta * kl).mean() / self.input_dim
        return LossOutput(loss, {"recon": (-log_px.mean() / self.input_dim).detach(), "kl": kl.mean().detach()})
