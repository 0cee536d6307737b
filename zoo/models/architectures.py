"""Architectures: short keys ("mlp", "conv", ...) map to a model class and its config dataclass.

A zoo *entry* (``deep-784-32``) names an *architecture* (``mlp``) and its kwargs. Modelled on
torchvision's ``register_model``: the decorator fills ``ARCHITECTURES`` and refuses a key twice.
The config dataclass is what registry.json's ``kwargs`` are validated against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, Sequence

from ..errors import RegistryError, UnknownModelError, did_you_mean
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

    if not isinstance(key, str) or not key:
        raise RegistryError(f"register_model needs a non-empty string key, got {key!r}")
    if not dataclasses.is_dataclass(config_cls) or "latent_dim" not in {f.name for f in dataclasses.fields(config_cls)}:
        raise RegistryError(f"register_model({key!r}, ...): the config must be a dataclass with a latent_dim field")

    def wrapper(cls: type) -> type:
        if key in ARCHITECTURES:
            other = ARCHITECTURES[key].model_cls
            raise RegistryError(f"An architecture is already registered under {key!r} "
                                f"({other.__module__}.{other.__qualname__}); choose another key")
        if not (isinstance(cls, type) and issubclass(cls, Autoencoder)):
            raise RegistryError(f"register_model({key!r}) decorates a subclass of zoo.Autoencoder, not {cls!r}")
        ARCHITECTURES[key] = Architecture(key, cls, config_cls)
        cls.architecture = key
        return cls

    return wrapper


def get_architecture(key: str) -> Architecture:
    try:
        return ARCHITECTURES[key]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        hint = did_you_mean(key, ARCHITECTURES) or f" Known architectures: {known}."
        raise UnknownModelError(f"Unknown architecture {key!r}.{hint}") from None


def parse_config(key: str, kwargs: Dict[str, Any], path: str = "kwargs") -> Any:
    """Validate ``kwargs`` against the architecture's config (raises SchemaError naming the key)."""
    return from_dict(get_architecture(key).config_cls, kwargs, path)


def build_model(key: str, kwargs: Dict[str, Any], image_shape: Sequence[int]):
    """A freshly initialised model of architecture ``key`` built from JSON ``kwargs`` for images of
    ``image_shape`` (C, H, W)."""
    arch = get_architecture(key)
    return arch.model_cls(parse_config(key, kwargs), image_shape)
