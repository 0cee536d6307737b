"""Architectures: short keys ("mlp", "conv", ...) map to a model class and its config dataclass.

A zoo *entry* (``deep-784-32``) names an *architecture* (``mlp``) and its kwargs. Modelled on
torchvision's ``register_model``: the decorator fills ``ARCHITECTURES`` and refuses a key twice.
The config dataclass is what registry.json's ``kwargs`` are validated against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, Sequence

from ..errors import RegistryError, UnknownModelError, check_key, check_registration, lookup
from ..schema import from_dict


@dataclass(frozen=True)
class Architecture:
    key: str
    model_cls: type
    config_cls: type


ARCHITECTURES: Dict[str, Architecture] = {}


def register_model(key: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: register an architecture (a :class:`zoo.Autoencoder` subclass) under ``key``.

    ``config_cls`` is a dataclass with at least ``latent_dim: int``; a registry entry's ``kwargs``
    are validated against it (unknown keys, wrong types, ``__post_init__`` checks). The model is then
    built as ``cls(config, image_shape)``. A key registered twice is refused.

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
    from .base import Autoencoder

    check_key("register_model", key)
    if not dataclasses.is_dataclass(config_cls) or "latent_dim" not in {f.name for f in dataclasses.fields(config_cls)}:
        raise RegistryError(f"register_model({key!r}, ...): the config must be a dataclass with a latent_dim field")

    def wrapper(cls: type) -> type:
        check_registration("register_model", "An architecture", ARCHITECTURES, key, cls, Autoencoder, "zoo.Autoencoder",
                           holder=lambda arch: arch.model_cls)
        ARCHITECTURES[key] = Architecture(key, cls, config_cls)
        cls.architecture = key
        return cls

    return wrapper


def get_architecture(key: str) -> Architecture:
    return lookup(ARCHITECTURES, key, "architecture", UnknownModelError)


def parse_config(key: str, kwargs: Dict[str, Any], path: str = "kwargs") -> Any:
    """Validate ``kwargs`` against the architecture's config (raises SchemaError naming the key)."""
    return from_dict(get_architecture(key).config_cls, kwargs, path)


def build_model(key: str, kwargs: Dict[str, Any], image_shape: Sequence[int]):
    """A freshly initialised model of architecture ``key`` built from JSON ``kwargs`` for images of
    ``image_shape`` (C, H, W)."""
    arch = get_architecture(key)
    return arch.model_cls(parse_config(key, kwargs), image_shape)
