"""``ciwae``: the combination importance-weighted autoencoder (Rainforth et al. 2018)."""
from .model import CIWAE, CIWAEConfig  # noqa: F401
