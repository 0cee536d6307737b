"""Linear probe: how linearly separable the classes are in a model's code.

Multinomial logistic regression on standardised frozen codes, fitted on the training split with
full-batch L-BFGS in float64 (deterministic), scored as accuracy on the test split. The baseline is
the same probe on PCA codes of the same size. Labels are used here and for plots only, never to train
an autoencoder.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from ..data import check_limit, load_dataset
from ..errors import UsageError
from ..models import eval_mode
from .pca import load_pca
from .scoring import check_model, continuous_view, device_of, encode_all, model_dataset

L2 = 1e-4  # weight decay on the probe's weights (mean cross-entropy + L2/2 * |W|^2)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, *, l2: float = L2, max_iter: int = 500):
    """Weights ``(d, C)``, bias ``(C,)``, and the standardisation (mean, std) fitted on ``x``."""
    x = x.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    z = (x - mean) / std
    classes = int(y.max()) + 1
    w = torch.zeros(z.shape[1], classes, dtype=torch.float64, device=z.device, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, device=z.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-9,
                            tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z @ w + b, y) + 0.5 * l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach(), mean, std


def probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                   *, l2: float = L2) -> float:
    """Test accuracy of a logistic regression fitted on (train_x, train_y)."""
    w, b, mean, std = fit_logistic(train_x, train_y, l2=l2)
    pred = (((test_x.double() - mean) / std) @ w + b).argmax(1)
    return float((pred == test_y).double().mean())


def linear_probe(model: torch.nn.Module, *, dataset: Optional[str] = None, limit: Optional[int] = None) -> Dict[str, Any]:
    """Probe accuracy of ``model``'s codes and of PCA codes of the same size.

    ``limit`` cuts the test split to ``limit`` images and the training split to ``6 * limit``.
    """
    check_model(model, "linear_probe")
    dataset = model_dataset(model, dataset, "linear_probe")
    check_limit(limit)
    train = load_dataset(dataset, "train")
    test = load_dataset(dataset, "test")
    if train.labels is None:
        raise UsageError(f"The linear probe needs labels, and {dataset} has none (class folders, or y_train/y_test)")
    n_train = 6 * limit if limit else None
    device = device_of(model)
    encode = continuous_view(model)[0]  # a discrete code as its codebook vectors
    with eval_mode(model):
        train_codes = encode_all(encode, train.images[:n_train], device)
        test_codes = encode_all(encode, test.images[:limit], device)
    k = getattr(model, "latent_dim", train_codes.shape[1])  # PCA of the code size (a discrete code: its positions)
    pca = load_pca(dataset, device=device)
    pca_train = encode_all(lambda x: pca.encode(x, k), train.images[:n_train], device)
    pca_test = encode_all(lambda x: pca.encode(x, k), test.images[:limit], device)
    ytr, yte = train.labels[:n_train].to(device), test.labels[:limit].to(device)
    return {
        "dataset": dataset,
        "latent_dim": k,
        "probe_accuracy": probe_accuracy(train_codes, ytr, test_codes, yte),
        "pca_probe_accuracy": probe_accuracy(pca_train, ytr, pca_test, yte),
    }
