"""Evaluate models (and their PCA baselines) on a test split: ``zoo.evaluate`` and ``zoo.compare``."""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import torch

from ..data import check_limit, load_dataset
from ..errors import UsageError, checked_call, did_you_mean
from ..models import eval_mode
from ..recipe import Noise
from ..registry import list_models
from ..seeds import derive_seed
from ..weights import has_weights, load
from .likelihood import fits_data, nll
from .measured import row_of
from .metrics import METRICS
from .pca import load_pca
from .probe import linear_probe
from .scoring import check_model, device_of, model_dataset, score

DEFAULT_METRICS = ("mse", "psnr", "ssim")
ALL_METRICS = tuple(METRICS)
EVAL_METRICS = (*METRICS, "nll")  # zoo eval also takes nll: importance-sampled, with its ELBO beside it
COMPARE_COLUMNS = ["name", "dataset", "latent_dim", "params", *METRICS, "nll", "nll_k", "elbo", "fd",
                   *(f"pca_{m}" for m in METRICS), "pca_fd", "floor_fd", "source"]
# what zoo compare's table shows without --wide (fits 120 columns): the rest is in --wide, JSON and CSV
COMPARE_NARROW = ["name", "dataset", "latent_dim", "params", "mse", "psnr", "ssim", "nll", "nll_k", "fd", "source"]
SORTABLE = [c for c in COMPARE_COLUMNS if c not in ("name", "dataset", "source")]  # the numeric columns


def compare_columns(metric: str, wide: bool) -> List[str]:
    """The columns of zoo compare's table: all of them, or the narrow set with PCA's value of the sort column."""
    if wide:
        return COMPARE_COLUMNS
    pca = [f"pca_{metric}"] if f"pca_{metric}" in COMPARE_COLUMNS else []
    return [*COMPARE_NARROW[:-1], *pca, COMPARE_NARROW[-1]]


HIGHER_IS_BETTER = {c for c in SORTABLE if c.removeprefix("pca_") in ("psnr", "ssim", "elbo")}


def check_metrics(metrics: Union[str, Iterable[str]]) -> tuple:
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    for name in names:
        if name not in METRICS:
            hint = did_you_mean(name, METRICS) or f" Known metrics: {', '.join(METRICS)}."
            raise UsageError(f"Unknown metric {name!r}.{hint}")
    if not names:
        raise UsageError("Name at least one metric")
    return names


def test_images(dataset: str, limit: Optional[int]) -> torch.Tensor:
    return load_dataset(dataset, "test").images[:check_limit(limit)]


@checked_call
def evaluate(
    model: torch.nn.Module,
    *,
    dataset: Optional[str] = None,
    metrics: Iterable[str] = DEFAULT_METRICS,
    limit: Optional[int] = None,
    denoising: bool = False,
) -> Dict[str, Any]:
    """Metrics of ``model`` on the test split of ``dataset`` (default: the model's own).

    Args:
        model: a zoo model (``zoo.load(...)``); evaluated in eval mode on its own device.
        dataset: ``"mnist"`` or ``"fashion-mnist"``; default: the data set the model was trained on.
        metrics: any of ``"mse"``, ``"psnr"``, ``"ssim"``, ``"bce"``.
        limit: evaluate on the first ``limit`` test images only (default: all 10,000).
        denoising: corrupt the inputs with the model's recipe noise (fixed seed) and score
            the reconstructions against the clean images.
    Returns:
        ``{"dataset", "n", <metric>: mean, ...}``.
    """
    check_model(model, "evaluate")
    metrics = check_metrics(metrics)
    entry = getattr(model, "entry", None)
    dataset = model_dataset(model, dataset, "evaluate")
    noise = None
    if denoising:
        noise = entry.recipe.noise if entry is not None else None
        if noise is None:
            raise UsageError("denoising=True needs a model whose recipe corrupts its inputs")
        noise = noise.hardest()  # scored at the strongest level the recipe trains on
    images = test_images(dataset, limit)
    seed = derive_seed(entry.recipe.seed if entry is not None else 0, "test")
    with eval_mode(model):
        result = score(model, images, metrics, device=device_of(model), noise=noise, noise_seed=seed)
    return {"dataset": dataset, "n": len(images), **result}


