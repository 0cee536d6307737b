"""The importance-weighted autoencoder: the VAE's networks trained on the K-sample bound, in nats per image,
divided by the pixels (C*H*W) like every zoo loss."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...schema import require
from ..base import LossOutput
from ..config import LatentVariableConfig
from ..registry import register_family
from ..vae import LatentVariableModel


@dataclass(frozen=True)
class IWAEConfig(LatentVariableConfig):
    samples: int = 5  # K, the importance samples per image in the training bound (1: the ELBO)

    def __post_init__(self):
        super().__post_init__()
        require(1 <= self.samples <= 5000, "samples", f"must be 1..5000, got {self.samples}")


@register_family("iwae", IWAEConfig)
class IWAE(LatentVariableModel):
    """Trained on log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x): tighter than the ELBO for K > 1."""

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "bce") -> LossOutput:
        k = self.config.samples if self.training else 1
        log_w = self.log_weights(x, target, k)  # (K, N)
        bound = torch.logsumexp(log_w, dim=0) - math.log(k)
        loss = -bound.mean() / self.input_dim
        return LossOutput(loss, {"bound": bound.mean().detach(), "ess": ess(log_w).detach()})


def ess(log_w: torch.Tensor) -> torch.Tensor:
    """Mean effective sample size of the importance weights (1 to K): how many samples carry the bound."""
    w = torch.softmax(log_w.detach(), dim=0)
    return (1.0 / w.pow(2).sum(dim=0)).mean()
