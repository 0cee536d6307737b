"""Families, registered under short keys, each in its folder (its config beside its model); importing this
package registers them all. A family builds on a network (:mod:`zoo.networks`)."""
from . import aae, ae, ciwae, custom_layer, iwae, rae, vae, vamp, vq_vae, wae  # noqa: F401  (registration side effects)
from .base import Autoencoder, LossOutput, Phase, eval_mode, reconstruction_loss
from .rbm import RBM, rbm_stack
from .registry import FAMILIES, build_model, get_family, parse_config, register_family, register_model

__all__ = [
    "FAMILIES",
    "Autoencoder",
    "LossOutput",
    "Phase",
    "RBM",
    "build_model",
    "eval_mode",
    "get_family",
    "parse_config",
    "rbm_stack",
    "reconstruction_loss",
    "register_family",
    "register_model",
]