def evaluate_pca(dataset: str, k: int, *, metrics: Iterable[str] = DEFAULT_METRICS, limit: Optional[int] = None,
                 noise: Optional[Noise] = None, noise_seed: int = 0, device=None) -> Dict[str, Any]:
    """The same metrics for PCA with ``k`` components fitted on ``dataset``'s training split;
    ``params`` is the PCA's size (k components and the mean)."""
    device = torch.device(device or "cpu")
    pca = load_pca(dataset, device=device)
    images = test_images(dataset, limit)
    result = score(lambda x: pca.reconstruct(x, k), images, check_metrics(metrics), device=device,
                   noise=noise, noise_seed=noise_seed)
    return {"dataset": dataset, "n": len(images), "params": pca.num_parameters(k), **result}


@checked_call
def compare(names: Optional[Sequence[str]] = None, *, metric: str = "ssim", limit: Optional[int] = None,
            device=None, samples: Optional[int] = None, reuse: bool = True,
            progress: Optional[Callable[[str], None]] = None, label: str = "compare") -> List[Dict[str, Any]]:
    """Every model with weights (or ``names``: registry names or run folders), best first by ``metric`` (any
    numeric column; a model without it comes last); ``progress``, when given, is called with a line as each
    model starts and as it ends (with an estimate of the time left), each beginning with ``label``.

    Each row: name, dataset, latent_dim, params, the four metrics, ``nll`` and ``elbo`` (nats per test
    image, importance-sampled with ``nll_k`` draws; None for a model without a likelihood or on grey
    data), ``fd`` (a generative MNIST model's 10,000 samples; None otherwise), ``pca_*`` the four metrics for
    PCA with as many components as the model's code, fitted on the same data set's train split, ``pca_fd``
    that PCA's Gaussian samples' fd and ``floor_fd`` the training images', and ``source``: a shipped entry's
    card, the measurement cache or ``measured`` now (zoo.evaluation.measured; ``reuse=False`` measures all).
    ``samples`` (K of the NLL): None takes a card's K (5000) where a card serves, else 100.
    """
    check_sort(metric)
    return sort_rows(list(compare_rows(names, limit=limit, device=device, samples=samples, reuse=reuse,
                                       progress=progress, label=label)), metric)


def compare_rows(names: Optional[Sequence[str]] = None, *, limit: Optional[int] = None, device=None,
                 samples: Optional[int] = None, reuse: bool = True, progress: Optional[Callable[[str], None]] = None,
                 label: str = "compare") -> Iterator[Dict[str, Any]]:
    """:func:`compare`'s rows one at a time, in the order of ``names`` (what zoo report writes as it goes)."""
    if isinstance(names, (str, os.PathLike)):  # one name
        names = [names]
    if not names:
        names = [n for n in list_models() if has_weights(n)]
        if not names:
            raise UsageError("No registry model has trained weights yet; name run folders instead, "
                             "e.g. zoo compare runs/deep-784-32")
    baselines: Dict[Any, Any] = {}
    began = time.perf_counter()
    for number, name in enumerate(names, 1):
        started = time.perf_counter()
        if progress is not None:
            progress(f"{label}: {number}/{len(names)} {name} ...")
        model = load(name, device=device)
        row = row_of(name, model, limit=limit, samples=samples, reuse=reuse,
                     measure=lambda k: _measure(model, limit, k, baselines))
        if progress is not None:
            now = time.perf_counter()
            left = (now - began) / number * (len(names) - number)
            progress(f"{label}: {number}/{len(names)} {name} {row['source']} in {now - started:.1f} s"
                     + (f"; about {left:.0f} s left" if number < len(names) else ""))
        yield row


def _measure(model, limit: Optional[int], samples: int, baselines: Dict[Any, Any]) -> Dict[str, Any]:
    entry = model.entry
    result = evaluate(model, metrics=ALL_METRICS, limit=limit)
    row = {m: result[m] for m in ALL_METRICS}
    row.update(likelihood_columns(model, entry.dataset, samples, limit))
    key = (entry.dataset, entry.latent_dim, str(device_of(model)))  # models of one code size share it
    if key not in baselines:
        baselines[key] = evaluate_pca(entry.dataset, entry.latent_dim, metrics=ALL_METRICS, limit=limit,
                                      device=device_of(model))
    row.update({f"pca_{m}": baselines[key][m] for m in ALL_METRICS})
    row.update(sample_columns(model, entry.dataset, entry.latent_dim, baselines))
    return row


def likelihood_columns(model, dataset: str, samples: int, limit: Optional[int]) -> Dict[str, Any]:
    """``nll`` and ``elbo`` where they are defined (a likelihood model on data its pixels fit), else None."""
    if not fits_data(model, dataset):
        return {"nll": None, "elbo": None}
    result = nll(model, samples=samples, dataset=dataset, limit=limit)
    return {"nll": result["nll"], "elbo": result["elbo"]}


