"""The hand-written MLP (``"custom-layer"``): every layer written out instead of taken from torch.nn, on the
``mlp`` network's widths (its ReLU is hand-written too, so the network's activation must be relu).

Kept as its reference system had it: Xavier-uniform weights and zero biases set by hand, ReLU as a
``torch.where`` and the sigmoid from ``exp``. The code (bottleneck) is unbounded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ...networks import Network
from ...networks.layers import stack_layers
from ...schema import SchemaError
from ..base import Autoencoder
from ..config import FamilyConfig
from ..registry import register_family


@dataclass(frozen=True)
class CustomLayerConfig(FamilyConfig):
    """An unbounded code of ``latent_dim``; the widths are the mlp network's ``hidden``."""


class Linear(nn.Module):
    """``y = x W^T + b`` with W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot 2010), b = 0."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = math.sqrt(6.0 / (in_features + out_features))
        # in place: the same numbers as (rand * 2 - 1) * bound, and cheap on the meta device too
        self.weight = nn.Parameter(torch.rand(out_features, in_features).mul_(2).sub_(1).mul_(bound))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t() + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class ReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, torch.zeros_like(x))


class Sigmoid(nn.Module):
    """1 / (1 + e^-x), written as e^x / (1 + e^x) for x < 0 so neither branch ever overflows.

    Each branch sees only its own half of the inputs (zeros elsewhere), so the branch that
    ``torch.where`` discards has a finite gradient too, and 0 * finite keeps the backward pass clean.
    (``clamp`` would not do: it passes no gradient at its boundary, x = 0.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros_like(x)
        nonneg = x >= 0
        pos = torch.exp(-torch.where(nonneg, x, zero))
        neg = torch.exp(torch.where(nonneg, zero, x))
        return torch.where(nonneg, 1 / (1 + pos), neg / (1 + neg))


@register_family("custom-layer", CustomLayerConfig)
class CustomLayerAutoencoder(Autoencoder):
    networks = ("mlp",)

    def __init__(self, config: CustomLayerConfig, image_shape: Sequence[int], network: Network):
        super().__init__(config, image_shape, network)
        if network.config.activation != "relu":
            raise SchemaError("network.activation", f"the custom-layer family's ReLU is hand-written: it takes "
                                                    f"activation relu, not {network.config.activation!r}")
        widths = [self.input_dim, *network.config.hidden, config.latent_dim]
        self.encoder = nn.Sequential(*stack_layers(widths, Linear, ReLU, None))  # unbounded code
        self.decoder = nn.Sequential(*stack_layers(widths[::-1], Linear, ReLU, Sigmoid))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)
