"""Networks: the bodies a family builds its model on (``zoo.register_network``).

A *network* turns images into features and codes back into images; a *family* (``zoo/models/<family>/``) adds
its heads (a code, a mean and log-variance, a codebook, likelihood parameters) and its loss. A network is
registered under a short key with a config dataclass whose every field has a default, so ``{"type": "conv"}``
alone is a network; an entry's ``"network"`` object is validated against that config.

What a network supplies, each as a list of ``torch.nn`` layers the family places in its own ``nn.Sequential``
(so the layers' parameter names are the family's: ``encoder.0.weight``, ...):

- :meth:`Network.encoder`: images ``(N, C, H, W)`` to features ``(N, F)`` (an :class:`EncoderBody`: its layers,
  ``F``, and whether the images are flattened before the first layer);
- :meth:`Network.decoder`: codes ``(N, latent_dim)`` to ``(N, channels, H, W)`` unbounded outputs (logits, or a
  likelihood's parameters: the family says how many channels per image channel);
- where the network keeps a spatial grid (``spatial = True``: conv, resnet), :meth:`Network.grid_encoder` to
  feature maps ``(N, F, h, w)`` and :meth:`Network.grid_decoder` back, for the families whose code is a grid
  (vq-vae).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import RegistryError, check_key, check_registration, lookup
from ..schema import SchemaError, from_dict, to_dict

Shape = Tuple[int, int, int]


@dataclass
class EncoderBody:
    """What :meth:`Network.encoder` gives: ``layers`` from images to ``features`` values per image;
    ``flat_input``: the images are flattened to ``(N, C*H*W)`` before the first layer (an MLP)."""

    layers: List[nn.Module]
    features: int
    flat_input: bool = False


@dataclass
class GridBody:
    """What :meth:`Network.grid_encoder` gives: ``layers`` from images to ``(N, channels, *grid)`` maps."""

    layers: List[nn.Module]
    channels: int
    grid: Tuple[int, int]


class Stack(nn.Sequential):
    """An ``nn.Sequential`` that may flatten its input first: a family's encoder (network layers, then its
    head). Parameter names are those of a plain Sequential (``0.weight``, ``2.bias``, ...)."""

    def __init__(self, *layers: nn.Module, flat_input: bool = False):
        super().__init__(*layers)
        self.flat_input = flat_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1) if self.flat_input else x)


class Network:
    """Base of every network. Subclasses set ``spatial`` (they keep a grid the grid methods expose) and
    implement :meth:`encoder` and :meth:`decoder` (and, if spatial, :meth:`grid_encoder`/:meth:`grid_decoder`)."""

    key: str = ""
    spatial: bool = False  # a grid of feature maps (conv, resnet): families with a grid code (vq-vae) need it

    def __init__(self, config: Any):
        self.config = config

    def encoder(self, image_shape: Shape) -> EncoderBody:  # pragma: no cover - abstract
        raise NotImplementedError

    def decoder(self, latent_dim: int, image_shape: Shape, channels: int) -> List[nn.Module]:  # pragma: no cover
        raise NotImplementedError

    def grid_encoder(self, image_shape: Shape) -> GridBody:
        raise SchemaError("network", f"the {self.key} network keeps no spatial grid (use conv or resnet)")

    def grid_decoder(self, in_channels: int, image_shape: Shape, channels: int) -> List[nn.Module]:
        raise SchemaError("network", f"the {self.key} network keeps no spatial grid (use conv or resnet)")

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: ``{"type": key, ...every setting}``."""
        return {"type": self.key, **to_dict(self.config)}


