"""Convolutional autoencoder (``"conv"``): stride-2 convolutions down, transposed convolutions up."""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn

from .architectures import register_model
from .base import Autoencoder, activation
from .configs import ConvConfig


def _down(size: int) -> int:
    return (size + 2 * 1 - 3) // 2 + 1  # 3x3 kernel, stride 2, padding 1


@register_model("conv", ConvConfig)
class ConvAutoencoder(Autoencoder):
    """Any H x W, C channels: each transposed conv lands exactly on the size its conv came from."""

    def __init__(self, config: ConvConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
        c, h, w = self.image_shape
        heights, widths = [h], [w]
        for _ in config.channels:
            heights.append(_down(heights[-1]))
            widths.append(_down(widths[-1]))
        chans = [c, *config.channels]
        enc: List[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), activation(config.activation)]
        self._bottom = (chans[-1], heights[-1], widths[-1])
        flat = chans[-1] * heights[-1] * widths[-1]
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, config.latent_dim))
        dec: List[nn.Module] = [nn.Linear(config.latent_dim, flat), activation(config.activation)]
        dec.append(nn.Unflatten(1, self._bottom))
        for i in range(len(config.channels), 0, -1):
            pad_h = heights[i - 1] - ((heights[i] - 1) * 2 - 2 + 3)  # 0 or 1: lands on the bigger size
            pad_w = widths[i - 1] - ((widths[i] - 1) * 2 - 2 + 3)
            dec.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 3, stride=2, padding=1, output_padding=(pad_h, pad_w)))
            dec.append(activation(config.activation) if i > 1 else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
