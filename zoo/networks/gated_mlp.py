"""``gated-mlp``: the gated dense layers of the VampPrior paper (Tomczak & Welling 2018, after Dauphin et al.
2017): each layer ``h = (W x + b) * sigmoid(V x + c)``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
from torch import nn

from .base import EncoderBody, Network, Shape, flat_decoder_tail, register_network
from .layers import check_widths


class GatedDense(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.h = nn.Linear(in_features, out_features)
        self.g = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(x) * torch.sigmoid(self.g(x))


@dataclass(frozen=True)
class GatedMLPConfig:
    hidden: List[int] = field(default_factory=lambda: [300, 300])  # the paper's widths; the decoder mirrors them

    def __post_init__(self):
        check_widths("hidden", self.hidden)


@register_network("gated-mlp", GatedMLPConfig)
class GatedMLP(Network):
    def encoder(self, image_shape: Shape) -> EncoderBody:
        c, h, w = image_shape
        widths = [c * h * w, *self.config.hidden]
        return EncoderBody([GatedDense(a, b) for a, b in zip(widths[:-1], widths[1:])], widths[-1], flat_input=True)

    def decoder(self, latent_dim: int, image_shape: Shape, channels: int) -> list:
        widths = [latent_dim, *self.config.hidden[::-1]]
        return [*[GatedDense(a, b) for a, b in zip(widths[:-1], widths[1:])],
                *flat_decoder_tail(widths[-1], image_shape, channels)]
