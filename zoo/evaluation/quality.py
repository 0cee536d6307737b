"""Sample quality by ``fd`` (:mod:`.classifier`): a model's samples, and the two baselines beside them.

- ``zoo.fd(model)``: 10,000 samples by the model's default sampler (seed 0) against the test set;
- :func:`pca_fd`: PCA with a Gaussian on its codes, sampled: the codes of PCA-k of the training images have
  mean 0 and the top k variances on the diagonal, so the draws are N(0, diag(variances)), decoded;
- :func:`floor_fd`: 10,000 training images against the test set, what real digits score (the floor).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch

from ..data import load_dataset, to_float
from ..errors import UsageError, checked_call
from ..seeds import check_seed
from .classifier import FD_SAMPLES, classifier_source, fd_of
from .pca import load_pca
from .sampling import check_sampler, sample, weights_sha256
from .scoring import check_model, device_of, model_dataset

_MEMO: "OrderedDict[Tuple, float]" = OrderedDict()  # fd by (weights SHA-256, class, sampler, seed, samples, data, device)


def _check_samples(samples: Any) -> int:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(f"samples must be a whole number >= 2 (fd fits a Gaussian), got {samples!r}")
    return samples


@checked_call
def fd(model: torch.nn.Module, *, samples: int = FD_SAMPLES, sampler: Optional[str] = None, seed: int = 0,
       dataset: Optional[str] = None) -> Dict[str, Any]:
    """``fd`` of ``samples`` images drawn from ``model`` by ``sampler`` (default: the model's own) with ``seed``,
    against ``dataset``'s test set (default: the model's data set; fd is defined for MNIST). Returns
    ``{"fd", "samples", "sampler", "seed", "dataset"}``."""
    check_model(model, "zoo.fd")
    check_seed(seed)
    dataset = model_dataset(model, dataset, "zoo.fd")
    classifier_source(dataset)  # refuse a data set without a classifier before sampling
    used = check_sampler(model, sampler)
    key = (weights_sha256(model), type(model).__name__, used, seed, _check_samples(samples), dataset, str(device_of(model)))
    if key not in _MEMO or used != "prior":  # the same weights draw the same prior samples: measured once a process
        images = sample(model, samples, sampler=used, seed=seed)
        _MEMO[key] = fd_of(images, dataset)
        while len(_MEMO) > 64:
            _MEMO.popitem(last=False)
    return {"fd": _MEMO[key], "samples": samples, "sampler": used, "seed": seed, "dataset": dataset}


def pca_fd(dataset: str, k: int, *, samples: int = FD_SAMPLES, seed: int = 0) -> float:
    """``fd`` of PCA-k's Gaussian samples (see the module's doc)."""
    classifier_source(dataset)
    pca = load_pca(dataset)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(_check_samples(samples), k, generator=g, dtype=torch.float64) * pca.variances[:k].sqrt()
    return fd_of(pca.decode(z).clamp(0, 1).float(), dataset)


def floor_fd(dataset: str, *, samples: int = FD_SAMPLES) -> float:
    """``fd`` of the first ``samples`` training images: real digits against the test set."""
    source = classifier_source(dataset)
    return fd_of(to_float(load_dataset(source, "train").images[:_check_samples(samples)]), dataset)
