"""Plain MLP autoencoder (``"mlp"``): the linear-128, deep-64, deep-784-32 and hinton-30 family."""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import torch
from torch import nn

from .architectures import register_model
from .base import Autoencoder, activation
from .configs import MLPConfig

Factory = Callable[[], nn.Module]


def stack_layers(widths: List[int], linear: Callable[[int, int], nn.Module], act: Factory,
                 last_act: Optional[Factory]) -> nn.Sequential:
    """``linear`` layers through ``widths``, ``act()`` between them and ``last_act()`` (if any) at the end."""
    layers: List[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(linear(n_in, n_out))
        make = last_act if i == len(widths) - 2 else act
        if make is not None:
            layers.append(make())
    return nn.Sequential(*layers)


def mlp_layers(widths: List[int], act: str, last_act: Optional[str]) -> nn.Sequential:
    """torch.nn Linear layers with activations named as in the registry (``last_act`` None: none)."""
    last = (lambda: activation(last_act)) if last_act is not None else None
    return stack_layers(widths, nn.Linear, lambda: activation(act), last)


@register_model("mlp", MLPConfig)
class MLPAutoencoder(Autoencoder):
    """C*H*W -> hidden... -> latent -> mirrored hidden -> C*H*W with a sigmoid output."""

    def __init__(self, config: MLPConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
        widths = [self.input_dim, *config.hidden, config.latent_dim]
        self.encoder = mlp_layers(widths, config.activation, config.latent_activation)
        self.decoder = mlp_layers(widths[::-1], config.activation, "sigmoid")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)
