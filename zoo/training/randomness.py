"""The random streams of a run besides the model's init: each rank's under torchrun, the input corruption's."""
from __future__ import annotations

from typing import Optional

import torch

from ..recipe import Recipe
from ..seeds import derive_seed
from .distributed import Dist


def rank_stream(dist: Dist) -> tuple:
    """What tells one rank's random stream from another's under torchrun (nothing in one process)."""
    return (dist.rank, dist.world_size) if dist.enabled else ()


def noise_generator(recipe: Recipe, device: torch.device, dist: Dist) -> Optional[torch.Generator]:
    """The generator of the recipe's input corruption (None without one): each rank its own stream."""
    if recipe.noise is None:
        return None
    return torch.Generator(device=device).manual_seed(derive_seed(recipe.seed, "noise", *rank_stream(dist)))


def seed_ranks(recipe: Recipe, dist: Dist) -> None:
    """Under torchrun each rank draws its own random numbers (a VAE's sampling) after the shared init."""
    if dist.enabled:
        torch.manual_seed(derive_seed(recipe.seed, "rank", dist.rank, dist.world_size))
