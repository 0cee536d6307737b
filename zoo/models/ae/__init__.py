"""``ae``: the deterministic autoencoder (linear-128, deep-64, deep-784-32, conv-32, fashion-64, hinton-30...).
Denoising is a recipe setting (``recipe.noise``), not a family."""
from .model import AE, AEConfig  # noqa: F401
