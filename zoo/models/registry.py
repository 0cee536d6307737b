"""Families: short keys ("ae", "vae", "vq-vae", ...) map to a model class and its config dataclass.

A zoo *entry* (``deep-784-32``) names a *family* (``ae``) with its kwargs and a *network* (``{"type": "mlp",
"hidden": [128]}``, :mod:`zoo.networks`) the family builds on. Modelled on torchvision's ``register_model``:
the decorator fills ``FAMILIES`` and refuses a key twice. The config dataclass is what registry.json's
``kwargs`` are validated against.

Two decorators, one table:

- :func:`register_family`: a family built on any network that fits (``cls(config, image_shape, network)``);
  the class says which (``network_kind``: ``"vector"`` any network, ``"grid"`` one that keeps a spatial grid;
  ``networks``: only these keys) and which it uses when an entry names none (``default_network``);
- :func:`register_model`: a model that builds every layer itself (``cls(config, image_shape)``), as a user's
  plugin did before networks existed; its entries name no network.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

from ..errors import RegistryError, UnknownModelError, check_key, check_registration, lookup
from ..networks import Network, parse_network
from ..schema import SchemaError, from_dict


@dataclass(frozen=True)
class Family:
    key: str
    model_cls: type
    config_cls: type

    def network(self, spec: Optional[Dict[str, Any]], path: str = "network") -> Optional[Network]:
        """The network an entry's ``"network"`` object builds for this family (its default where None);
        SchemaError when the family takes none, or not this one."""
        cls = self.model_cls
        if cls.network_kind is None:
            if spec is not None:
                raise SchemaError(path, f"the {self.key} family builds its own layers and takes no network")
            return None
        network = parse_network(spec if spec is not None else {"type": cls.default_network}, path)
        if cls.networks is not None and network.key not in cls.networks:
            raise SchemaError(f"{path}.type", f"the {self.key} family runs on {', '.join(cls.networks)}, not {network.key}")
        if cls.network_kind == "grid" and not network.spatial:
            raise SchemaError(f"{path}.type", f"the {self.key} family needs a network that keeps a spatial grid "
                                              f"(conv, resnet), not {network.key}")
        return network

    def build(self, config: Any, image_shape: Sequence[int], network: Optional[Dict[str, Any]] = None):
        """The model of ``config`` (this family's) on ``network`` (its default where None) for ``image_shape``."""
        net = self.network(network)
        shape = tuple(image_shape)
        return self.model_cls(config, shape) if net is None else self.model_cls(config, shape, net)


FAMILIES: Dict[str, Family] = {}


def _check_config(decorator: str, key: str, config_cls: type) -> None:
    if not dataclasses.is_dataclass(config_cls) or "latent_dim" not in {f.name for f in dataclasses.fields(config_cls)}:
        raise RegistryError(f"{decorator}({key!r}, ...): the config must be a dataclass with a latent_dim field")


def _register(decorator: str, key: str, config_cls: type, network_kind: Optional[str]) -> Callable[[type], type]:
    from .base import Autoencoder

    check_key(decorator, key)
    _check_config(decorator, key, config_cls)

    def wrapper(cls: type) -> type:
        check_registration(decorator, "A family", FAMILIES, key, cls, Autoencoder, "zoo.Autoencoder",
                           holder=lambda family: family.model_cls)
        if network_kind is None:
            cls.network_kind = None
        FAMILIES[key] = Family(key, cls, config_cls)
        cls.family = key
        return cls

    return wrapper


def register_family(key: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: register a family (a :class:`zoo.Autoencoder` subclass built on a network) under ``key``.

    ``config_cls`` is a dataclass with ``latent_dim`` and the family's own settings (each with a default); an
    entry's ``kwargs`` are validated against it. The model is built as ``cls(config, image_shape, network)``:
    it takes the network's bodies with ``self.encoder_on(network, head)`` and ``self.decoder_on(network,
    channels)``. Class attributes say which networks fit: ``network_kind`` (``"vector"``: any; ``"grid"``: one
    keeping a spatial grid), ``networks`` (None, or only these keys), ``default_network``. A key registered twice
    is refused. ``docs/adding-a-family.md`` walks through one.
    """
    return _register("register_family", key, config_cls, "network")


def register_model(key: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: register a model that builds all its layers itself (no network) under ``key``.

    ``config_cls`` is a dataclass with at least ``latent_dim: int``; an entry's ``kwargs`` are validated
    against it. The model is built as ``cls(config, image_shape)``; its entries name no ``network``. A key
    registered twice is refused.

    Example::

        @dataclass(frozen=True)
        class TinyConfig:
            latent_dim: int
            width: int = 64

        @zoo.register_model("tiny", TinyConfig)
        class Tiny(zoo.Autoencoder):
            def __init__(self, config, image_shape):
                super().__init__(config, image_shape)
                ...
    """
    return _register("register_model", key, config_cls, None)


def get_family(key: str) -> Family:
    return lookup(FAMILIES, key, "family", UnknownModelError)


def parse_config(key: str, kwargs: Dict[str, Any], path: str = "kwargs") -> Any:
    """Validate ``kwargs`` against the family's config (raises SchemaError naming the key)."""
    return from_dict(get_family(key).config_cls, kwargs, path)


def build_model(family: str, kwargs: Dict[str, Any], image_shape: Sequence[int], network: Optional[Dict[str, Any]] = None):
    """A freshly initialised model of ``family`` built from JSON ``kwargs`` (and ``network``, its default where
    None) for images of ``image_shape`` (C, H, W)."""
    return get_family(family).build(parse_config(family, kwargs), image_shape, network)
