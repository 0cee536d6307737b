"""PCA baselines: the linear autoencoder every model has to beat at the same code size.

Fitted on the full training split (60,000 images, pixels in [0, 1]) in float64 by eigendecomposition
of the covariance, and cached per data set as safetensors under ``$ZOO_CACHE_DIR/pca/``: every code
size reuses one fit. Reconstructions are not clipped to [0, 1], as in the published reference
points (MNIST, 30 components: 13.87 squared error per test image, Hinton & Salakhutdinov 2006).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .data import cache_dir, checksums, load_dataset, to_float
from .errors import UsageError
from .io import atomic_save_safetensors

PIXELS = 28 * 28


@dataclass
class PCA:
    """``mean`` (784,), ``components`` (784, 784) as columns sorted by ``variances`` (descending)."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor

    def to(self, device) -> "PCA":
        return PCA(self.mean.to(device), self.components.to(device), self.variances.to(device))

    def _basis(self, k: int) -> torch.Tensor:
        if not 1 <= k <= PIXELS:
            raise UsageError(f"PCA needs 1 to {PIXELS} components, got {k}")
        return self.components[:, :k]

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Codes ``(N, k)`` of images ``(N, 1, 28, 28)``."""
        return (x.flatten(1).double() - self.mean) @ self._basis(k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` (float64, not clipped) from codes ``(N, k)``."""
        return (z @ self._basis(z.shape[1]).T + self.mean).view(-1, 1, 28, 28)

    def reconstruct(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return self.decode(self.encode(x, k))


def fit_pca(images: torch.Tensor) -> PCA:
    """PCA of uint8 images ``(N, 28, 28)`` in float64."""
    x = to_float(images).flatten(1).double()
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / len(x)
    variances, vectors = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(variances, descending=True)
    vectors = vectors[:, order]
    # fix each component's sign (largest entry positive) so fits agree across machines
    signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
    return PCA(mean, vectors * signs, variances[order].clamp_min(0))


def _cache_path(dataset: str) -> Path:
    digest = checksums(dataset)["train-images-idx3-ubyte"][:12]
    return cache_dir() / "pca" / f"{dataset}-{digest}.safetensors"


def load_pca(dataset: str, *, device: Optional[torch.device] = None) -> PCA:
    """The PCA of ``dataset``'s training split, from the cache or fitted (and cached) now."""
    from safetensors.torch import load_file

    path = _cache_path(dataset)
    pca = None
    if path.is_file():
        try:
            # clone: load_file maps the file, and a mapping of a file rewritten in place dies with SIGBUS
            t = {k: v.clone() for k, v in load_file(str(path)).items()}
            pca = PCA(t["mean"], t["components"], t["variances"])
        except Exception:  # a damaged cache is refitted, not trusted
            pca = None
    if pca is None:
        pca = fit_pca(load_dataset(dataset, "train").images)
        try:
            atomic_save_safetensors(path, {"mean": pca.mean, "components": pca.components, "variances": pca.variances})
        except OSError:
            pass  # a read-only cache only costs the refit next time
    return pca.to(device) if device is not None else pca