class SpatialNetwork(Network):
    """A network of stride-2 stages (one per ``config.channels`` entry) that keeps a grid: its vector encoder is
    the grid encoder flattened. Subclasses give ``down(size)`` (a stage's output size) and the grid methods."""

    spatial = True

    @staticmethod
    def down(size: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def sizes(self, image_shape: Shape) -> Tuple[List[int], List[int]]:
        """The heights and widths from the image down through every stage."""
        _, h, w = image_shape
        heights, widths = [h], [w]
        for _ in self.config.channels:
            if heights[-1] < 2 or widths[-1] < 2:
                raise SchemaError("network.channels", f"{len(self.config.channels)} stride-2 stages halve "
                                                      f"{h}x{w} images below one pixel; use fewer")
            heights.append(self.down(heights[-1]))
            widths.append(self.down(widths[-1]))
        return heights, widths

    def encoder(self, image_shape: Shape) -> EncoderBody:
        body = self.grid_encoder(image_shape)
        return EncoderBody([*body.layers, nn.Flatten()], body.channels * body.grid[0] * body.grid[1])


@dataclass(frozen=True)
class NetworkKind:
    key: str
    network_cls: type
    config_cls: type


NETWORKS: Dict[str, NetworkKind] = {}


def register_network(key: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: register a :class:`zoo.Network` subclass under ``key`` with its config dataclass.

    Every field of ``config_cls`` needs a default (``{"type": key}`` alone must be a network); an entry's
    ``"network"`` object is validated against it (unknown keys, wrong types, ``__post_init__`` checks). The
    network is built as ``cls(config)``. A key registered twice is refused.

    Example::

        @dataclass(frozen=True)
        class WideConfig:
            width: int = 1024

        @zoo.register_network("wide", WideConfig)
        class Wide(zoo.Network):
            def encoder(self, image_shape):
                c, h, w = image_shape
                return zoo.EncoderBody([nn.Linear(c * h * w, self.config.width), nn.ReLU()], self.config.width,
                                       flat_input=True)

            def decoder(self, latent_dim, image_shape, channels):
                c, h, w = image_shape
                return [nn.Linear(latent_dim, self.config.width), nn.ReLU(),
                        nn.Linear(self.config.width, channels * h * w), nn.Unflatten(1, (channels, h, w))]
    """
    check_key("register_network", key)
    if not dataclasses.is_dataclass(config_cls):
        raise RegistryError(f"register_network({key!r}, ...): the config must be a dataclass")
    missing = [f.name for f in dataclasses.fields(config_cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise RegistryError(f"register_network({key!r}, ...): every config field needs a default ({', '.join(missing)} "
                            f"has none), so that {{\"type\": {key!r}}} alone is a network")

    def wrapper(cls: type) -> type:
        check_registration("register_network", "A network", NETWORKS, key, cls, Network, "zoo.Network",
                           holder=lambda kind: kind.network_cls)
        NETWORKS[key] = NetworkKind(key, cls, config_cls)
        cls.key = key
        return cls

    return wrapper


def get_network(key: str) -> NetworkKind:
    return lookup(NETWORKS, key, "network")


def parse_network(spec: Any, path: str = "network") -> Network:
    """A network built from its JSON form ``{"type": KEY, ...settings}`` (SchemaError naming the key)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise SchemaError(path, f'expected an object with a "type" (one of {", ".join(sorted(NETWORKS))}), got {spec!r}'[:200])
    settings = {k: v for k, v in spec.items() if k != "type"}
    try:
        kind = get_network(spec["type"])
    except RegistryError as exc:
        raise SchemaError(f"{path}.type", str(exc)) from None
    return kind.network_cls(from_dict(kind.config_cls, settings, path))


def flat_decoder_tail(width: int, image_shape: Shape, channels: int, linear: Optional[Callable[..., nn.Module]] = None
                      ) -> List[nn.Module]:
    """The last layer of a dense decoder: ``width`` features to ``channels`` x H x W outputs, as an image."""
    _, h, w = image_shape
    return [(linear or nn.Linear)(width, channels * h * w), nn.Unflatten(1, (channels, h, w))]


def check_shape(image_shape: Sequence[int]) -> Shape:
    return tuple(int(v) for v in image_shape)  # type: ignore[return-value]
