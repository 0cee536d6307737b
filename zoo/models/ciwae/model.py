"""CIWAE (Rainforth et al. 2018, "Tighter variational bounds are not necessarily better"): the VAE's networks
trained on beta * ELBO + (1 - beta) * the K-sample IWAE bound, both from the same K draws, so that the encoder
keeps the ELBO's gradient signal that the IWAE bound alone loses as K grows. In nats per image, divided by the
pixels (C*H*W) like every zoo loss."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...schema import require
from ..base import LossOutput
from ..iwae.model import IWAEConfig, ess
from ..registry import register_family
from ..vae import LatentVariableModel


@dataclass(frozen=True)
class CIWAEConfig(IWAEConfig):
    """The IWAE's settings (its check of ``samples`` included), with pythae's K and the mix's ``beta``."""

    samples: int = 10  # K, the importance samples per image (pythae's default)
    beta: float = 0.5  # weight of the ELBO; 1 - beta that of the IWAE bound (the paper's best: 0.05 for K = 64)

    def __post_init__(self):
        super().__post_init__()
        require(0.0 <= self.beta <= 1.0, "beta", f"must be in [0, 1], got {self.beta}")


@register_family("ciwae", CIWAEConfig)
class CIWAE(LatentVariableModel):
    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        k = self.config.samples if self.training else 1
        log_w = self.log_weights(x, target, k)  # (K, N)
        elbo = log_w.mean(dim=0)
        iwae = torch.logsumexp(log_w, dim=0) - math.log(k)
        bound = self.config.beta * elbo + (1.0 - self.config.beta) * iwae
        loss = -bound.mean() / self.input_dim
        return LossOutput(loss, {"bound": bound.mean().detach(), "elbo": elbo.mean().detach(),
                                 "iwae": iwae.mean().detach(), "ess": ess(log_w).detach()})
