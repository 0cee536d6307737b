"""PCA baselines: the linear autoencoder every model has to beat at the same code size.

Fitted on the full training split (60,000 images, pixels in [0, 1]) in float64 by eigendecomposition
of the covariance, and cached per data set as safetensors under ``$ZOO_CACHE_DIR/pca/``: every code
size reuses one fit. Reconstructions are not clipped to [0, 1], as in the published reference
points (MNIST, 30 components: 13.87 squared error per test image, Hinton & Salakhutdinov 2006).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

from ..data import checksums, load_dataset, to_float
from ..errors import UsageError, shown
from ..io import atomic_save_safetensors, checksum_problem
from ..paths import cache_dir

LOGGER = logging.getLogger("zoo")


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
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / len(x)
    variances, vectors = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(variances, descending=True)
    vectors = vectors[:, order]
    # fix each component's sign (largest entry positive) so fits agree across machines
    signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
    return PCA(mean, vectors * signs, variances[order].clamp_min(0), (1, *images.shape[1:]))


def _cache_path(dataset: str) -> Path:
    digest = checksums(dataset)["train-images-idx3-ubyte"][:12]
    return cache_dir() / "pca" / f"{dataset}-{digest}.safetensors"


def load_pca(dataset: str, *, device: Optional[torch.device] = None) -> PCA:
    """The PCA of ``dataset``'s training split, from the cache or fitted (and cached) now."""
    from safetensors import safe_open

    path = _cache_path(dataset)
    pca = None
    if path.exists():
        try:
            if not path.is_file():
                raise ValueError("not a regular file")
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                # clone: the file is mapped, and a mapping of a file rewritten in place dies with SIGBUS
                t = {k: handle.get_tensor(k).clone() for k in handle.keys()}
            problem = checksum_problem(t, metadata)
            if problem:
                raise ValueError(problem)
            pca = PCA(t["mean"], t["components"], t["variances"], tuple(json.loads(metadata["image_shape"])))
        except Exception as exc:  # a damaged cache is refitted, never trusted
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            LOGGER.warning(f"the PCA cache {shown(path)} is damaged ({reason}); fitting PCA again")
            pca = None
    if pca is None:
        pca = fit_pca(load_dataset(dataset, "train").images)
        try:
            atomic_save_safetensors(path, {"mean": pca.mean, "components": pca.components, "variances": pca.variances},
                                    {"image_shape": json.dumps(list(pca.image_shape))})
        except OSError:
            pass  # a read-only cache only costs the refit next time
    return pca.to(device) if device is not None else pca
