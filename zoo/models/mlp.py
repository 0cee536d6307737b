"""Plain MLP autoencoder (``"mlp"``): the linear-128, deep-64, deep-784-32 and hinton-30 family."""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from ._api import register_model
from .base import IMAGE_SHAPE, INPUT_DIM, Autoencoder, activation
from .configs import MLPConfig


def mlp_layers(widths: List[int], act: str, last_act: str | None) -> nn.Sequential:
    """Linear layers through ``widths``, ``act`` between them and ``last_act`` (or none) at the end."""
    layers: List[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        is_last = i == len(widths) - 2
        name = last_act if is_last else act
        if name is not None:
            layers.append(activation(name))
    return nn.Sequential(*layers)


@register_model("mlp", MLPConfig)
class MLPAutoencoder(Autoencoder):
    """784 -> hidden... -> latent -> mirrored hidden -> 784 with a sigmoid output."""

    def __init__(self, config: MLPConfig):
        super().__init__(config)
        widths = [INPUT_DIM, *config.hidden, config.latent_dim]
        self.encoder = mlp_layers(widths, config.activation, config.latent_activation)
        self.decoder = mlp_layers(widths[::-1], config.activation, "sigmoid")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *IMAGE_SHAPE)
