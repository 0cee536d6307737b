"""``conv``: stride-2 3x3 convolutions down, transposed convolutions back up, for any C x H x W."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from torch import nn

from ..schema import require
from .base import GridBody, Shape, SpatialNetwork, register_network
from .layers import MAX_CHANNELS, activation, check_activation, check_widths


@dataclass(frozen=True)
class ConvConfig:
    channels: List[int] = field(default_factory=lambda: [32, 64])  # one stride-2 convolution per entry
    activation: str = "relu"

    def __post_init__(self):
        require(1 <= len(self.channels) <= 6, "channels", f"needs 1 to 6 layers, got {len(self.channels)}")
        check_widths("channels", self.channels, top=MAX_CHANNELS)
        check_activation("activation", self.activation)


@register_network("conv", ConvConfig)
class Conv(SpatialNetwork):
    """Each transposed convolution lands exactly on the size its convolution came from."""

    @staticmethod
    def down(size: int) -> int:
        return (size + 2 * 1 - 3) // 2 + 1  # 3x3 kernel, stride 2, padding 1

    def grid_encoder(self, image_shape: Shape) -> GridBody:
        heights, widths = self.sizes(image_shape)
        chans = [image_shape[0], *self.config.channels]
        layers: List[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), activation(self.config.activation)]
        return GridBody(layers, chans[-1], (heights[-1], widths[-1]))

    def _up(self, image_shape: Shape, channels: int) -> List[nn.Module]:
        """Transposed convolutions from the bottom maps to ``channels`` x H x W (no activation at the end)."""
        heights, widths = self.sizes(image_shape)
        chans = [channels, *self.config.channels]
        layers: List[nn.Module] = []
        for i in range(len(self.config.channels), 0, -1):
            pad_h = heights[i - 1] - ((heights[i] - 1) * 2 - 2 + 3)  # 0 or 1: lands on the bigger size
            pad_w = widths[i - 1] - ((widths[i] - 1) * 2 - 2 + 3)
            layers.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 3, stride=2, padding=1, output_padding=(pad_h, pad_w)))
            if i > 1:
                layers.append(activation(self.config.activation))
        return layers

    def decoder(self, latent_dim: int, image_shape: Shape, channels: int) -> List[nn.Module]:
        heights, widths = self.sizes(image_shape)
        bottom = (self.config.channels[-1], heights[-1], widths[-1])
        return [nn.Linear(latent_dim, bottom[0] * bottom[1] * bottom[2]), activation(self.config.activation),
                nn.Unflatten(1, bottom), *self._up(image_shape, channels)]

    def grid_decoder(self, in_channels: int, image_shape: Shape, channels: int) -> List[nn.Module]:
        return [nn.Conv2d(in_channels, self.config.channels[-1], 3, padding=1), activation(self.config.activation),
                *self._up(image_shape, channels)]
