"""A user's own model (all its layers its own), as a plugin module a registry file names ("plugins": ["user_plugin"])."""
from dataclasses import dataclass

from torch import nn

import zoo


@dataclass(frozen=True)
class TinyConfig:
    latent_dim: int
    width: int = 128


@zoo.register_model("tiny-mlp", TinyConfig)
class TinyMLP(zoo.Autoencoder):
    """C*H*W -> width -> latent -> width -> C*H*W, ELU inside, a sigmoid at the end."""

    def __init__(self, config, image_shape):
        super().__init__(config, image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(self.input_dim, config.width), nn.ELU(),
                                     nn.Linear(config.width, config.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, config.width), nn.ELU(),
                                     nn.Linear(config.width, self.input_dim), nn.Sigmoid())

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z).view(-1, *self.image_shape)
