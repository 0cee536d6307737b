"""A user's plugin (a registry file's "plugins": ["objective_plugin"]): a toy adversarial code regulariser.

A critic learns to tell the codes of images from draws of N(0, I); the autoencoder learns to reconstruct
and to fool it. ``toy-aae`` trains with an objective of this plugin's own (the critic two SGD steps per
autoencoder step, with its own optimizer); ``toy-aae-alt`` is the same model on zoo's ``alternating``.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.models import LossOutput, reconstruction_loss


@dataclass(frozen=True)
class ToyConfig:
    latent_dim: int = 8
    width: int = 64
    weight: float = 0.05  # of the fooling term in the autoencoder's loss
    random_prior: bool = True  # False: fixed "prior" codes, so that runs differ by float rounding alone


@zoo.register_objective("toy-adversarial")
class ToyAdversarial(zoo.Objective):
    """The recipe's optimizer for the autoencoder; SGD with momentum, two steps per batch, for the critic."""

    def __init__(self, model, recipe, context):
        super().__init__(model, recipe, context)
        self.add_phase("autoencoder", [*model.encoder.parameters(), *model.decoder.parameters()])
        self.add_phase("critic", model.critic.parameters(), "critic_loss",
                       optimizer=torch.optim.SGD(model.critic.parameters(), lr=0.05, momentum=0.5))

    def step(self, inputs, target, *, scale=1.0):
        out = self.run_phase("autoencoder", inputs, target, scale=scale)
        for _ in range(2):
            critic = self.run_phase("critic", inputs, target, scale=scale)
        return {**out, **{f"critic/{k}": v for k, v in critic.items()}}


@zoo.register_model("toy-aae", ToyConfig)
class ToyAAE(zoo.Autoencoder):
    objective = "toy-adversarial"

    def __init__(self, config, image_shape):
        super().__init__(config, image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(self.input_dim, config.width), nn.ELU(),
                                     nn.Linear(config.width, config.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, config.width), nn.ELU(),
                                     nn.Linear(config.width, self.input_dim), nn.Sigmoid())
        self.critic = nn.Sequential(nn.Linear(config.latent_dim, 32), nn.ELU(), nn.Linear(32, 1))

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z).view(-1, *self.image_shape)

    def loss(self, x, target, *, kind="mse"):
        z = self.encode(x)
        recon = reconstruction_loss(self.decode(z), target, kind)
        fool = F.binary_cross_entropy_with_logits(self.critic(z), torch.ones(len(z), 1, device=z.device))
        return LossOutput(recon + self.config.weight * fool, {"recon": recon.detach(), "fool": fool.detach()})

    def critic_loss(self, x, target, *, kind="mse"):
        z = self.encode(x).detach()
        if self.config.random_prior:
            prior = torch.randn_like(z)  # torch's global generator: part of the run's saved random state
        else:
            prior = torch.linspace(-2, 2, z.shape[1], device=z.device).expand_as(z)  # the same for any batch
        real = F.binary_cross_entropy_with_logits(self.critic(prior), torch.ones(len(z), 1, device=z.device))
        fake = F.binary_cross_entropy_with_logits(self.critic(z), torch.zeros(len(z), 1, device=z.device))
        return LossOutput((real + fake) / 2, {"real": real.detach(), "fake": fake.detach()})


@zoo.register_model("toy-aae-alt", ToyConfig)
class ToyAAEAlternating(ToyAAE):
    objective = "alternating"

    def phases(self):
        return [zoo.Phase("autoencoder", ("encoder", "decoder")), zoo.Phase("critic", ("critic",), "critic_loss")]
