"""The offline sample-quality score: ``fd``, the Fréchet distance between Gaussians fitted to a small MNIST
classifier's penultimate features (128-d) of generated images and of the test set.

Inception weights cannot be fetched here, so zoo ships its own feature network, trained by
``scripts/train_classifier.py`` (``weights/classifiers/mnist/``: weights, card with its test accuracy). ``fd``
is FID's formula on these features: lower is better, 0 for identical statistics; it is **not** comparable
with Inception FID values published elsewhere.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..data import load_dataset, to_float
from ..errors import UsageError, WeightsError, shown
from ..io import read_verified_safetensors
from ..paths import resource_path

FEATURES = 128
CLASSIFIER_DATASETS = {"mnist": "mnist", "mnist-binary": "mnist"}  # the data sets fd is defined on, and their classifier
FD_SAMPLES = 10_000


class MNISTClassifier(nn.Module):
    """Two 3x3 convolutions (32, 64) with max pooling, a 128-unit hidden layer (the features), 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.hidden = nn.Linear(64 * 7 * 7, FEATURES)
        self.out = nn.Linear(FEATURES, 10)
        self.dropout = nn.Dropout(0.25)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, 128) of images (N, 1, 28, 28) in [0, 1]."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.hidden(self.dropout(x.flatten(1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.features(x)))


def classifier_dir(dataset: str = "mnist") -> Path:
    return resource_path("ZOO_WEIGHTS_DIR", "weights") / "classifiers" / dataset


_LOADED: Dict[Tuple[str, str], MNISTClassifier] = {}


def load_classifier(dataset: str = "mnist", device: Optional[torch.device] = None) -> MNISTClassifier:
    """The shipped classifier (eval mode), its file's checksums verified; cached per process."""
    device = torch.device(device or "cpu")
    key = (dataset, str(device))
    if key not in _LOADED:
        path = classifier_dir(dataset) / "model.safetensors"
        try:
            tensors, _ = read_verified_safetensors(path)
        except Exception as exc:  # noqa: BLE001 - safetensors' own error, OSError, ValueError
            raise WeightsError(f"the {dataset} classifier {shown(path)} is unreadable ({exc}): "
                               f"python scripts/train_classifier.py makes it") from None
        model = MNISTClassifier()
        model.load_state_dict(tensors)
        _LOADED[key] = model.to(device).eval()
    return _LOADED[key]


@torch.no_grad()
def features_of(images: torch.Tensor, classifier: MNISTClassifier, batch: int = 1000) -> torch.Tensor:
    """Features (N, 128), float64 on the CPU, of images: uint8 (N, H, W) or floats (N, 1, H, W) in [0, 1]."""
    device = next(classifier.parameters()).device
    out = []
    for start in range(0, len(images), batch):
        x = images[start:start + batch].to(device)
        x = to_float(x) if x.dtype == torch.uint8 else x.float()
        out.append(classifier.features(x).double().cpu())
    return torch.cat(out)


def gaussian_stats(features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (unbiased, as numpy.cov) of features (N, D), float64."""
    x = features.double()
    mu = x.mean(0)
    diff = x - mu
    return mu, diff.T @ diff / (len(x) - 1)


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the trace of the root taken as the sum of the square roots
    of the eigenvalues of S1^(1/2) S2 S1^(1/2) (symmetric, so exact in float64)."""
    vals, vecs = torch.linalg.eigh(cov1.double())
    root1 = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = root1 @ cov2.double() @ root1
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * trace_root)


_TEST_STATS: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}


def test_stats(dataset: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The classifier's feature statistics of ``dataset``'s 10,000 test images (cached per process)."""
    source = classifier_source(dataset)
    if source not in _TEST_STATS:
        _TEST_STATS[source] = gaussian_stats(features_of(load_dataset(source, "test").images, load_classifier(source)))
    return _TEST_STATS[source]


def classifier_source(dataset: str) -> str:
    if dataset not in CLASSIFIER_DATASETS:
        raise UsageError(f"fd is defined for {', '.join(sorted(CLASSIFIER_DATASETS))} (zoo ships an MNIST classifier "
                         f"only), not {dataset}")
    return CLASSIFIER_DATASETS[dataset]


def fd_of(images: torch.Tensor, dataset: str) -> float:
    """``fd`` of ``images`` (generated, floats (N, 1, 28, 28) in [0, 1]) against ``dataset``'s test set."""
    classifier = load_classifier(classifier_source(dataset))
    return frechet_distance(*gaussian_stats(features_of(images, classifier)), *test_stats(dataset))
