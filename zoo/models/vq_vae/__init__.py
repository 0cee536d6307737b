"""``vq-vae``: the VQ-VAE (van den Oord et al. 2017) with its PixelCNN code prior; on a network that keeps a
spatial grid (conv, resnet)."""
from .model import EPSILON, VQVAE, Codebook, VQVAEConfig  # noqa: F401
from .pixelcnn import PixelCNNPrior  # noqa: F401
