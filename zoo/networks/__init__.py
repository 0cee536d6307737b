"""Networks, registered under short keys (``mlp``, ``gated-mlp``, ``conv``, ``resnet``); importing this
package registers them all. See :mod:`zoo.networks.base` for what a network supplies."""
from . import conv, gated_mlp, mlp, resnet  # noqa: F401  (registration side effects)
from .base import NETWORKS, EncoderBody, GridBody, Network, Stack, get_network, parse_network, register_network

__all__ = ["NETWORKS", "EncoderBody", "GridBody", "Network", "Stack", "get_network", "parse_network", "register_network"]
