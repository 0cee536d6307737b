"""``aae``: the adversarial autoencoder (Makhzani et al. 2016)."""
from .model import AAE, AAEConfig  # noqa: F401
