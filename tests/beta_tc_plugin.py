"""A family and a network defined only in a plugin module (a registry file names it: "plugins":
["beta_tc_plugin"]), with no change under zoo/: the beta-TC-VAE (Chen et al. 2018) on a dense network of its own."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List

import torch
from torch import distributions as D
from torch import nn

import zoo
from zoo.models import LossOutput
from zoo.models.config import LatentVariableConfig
from zoo.models.vae import LatentVariableModel


@dataclass(frozen=True)
class BetaTCConfig(LatentVariableConfig):
    beta: float = 6.0  # weight of the total correlation of the aggregate posterior


@zoo.register_family("beta-tc-vae", BetaTCConfig)
class BetaTCVAE(LatentVariableModel):
    """The ELBO with (beta - 1) more weight on the total correlation, estimated by minibatch-weighted sampling."""

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        q = self.posterior(x)
        z = q.rsample() if self.training else q.mean
        log_px = self.likelihood(z).log_prob(target)
        normal = D.Normal(q.base_dist.loc.unsqueeze(0), q.base_dist.scale.unsqueeze(0))
        pairs = normal.log_prob(z.unsqueeze(1))  # (B, B, D): log q(z_i,d | x_j)
        log_n = math.log(len(z))
        log_qz = torch.logsumexp(pairs.sum(2), dim=1) - log_n
        log_qz_product = (torch.logsumexp(pairs, dim=1) - log_n).sum(1)
        kl = q.log_prob(z) - self.prior().log_prob(z)
        tc = log_qz - log_qz_product
        loss = (-log_px + kl + (self.config.beta - 1.0) * tc).mean() / self.input_dim
        return LossOutput(loss, {"recon": (-log_px.mean() / self.input_dim).detach(), "kl": kl.mean().detach(),
                                 "tc": tc.mean().detach()})


@dataclass(frozen=True)
class DenseConfig:
    widths: List[int] = field(default_factory=lambda: [96])


@zoo.register_network("dense-elu", DenseConfig)
class DenseELU(zoo.Network):
    """Linear layers with ELU after each, the decoder their mirror: the plainest network there is."""

    def encoder(self, image_shape):
        c, h, w = image_shape
        widths = [c * h * w, *self.config.widths]
        layers = [m for a, b in zip(widths[:-1], widths[1:]) for m in (nn.Linear(a, b), nn.ELU())]
        return zoo.EncoderBody(layers, widths[-1], flat_input=True)

    def decoder(self, latent_dim, image_shape, channels):
        _, h, w = image_shape
        widths = [latent_dim, *self.config.widths[::-1]]
        layers = [m for a, b in zip(widths[:-1], widths[1:]) for m in (nn.Linear(a, b), nn.ELU())]
        return [*layers, nn.Linear(widths[-1], channels * h * w), nn.Unflatten(1, (channels, h, w))]
