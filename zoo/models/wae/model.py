"""Reconstruction plus lambda * MMD(codes, N(0, I)), with prior draws from torch's global generator."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...schema import require
from ..ae.model import CodeAutoencoder
from ..base import LossOutput, reconstruction_loss
from ..config import FamilyConfig
from ..priors import PriorSampling, prior_draws
from ..registry import register_family

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # the WAE paper's code: the kernel at several widths


@dataclass(frozen=True)
class WAEConfig(FamilyConfig):
    penalty: float = 10.0  # lambda: weight of the MMD to N(0, I), on the pixel-summed squared error (as in the paper)

    def __post_init__(self):
        super().__post_init__()
        require(self.penalty >= 0, "penalty", f"must be >= 0, got {self.penalty}")


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


@register_family("wae", WAEConfig)
class WAE(PriorSampling, CodeAutoencoder):
    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        z = self.encode(x)
        recon = reconstruction_loss(self.decode(z), target, kind)
        if len(z) < 2:
            return LossOutput(recon, {"recon": recon.detach(), "mmd": torch.zeros((), device=z.device)})
        mmd = imq_mmd(z.float(), prior_draws(z, self.training))
        loss = recon + self.config.penalty * mmd / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "mmd": mmd.detach()})
