"""Architecture registry: short keys ("mlp", "conv", ...) map to a model class and its config.

Modelled on torchvision's ``register_model``: a decorator fills ``BUILTIN_MODELS`` and refuses a
key twice. The config dataclass is what registry.json's ``kwargs`` are validated against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict

from ..errors import UnknownModelError, did_you_mean
from ..schema import from_dict, to_dict


@dataclass(frozen=True)
class Architecture:
    key: str
    model_cls: type
    config_cls: type


BUILTIN_MODELS: Dict[str, Architecture] = {}


def register_model(key: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: register ``cls`` under ``key`` with its config dataclass."""

    def wrapper(cls: type) -> type:
        if key in BUILTIN_MODELS:
            raise ValueError(f"An architecture is already registered under {key!r}")
        BUILTIN_MODELS[key] = Architecture(key, cls, config_cls)
        cls.architecture = key
        return cls

    return wrapper


def get_architecture(key: str) -> Architecture:
    try:
        return BUILTIN_MODELS[key]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_MODELS))
        hint = did_you_mean(key, BUILTIN_MODELS) or f" Known architectures: {known}."
        raise UnknownModelError(f"Unknown architecture {key!r}.{hint}") from None


def parse_config(key: str, kwargs: Dict[str, Any], path: str = "kwargs") -> Any:
    """Validate ``kwargs`` against the architecture's config (raises SchemaError naming the key)."""
    return from_dict(get_architecture(key).config_cls, kwargs, path)


def build_model(key: str, kwargs: Dict[str, Any]):
    """A freshly initialised model of architecture ``key`` built from JSON ``kwargs``."""
    arch = get_architecture(key)
    return arch.model_cls(parse_config(key, kwargs))


def config_dict(config: Any) -> Dict[str, Any]:
    return to_dict(config)
