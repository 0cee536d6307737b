"""``resnet``: stride-2 4x4 convolutions, then residual blocks at the bottom; the decoder mirrors it with
transposed convolutions (pythae's ResNet benchmark networks; the VQ-VAE paper's encoder and decoder)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
from torch import nn

from ..schema import require
from .base import GridBody, Shape, SpatialNetwork, register_network
from .layers import MAX_CHANNELS, check_widths


class Residual(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@dataclass(frozen=True)
class ResNetConfig:
    channels: List[int] = field(default_factory=lambda: [64, 128])  # one stride-2 4x4 convolution per entry
    residual_layers: int = 2  # residual 3x3-1x1 blocks at the bottom (of channels[-1])

    def __post_init__(self):
        require(1 <= len(self.channels) <= 6, "channels", f"needs 1 to 6 layers, got {len(self.channels)}")
        check_widths("channels", self.channels, top=MAX_CHANNELS)
        require(0 <= self.residual_layers <= 16, "residual_layers", f"must be 0..16, got {self.residual_layers}")


@register_network("resnet", ResNetConfig)
class ResNet(SpatialNetwork):
    @staticmethod
    def down(size: int) -> int:
        return size // 2  # 4x4 kernel, stride 2, padding 1

    def grid_encoder(self, image_shape: Shape) -> GridBody:
        heights, widths = self.sizes(image_shape)
        chans = [image_shape[0], *self.config.channels]
        layers: List[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1))
        layers += [*[Residual(chans[-1]) for _ in range(self.config.residual_layers)], nn.ReLU()]
        return GridBody(layers, chans[-1], (heights[-1], widths[-1]))

    def _up(self, image_shape: Shape, channels: int) -> List[nn.Module]:
        """Residual blocks, then transposed convolutions to ``channels`` x H x W (no activation at the end)."""
        heights, widths = self.sizes(image_shape)
        chans = [channels, *self.config.channels]
        layers: List[nn.Module] = [*[Residual(chans[-1]) for _ in range(self.config.residual_layers)]]
        for i in range(len(self.config.channels), 0, -1):
            pad = (heights[i - 1] - 2 * heights[i], widths[i - 1] - 2 * widths[i])  # 0 or 1: odd sizes
            layers += [nn.ReLU(), nn.ConvTranspose2d(chans[i], chans[i - 1], 4, stride=2, padding=1, output_padding=pad)]
        return layers

    def decoder(self, latent_dim: int, image_shape: Shape, channels: int) -> List[nn.Module]:
        heights, widths = self.sizes(image_shape)
        bottom = (self.config.channels[-1], heights[-1], widths[-1])
        return [nn.Linear(latent_dim, bottom[0] * bottom[1] * bottom[2]), nn.Unflatten(1, bottom),
                *self._up(image_shape, channels)]

    def grid_decoder(self, in_channels: int, image_shape: Shape, channels: int) -> List[nn.Module]:
        return [nn.Conv2d(in_channels, self.config.channels[-1], 3, padding=1), *self._up(image_shape, channels)]
