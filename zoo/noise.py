"""Input corruption for denoising autoencoders, done on the images' device from a seeded generator."""
from __future__ import annotations

import torch

from .recipe import Noise


def corrupt(x: torch.Tensor, noise: Noise, generator: torch.Generator) -> torch.Tensor:
    """A corrupted copy of ``x`` (floats in [0, 1]); ``generator`` must live on ``x``'s device."""
    if noise.type == "gaussian":
        std = noise.std
        if noise.std_min is not None:  # one level per image, uniform in [std_min, std]
            u = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=generator, device=x.device, dtype=x.dtype)
            std = noise.std_min + (noise.std - noise.std_min) * u
        noisy = x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return noisy.clamp_(0, 1) if noise.clip else noisy
    draw = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if noise.type == "masking":  # zero each pixel with probability p
        return x.masked_fill(draw < noise.p, 0.0)
    if noise.type == "salt_pepper":  # p/2 to black, p/2 to white
        out = x.masked_fill(draw < noise.p / 2, 0.0)
        return out.masked_fill((draw >= noise.p / 2) & (draw < noise.p), 1.0)
    raise ValueError(f"unknown noise type {noise.type!r}")
