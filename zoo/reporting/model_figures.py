"""Figures that need a model or the data: latent space, samples, a chosen digit, interpolation,
the data set itself, and the comparison figures of ``zoo compare --out``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..data import dataset_info, load_dataset, to_float
from ..errors import UsageError, option
from ..evaluation.metrics import METRICS
from ..evaluation.results import HIGHER_IS_BETTER
from ..evaluation.scoring import continuous_view, device_of, model_dataset
from ..figures import bar_figure, image_grid, image_rows_figure, reconstruction_grid, save_figure, scatter_figure
from ..weights import load


@torch.no_grad()
def latent_points(model, images: torch.Tensor, *, method: str = "pca", seed: int = 0) -> Tuple[torch.Tensor, str]:
    """The codes of uint8 ``images`` in 2-d (float64, on the CPU): the code itself if it is 2-d, else
    its PCA or t-SNE projection; and how they were made."""
    model.eval()
    encode, _, what = continuous_view(model)
    codes = encode(to_float(images.to(device_of(model)))).double().cpu()
    k = codes.shape[1]
    if k == 2:
        return codes, "code"
    if method == "pca":
        centred = codes - codes.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        return centred @ v[:2].T, f"PCA of the {k}-d {what}"
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            raise UsageError(f"t-SNE needs scikit-learn: pip install scikit-learn (or use {option('--method')} pca)") from None
        points = torch.from_numpy(TSNE(n_components=2, init="pca", random_state=seed).fit_transform(codes.numpy()))
        return points, f"t-SNE of the {k}-d {what}"
    raise UsageError(f"Unknown projection {method!r}: use pca or tsne")


@torch.no_grad()
def latent_figure(model, *, dataset: Optional[str] = None, method: str = "pca", limit: int = 5000, seed: int = 0):
    """Test codes in 2-d coloured by label: the code itself if 2-d, else a PCA or t-SNE projection."""
    dataset = model_dataset(model, dataset, "plot")
    test = load_dataset(dataset, "test")
    points, how = latent_points(model, test.images[:limit], method=method, seed=seed)
    labels = test.labels[:limit] if test.labels is not None else torch.zeros(len(points), dtype=torch.long)
    classes = dataset_info(dataset).classes or ("images",)  # no labels: one colour
    k = model.latent_dim
    name = model.entry.name or "model"
    axis = "z" if k == 2 else how.split(" of ")[0].lower()
    return scatter_figure(points, labels, classes, title=f"{name}: {how}, {len(labels)} test images",
                          xlabel=f"{axis} 1", ylabel=f"{axis} 2")


@torch.no_grad()
def samples_grid(model, *, n: int = 64, seed: int = 0) -> torch.Tensor:
    """``n`` images by a generative model's default sampler (``zoo.sample``), 8 a row (the last row may be short)."""
    from ..evaluation.sampling import generative, model_name, sample

    if not generative(model):
        raise UsageError(f"{model_name(model)} does not generate by itself (it has no prior): zoo sample "
                         f"{model_name(model)} --sampler gmm draws through a mixture fitted to its codes")
    return image_grid(sample(model, n, seed=seed), nrow=min(8, n))


@torch.no_grad()
def digit_grid(model, digit: int, *, n: int = 8, dataset: Optional[str] = None) -> torch.Tensor:
    """The first ``n`` test images of class ``digit`` above their reconstructions."""
    dataset = model_dataset(model, dataset, "plot")
    classes = dataset_info(dataset).classes
    if classes is None:
        raise UsageError(f"{dataset} has no labels, so no class to show; use zoo plot interpolate or latent")
    if not 0 <= digit < len(classes):
        raise UsageError(f"{option('--digit')} must be 0 to {len(classes) - 1}, got {digit}")
    test = load_dataset(dataset, "test")
    x = to_float(test.images[test.labels == digit][:n].to(device_of(model)))
    model.eval()
    return reconstruction_grid([x, model(x)], nrow=len(x))


def dataset_grid(dataset: str, *, n: int = 5, seed: int = 0) -> torch.Tensor:
    """An n x n grid of training images drawn with ``seed``."""
    train = load_dataset(dataset, "train")
    idx = torch.randperm(len(train.images), generator=torch.Generator().manual_seed(seed))[: n * n]
    return reconstruction_grid([to_float(train.images[idx])], nrow=n)


@torch.no_grad()
def interpolation_grid(model, *, start: int = 0, end: int = 1, steps: int = 10, dataset: Optional[str] = None) -> torch.Tensor:
    """Decodings along the straight line between the codes of test images ``start`` and ``end`` (for a discrete
    code, between their encoder outputs, each point quantized)."""
    dataset = model_dataset(model, dataset, "plot")
    test = load_dataset(dataset, "test")
    for which, i in (("--start", start), ("--end", end)):
        if not 0 <= i < len(test.images):
            raise UsageError(f"{which} must be a test image index 0 to {len(test.images) - 1}, got {i}")
    if steps < 2:
        raise UsageError(f"{option('--steps')} must be >= 2, got {steps}")
    model.eval()
    x = to_float(test.images[[start, end]].to(device_of(model)))
    encode, decode, _ = continuous_view(model)
    za, zb = encode(x)
    t = torch.linspace(0, 1, steps, device=za.device).unsqueeze(1)
    return reconstruction_grid([decode((1 - t) * za + t * zb)], nrow=steps)


@torch.no_grad()
def write_comparison(rows: List[Dict[str, Any]], metric: str, out: str, *, device=None, n: int = 8) -> List[Path]:
    """``<metric>.png`` (bars, with PCA baselines) and ``reconstructions.png`` (same test images, every model)."""
    out_dir = Path(out)
    label = METRICS[metric].label if metric in METRICS else metric
    paths = [out_dir / f"{metric}.png", out_dir / "reconstructions.png"]
    better = "higher" if metric in HIGHER_IS_BETTER else "lower"
    have = [r for r in rows if r.get(metric) is not None]  # the models with this column
    baselines = [r[f"pca_{metric}"] for r in have] if all(r.get(f"pca_{metric}") is not None for r in have) else None
    bars = bar_figure([Path(r["name"]).name for r in have], [r[metric] for r in have], baselines,
                      label=label, title=f"{label} on the test split ({better} is better)")
    save_figure(paths[0], bars)
    image_rows: List[tuple] = []
    shown = set()
    for row in rows:
        model = load(row["name"], device=device)
        x = to_float(load_dataset(row["dataset"], "test").images[:n].to(device_of(model)))
        if row["dataset"] not in shown:  # one row of originals per data set
            image_rows.append((f"original ({row['dataset']})", x))
            shown.add(row["dataset"])
        image_rows.append((Path(row["name"]).name, model(x)))
    save_figure(paths[1], image_rows_figure(image_rows, title="The same test images, reconstructed by each model"))
    return paths
