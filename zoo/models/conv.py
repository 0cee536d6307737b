"""Convolutional autoencoder (``"conv"``): stride-2 convolutions down, transposed convolutions up."""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from .architectures import register_model
from .base import IMAGE_SHAPE, Autoencoder, activation
from .configs import ConvConfig


def _down(size: int) -> int:
    return (size + 2 * 1 - 3) // 2 + 1  # 3x3 kernel, stride 2, padding 1


@register_model("conv", ConvConfig)
class ConvAutoencoder(Autoencoder):
    def __init__(self, config: ConvConfig):
        super().__init__(config)
        sizes = [IMAGE_SHAPE[1]]
        for _ in config.channels:
            sizes.append(_down(sizes[-1]))
        chans = [IMAGE_SHAPE[0], *config.channels]
        enc: List[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), activation(config.activation)]
        self._bottom = (chans[-1], sizes[-1], sizes[-1])
        flat = chans[-1] * sizes[-1] ** 2
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, config.latent_dim))
        dec: List[nn.Module] = [nn.Linear(config.latent_dim, flat), activation(config.activation)]
        dec.append(nn.Unflatten(1, self._bottom))
        for i in range(len(config.channels), 0, -1):
            small, big = sizes[i], sizes[i - 1]
            pad_out = big - ((small - 1) * 2 - 2 + 3)  # make the transposed conv land on `big`
            dec.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 3, stride=2, padding=1, output_padding=pad_out))
            dec.append(activation(config.activation) if i > 1 else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
