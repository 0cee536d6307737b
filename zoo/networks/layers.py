"""Layer helpers and config checks the networks share: named activations, dense stacks, width checks."""
from __future__ import annotations

from typing import Callable, List, Optional

from torch import nn

from ..errors import did_you_mean
from ..schema import require

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
MAX_WIDTH = 16384  # a typo like 100000 should fail validation, not exhaust memory
MAX_CHANNELS = 1024

Factory = Callable[[], nn.Module]


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def check_activation(key: str, name: Optional[str]) -> None:
    if name is None:
        return
    known = ", ".join(sorted(ACTIVATIONS))
    hint = did_you_mean(name, ACTIVATIONS)
    require(name in ACTIVATIONS, key, f"unknown activation {name!r}.{hint or ' Known: ' + known}")


def check_widths(key: str, widths: List[int], *, top: int = MAX_WIDTH) -> None:
    for i, width in enumerate(widths):
        require(0 < width <= top, f"{key}[{i}]", f"must be 1..{top}, got {width}")


def check_latent(latent_dim: int) -> None:
    # the code's upper bound depends on the data's image size: Autoencoder.__init__ checks it
    require(latent_dim > 0, "latent_dim", f"must be a positive integer, got {latent_dim}")


def stack_layers(widths: List[int], linear: Callable[[int, int], nn.Module], act: Factory,
                 last_act: Optional[Factory]) -> List[nn.Module]:
    """``linear`` layers through ``widths``, ``act()`` between them and ``last_act()`` (if any) at the end."""
    layers: List[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(linear(n_in, n_out))
        make = last_act if i == len(widths) - 2 else act
        if make is not None:
            layers.append(make())
    return layers


def mlp_layers(widths: List[int], act: str, last_act: Optional[str]) -> nn.Sequential:
    """torch.nn Linear layers with activations named as in the registry (``last_act`` None: none)."""
    last = (lambda: activation(last_act)) if last_act is not None else None
    return nn.Sequential(*stack_layers(widths, nn.Linear, lambda: activation(act), last))
