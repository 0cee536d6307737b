"""``vae``: the variational autoencoder (Kingma & Welling 2014) with ``beta`` on the KL term, and the base of
every family with a likelihood (:class:`LatentVariableModel`)."""
from .model import VAE, LatentVariableModel, VAEConfig  # noqa: F401
