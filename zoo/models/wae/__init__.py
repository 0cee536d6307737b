"""``wae``: the Wasserstein autoencoder (Tolstikhin et al. 2018), MMD penalty with the inverse multiquadric kernel."""
from .model import WAE, WAEConfig, imq_mmd  # noqa: F401
