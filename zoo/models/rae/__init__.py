"""``rae``: the regularised deterministic autoencoder (Ghosh et al. 2020)."""
from .model import RAE, RAEConfig  # noqa: F401
