"""Architectures: short keys ("mlp", "conv", ...) map to a model class and its config dataclass.

A zoo *entry* (``deep-784-32``) names an *architecture* (``mlp``) and its kwargs. Modelled on
torchvision's ``register_model``: the decorator fills ``ARCHITECTURES`` and refuses a key twice.
The config dataclass is what registry.json's ``kwargs`` are validated against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict

from ..errors import UnknownModelError, did_you_mean
from ..schema import from_dict


@dataclass(frozen=True)
class Architecture:
    key: str
    model_cls: type
    config_cls: type


ARCHITECTURES: Dict[str, Architecture] = {}


def register_model(key: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: register the architecture ``cls`` under ``key`` with its config dataclass."""

    def wrapper(cls: type) -> type:
        if key in ARCHITECTURES:
            raise ValueError(f"An architecture is already registered under {key!r}")
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


def build_model(key: str, kwargs: Dict[str, Any]):
    """A freshly initialised model of architecture ``key`` built from JSON ``kwargs``."""
    arch = get_architecture(key)
    return arch.model_cls(parse_config(key, kwargs))
