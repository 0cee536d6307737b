"""``vamp``: the VAE with the VampPrior (Tomczak & Welling 2018)."""
from .model import GaussianMixture, VampConfig, VampVAE  # noqa: F401
