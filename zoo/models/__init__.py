"""Architectures, registered under short keys; importing this package registers them all."""
from . import conv, custom, families, mlp, regularised, vae, vq  # noqa: F401  (registration side effects)
from .architectures import ARCHITECTURES, build_model, get_architecture, parse_config, register_model
from .base import Autoencoder, LossOutput, Phase, eval_mode, reconstruction_loss
from .rbm import RBM, rbm_stack

__all__ = [
    "ARCHITECTURES",
    "Autoencoder",
    "LossOutput",
    "Phase",
    "RBM",
    "build_model",
    "eval_mode",
    "get_architecture",
    "parse_config",
    "rbm_stack",
    "reconstruction_loss",
    "register_model",
]
