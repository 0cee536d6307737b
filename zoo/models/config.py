"""The config fields families share, inherited once: every family's config starts from one of these."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..networks.layers import check_latent
from ..schema import require
from .likelihoods import LIKELIHOODS


@dataclass(frozen=True)
class FamilyConfig:
    """A continuous code of ``latent_dim`` numbers (the one family setting without a default)."""

    latent_dim: int

    def __post_init__(self):
        check_latent(self.latent_dim)


@dataclass(frozen=True)
class LatentVariableConfig(FamilyConfig):
    """A family with a likelihood: q(z|x) Gaussian, p(x|z) ``likelihood`` ("bernoulli": binary pixels;
    "logistic": 8-bit pixels, a discretized logistic per value, NLL in bits/dim)."""

    likelihood: str = "bernoulli"

    def __post_init__(self):
        super().__post_init__()
        require(self.likelihood in LIKELIHOODS, "likelihood",
                f"must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")


def check_beta(beta: float) -> None:
    require(beta >= 0, "beta", f"must be >= 0, got {beta}")


def check_optional_latent(latent_dim: Optional[int]) -> None:
    if latent_dim is not None:
        check_latent(latent_dim)
