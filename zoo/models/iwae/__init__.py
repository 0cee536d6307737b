"""``iwae``: the importance-weighted autoencoder (Burda et al. 2016)."""
from .model import IWAE, IWAEConfig  # noqa: F401
