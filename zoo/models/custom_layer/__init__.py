"""``custom-layer``: the seed's hand-written MLP (its own Linear, ReLU and sigmoid modules)."""
from .model import CustomLayerAutoencoder, CustomLayerConfig, Linear, ReLU, Sigmoid  # noqa: F401
