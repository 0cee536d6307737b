"""``mlp``: fully connected layers, C*H*W -> hidden... on the way in, the mirror on the way out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from torch import nn

from .base import EncoderBody, Network, Shape, flat_decoder_tail, register_network
from .layers import activation, check_activation, check_widths, stack_layers


@dataclass(frozen=True)
class MLPConfig:
    hidden: List[int] = field(default_factory=lambda: [512, 256])  # encoder widths; the decoder mirrors them
    activation: str = "relu"  # after every hidden layer

    def __post_init__(self):
        check_widths("hidden", self.hidden)
        check_activation("activation", self.activation)


@register_network("mlp", MLPConfig)
class MLP(Network):
    """Linear layers with ``activation`` after each: images flattened, through ``hidden``; the decoder from
    the code through ``reversed(hidden)`` to the pixels."""

    def encoder(self, image_shape: Shape) -> EncoderBody:
        c, h, w = image_shape
        widths = [c * h * w, *self.config.hidden]
        act = lambda: activation(self.config.activation)  # noqa: E731
        return EncoderBody(stack_layers(widths, nn.Linear, act, act), widths[-1], flat_input=True)

    def decoder(self, latent_dim: int, image_shape: Shape, channels: int) -> list:
        widths = [latent_dim, *self.config.hidden[::-1]]
        act = lambda: activation(self.config.activation)  # noqa: E731
        return [*stack_layers(widths, nn.Linear, act, act), *flat_decoder_tail(widths[-1], image_shape, channels)]
