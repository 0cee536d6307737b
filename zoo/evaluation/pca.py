"""PCA baselines: the linear autoencoder every model has to beat at the same code size.

Fitted on the full training split (60,000 images, pixels in [0, 1]) in float64 by eigendecomposition
of the covariance, and cached per data set as safetensors under ``$ZOO_CACHE_DIR/pca/``: every code
size reuses one fit. Reconstructions are not clipped to [0, 1], as in the published reference
points (MNIST, 30 components: 13.87 squared error per test image, Hinton & Salakhutdinov 2006).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

from ..data import checksums, load_dataset, to_float
from ..errors import UsageError, first_line, shown
from ..io import atomic_save_safetensors, read_verified_safetensors
from ..paths import cache_dir
from ..registry import NAME_RE

LOGGER = logging.getLogger("zoo")
MAX_PIXELS = 8192  # values per image (C * H * W) up to which the exact PCA is fitted: a 512 MB covariance


@dataclass
class PCA:
    """``mean`` (D,), ``components`` (D, D) as columns sorted by ``variances`` (descending), for
    images of ``image_shape`` (C, H, W) with D = C * H * W pixels."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor
    image_shape: Tuple[int, int, int]

    @property
    def pixels(self) -> int:
        return self.mean.numel()

    def to(self, device) -> "PCA":
        return PCA(self.mean.to(device), self.components.to(device), self.variances.to(device), self.image_shape)

    def num_parameters(self, k: int) -> int:
        """The size of PCA-k as a linear autoencoder: k components and the mean."""
        return self.pixels * k + self.pixels

    def _basis(self, k: int) -> torch.Tensor:
        if not 1 <= k <= self.pixels:
            raise UsageError(f"PCA needs 1 to {self.pixels} components, got {k}")
        return self.components[:, :k]

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Codes ``(N, k)`` of images ``(N, C, H, W)``."""
        return (x.flatten(1).double() - self.mean) @ self._basis(k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` (float64, not clipped) from codes ``(N, k)``."""
        return (z @ self._basis(z.shape[1]).T + self.mean).view(-1, *self.image_shape)

    def reconstruct(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return self.decode(self.encode(x, k))


def fit_pca(images: torch.Tensor) -> PCA:
    """PCA of uint8 images ``(N, H, W)`` in float64."""
    x = to_float(images).flatten(1).double()
    if x.shape[1] > MAX_PIXELS:  # the covariance is pixels x pixels in float64
        raise UsageError(f"The PCA baseline of {x.shape[1]:,}-value images would need a {x.shape[1]:,}^2 covariance; "
                         f"zoo fits it up to {MAX_PIXELS:,} values an image (use --no-baseline)")
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / len(x)
    variances, vectors = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(variances, descending=True)
    vectors = vectors[:, order]
    # fix each component's sign (largest entry positive) so fits agree across machines
    signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
    return PCA(mean, vectors * signs, variances[order].clamp_min(0), tuple(to_float(images[:1]).shape[1:]))


def _cache_path(dataset: str) -> Path:
    """Keyed by the data's checksums, so a changed data set gets a new fit."""
    digest = hashlib.sha256(json.dumps(checksums(dataset), sort_keys=True).encode()).hexdigest()[:16]
    label = dataset if NAME_RE.match(dataset) else "data"
    return cache_dir() / "pca" / f"{label}-{digest}.safetensors"


def load_pca(dataset: str, *, device: Optional[torch.device] = None) -> PCA:
    """The PCA of ``dataset``'s training split, from the cache or fitted (and cached) now."""

    path = _cache_path(dataset)
    pca = None
    if path.exists():
        try:
            t, metadata = read_verified_safetensors(path)
            pca = PCA(t["mean"], t["components"], t["variances"], tuple(json.loads(metadata["image_shape"])))
        except Exception as exc:  # a damaged cache is refitted, never trusted
            LOGGER.warning(f"the PCA cache {shown(path)} is damaged ({first_line(exc)}); fitting PCA again")
            pca = None
    if pca is None:
        pca = fit_pca(load_dataset(dataset, "train").images)
        try:
            atomic_save_safetensors(path, {"mean": pca.mean, "components": pca.components, "variances": pca.variances},
                                    {"image_shape": json.dumps(list(pca.image_shape))})
        except OSError:
            pass  # a read-only cache only costs the refit next time
    return pca.to(device) if device is not None else pca