def sample_columns(model, dataset: str, k: int, cache: Dict[Any, Any]) -> Dict[str, Any]:
    """``fd`` of a generative model's 10,000 samples (its default sampler, seed 0) where fd is defined (MNIST),
    beside sampled PCA-k and the training images; None elsewhere."""
    from .classifier import CLASSIFIER_DATASETS
    from .quality import fd, floor_fd, pca_fd
    from .sampling import generative

    if not (generative(model) and dataset in CLASSIFIER_DATASETS):
        return {"fd": None, "pca_fd": None, "floor_fd": None}
    if ("fd", dataset, k) not in cache:
        cache[("fd", dataset, k)] = pca_fd(dataset, k)
    if ("floor", dataset) not in cache:
        cache[("floor", dataset)] = floor_fd(dataset)
    return {"fd": fd(model)["fd"], "pca_fd": cache[("fd", dataset, k)], "floor_fd": cache[("floor", dataset)]}


def check_sort(column: str) -> str:
    if column not in SORTABLE:
        hint = did_you_mean(column, SORTABLE) or f" Columns: {', '.join(SORTABLE)}."
        raise UsageError(f"Cannot sort by {column!r}.{hint}")
    return column


def sort_rows(rows: List[Dict[str, Any]], column: str) -> List[Dict[str, Any]]:
    """Best first by ``column`` (descending where higher is better); rows without it last, in their order."""
    check_sort(column)
    sign = -1 if column in HIGHER_IS_BETTER else 1
    return sorted(rows, key=lambda r: (r.get(column) is None, sign * r[column] if r.get(column) is not None else 0))


def eval_rows(target: str, *, metrics: Iterable[str] = ALL_METRICS, limit: Optional[int] = None,
              probe: bool = False, baseline: bool = True, device=None, dataset: Optional[str] = None,
              samples: int = 5000, force: bool = False, say: Optional[Callable[[str], None]] = None
              ) -> List[Dict[str, Any]]:
    """What ``zoo eval`` prints: the model's rows (reconstruction, and denoising where its recipe
    corrupts inputs) and, with ``baseline``, the same rows for PCA of the same size; on ``dataset``
    (default: the model's own). ``"nll"`` among the metrics adds ``nll`` and ``elbo`` (importance-sampled
    with ``samples`` draws) to the reconstruction row; a model without a likelihood, or grey data, is
    refused first."""
    wanted = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    metrics = tuple(m for m in wanted if m != "nll")
    if metrics or not wanted:
        check_metrics(metrics)  # unknown names, or none at all: one line
    model = load(target, device=device)
    entry = model.entry
    k, device = entry.latent_dim, device_of(model)
    dataset = model_dataset(model, dataset, "eval")
    likelihood = nll(model, samples=samples, dataset=dataset, limit=limit, force=force, say=say,
                     progress=say is not None) if "nll" in wanted else None
    common = {"dataset": dataset, "latent_dim": k}
    tasks = [("reconstruction", None)]
    if entry.recipe.noise is not None:
        tasks.append(("denoising", entry.recipe.noise.hardest()))
    probe_result = None
    if probe:
        probe_result = linear_probe(model, dataset=dataset, limit=limit)
    rows = []
    for task, noise in tasks:
        result = evaluate(model, dataset=dataset, metrics=metrics or ALL_METRICS[:1], limit=limit,
                          denoising=noise is not None)
        row = {"name": str(target), "task": task, **common, "params": model.num_parameters(), "n": result["n"],
               **{m: result[m] for m in metrics}}
        if likelihood is not None:
            row.update(nll=likelihood["nll"] if task == "reconstruction" else None,
                       elbo=likelihood["elbo"] if task == "reconstruction" else None,
                       bits_per_dim=likelihood["bits_per_dim"] if task == "reconstruction" else None)
        if probe_result is not None:
            row["probe_accuracy"] = probe_result["probe_accuracy"]
        rows.append(row)
        if baseline:
            seed = derive_seed(entry.recipe.seed, "test")
            pca = evaluate_pca(dataset, k, metrics=metrics or ALL_METRICS[:1], limit=limit, noise=noise, noise_seed=seed,
                               device=device)
            row = {"name": f"pca-{k}", "task": task, **common, "params": pca["params"], "n": pca["n"],
                   **{m: pca[m] for m in metrics}, **({"nll": None, "elbo": None, "bits_per_dim": None} if likelihood else {})}
            if probe_result is not None:
                row["probe_accuracy"] = probe_result["pca_probe_accuracy"]
            rows.append(row)
    return rows
