"""What the families whose codes are pushed towards N(0, I) (wae, aae) share: sampling it, and drawing from it
reproducibly in training and in validation.

The papers weigh each penalty against the squared error summed over the pixels; zoo's reconstruction loss is
the mean over the pixels, so every penalty is divided by the pixels (C*H*W): the same balance, the same recipes.
"""
from __future__ import annotations

from typing import Optional

import torch


class PriorSampling:
    """For the families whose codes were trained towards N(0, I): draws from it, decoded."""

    samplers = ("prior", "gmm")
    default_sampler = "prior"
    generative = True

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` codes from the prior the codes were trained towards, N(0, I)."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` images decoded from prior draws."""
        return self.decode(self.sample_prior(n, generator))


def prior_draws(z: torch.Tensor, training: bool) -> torch.Tensor:
    """N(0, I) draws shaped like ``z``: from torch's global generator in training (saved with the run's state,
    so a resumed run draws the same), from a generator seeded 0 in eval mode (validation is deterministic)."""
    if training:
        return torch.randn(z.shape, device=z.device)
    return torch.randn(z.shape, device=z.device, generator=torch.Generator(device=z.device).manual_seed(0))
