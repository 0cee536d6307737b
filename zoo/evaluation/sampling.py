"""``zoo.sample``: images drawn from a model by a *sampler*.

- ``prior``: codes drawn from the distribution the model's codes were trained towards (a VAE's p(z), a WAE's
  or an AAE's N(0, I)), decoded; the model's ``sample_prior``.
- ``gmm``: a Gaussian mixture (10 components, full covariances) fitted once to the codes of the model's
  training images (its data set's fit split), decoded: any autoencoder with continuous codes, and the way an
  RAE generates. The mixture is stored as ``gmm.safetensors`` beside the weights (checksummed, and tied to the
  weights by their SHA-256: a file fitted to other weights is refused), refitted when missing; where the
  weights' folder cannot be written it is kept in ``$ZOO_CACHE_DIR/samplers/``.

A family's default sampler is its class attribute ``default_sampler`` (``prior`` where it has one, else ``gmm``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple

import torch

from ..data import load_dataset
from ..errors import UsageError, WeightsError, shown
from ..io import atomic_save_safetensors, read_verified_safetensors
from ..models.base import eval_mode
from ..models.capabilities import capabilities
from ..paths import cache_dir
from ..seeds import check_seed
from ..weights import stored_sha256, weights_dir
from .gmm import GaussianMixture, fit_gaussian_mixture, mixture_problem
from .scoring import check_model, device_of, encode_all, model_dataset

SAMPLERS = ("prior", "gmm")
GMM_FILE = "gmm.safetensors"
GMM_COMPONENTS = 10
MAX_SAMPLES = 1_000_000
CHUNK = 1000  # codes decoded at a time


def model_name(model: torch.nn.Module) -> str:
    entry = getattr(model, "entry", None)
    return entry.name if entry is not None else type(model).__name__


def has_prior(model: torch.nn.Module) -> bool:
    return capabilities(model).prior_sampling


def default_sampler(model: torch.nn.Module) -> str:
    """The sampler a model generates with unless told: the one its family declares."""
    return capabilities(model).default_sampler


def generative(model: torch.nn.Module) -> bool:
    """A model that its family declares generative (cards and zoo compare measure its samples)."""
    return capabilities(model).generative


def check_sampler(model: torch.nn.Module, sampler: Optional[str]) -> str:
    sampler = default_sampler(model) if sampler is None else sampler
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    name = model_name(model)
    if sampler == "prior" and not has_prior(model):
        raise UsageError(f"{name} has no prior to sample (its codes were not trained towards one): use --sampler gmm")
    if sampler == "gmm" and not capabilities(model).continuous_code:
        raise UsageError(f"{name} has no continuous codes to fit a mixture to (its code is {capabilities(model).code_kind}): "
                         f"use --sampler prior")
    return sampler


def weights_sha256(model: torch.nn.Module) -> str:
    return stored_sha256(model)


def gmm_path(model: torch.nn.Module) -> Optional[Path]:
    """Where the model's mixture lives: beside its weights when that folder is writable, else in the cache
    (named by the weights' SHA-256); None for a model that came from no weights file."""
    weights = getattr(model, "weights_file", None)
    if weights is None:
        return None
    beside = Path(weights).parent / GMM_FILE
    shipped = Path(weights).resolve().parent.parent == weights_dir().resolve()
    if beside.exists() or (not shipped and os.access(beside.parent, os.W_OK)):  # never added to the shipped weights
        return beside
    return cache_dir() / "samplers" / f"{weights_sha256(model)[:32]}.{GMM_FILE}"


def read_gmm(path: Path, model: torch.nn.Module) -> GaussianMixture:
    """The mixture in ``path``, refused (WeightsError, one line) when damaged or fitted to other weights."""
    try:
        tensors, meta = read_verified_safetensors(path)
    except Exception as exc:  # noqa: BLE001 - safetensors' own error for a file that is not one, OSError, ValueError
        raise WeightsError(f"the sampler file {shown(path)} is unreadable ({exc}); delete it to refit the mixture") from None
    sha = weights_sha256(model)
    if meta.get("zoo.sampler") != "gmm" or set(tensors) != {"weights", "means", "covariances"}:
        raise WeightsError(f"{shown(path)} is not a zoo gmm sampler file; delete it to refit the mixture")
    if meta.get("zoo.weights_sha256") != sha:
        raise WeightsError(f"the sampler file {shown(path)} was fitted to other weights (SHA-256 "
                           f"{meta.get('zoo.weights_sha256', '?')[:12]}..., not {sha[:12]}... of {model_name(model)}); "
                           f"delete it to refit the mixture")
    means = tensors["means"]
    if means.dim() == 2 and means.shape[1] != model.latent_dim:
        raise WeightsError(f"the sampler file {shown(path)} holds {means.shape[1]}-d codes; "
                           f"{model_name(model)}'s are {model.latent_dim}-d")
    problem = mixture_problem(tensors, model.latent_dim)
    try:
        log_likelihood = float(meta["zoo.log_likelihood"])
    except (KeyError, ValueError):
        problem = problem or "its header has no zoo.log_likelihood number"
    if problem:
        raise WeightsError(f"the sampler file {shown(path)} is not a usable mixture: {problem}; delete it to refit")
    return GaussianMixture(tensors["weights"], means, tensors["covariances"], log_likelihood)


def fit_gmm(model: torch.nn.Module, *, dataset: Optional[str] = None) -> Tuple[GaussianMixture, str]:
    """A mixture fitted to the codes of ``dataset``'s fit split (default: the model's own data set)."""
    dataset = model_dataset(model, dataset, "zoo.sample")
    images = load_dataset(dataset, "fit").images
    with eval_mode(model):
        codes = encode_all(model.encode, images, device_of(model)).cpu()
    return fit_gaussian_mixture(codes, GMM_COMPONENTS, seed=0), dataset


def gaussian_mixture(model: torch.nn.Module, *, refit: bool = False, path: Optional[Path] = None,
                     say: Callable[[str], None] = lambda line: None) -> GaussianMixture:
    """The model's ``gmm`` sampler: read from its file (``path``, default :func:`gmm_path`), or fitted (and
    written) when the file is missing or ``refit``."""
    path = gmm_path(model) if path is None else path
    if path is not None and path.exists() and not refit:
        return read_gmm(path, model)
    say(f"fitting a {GMM_COMPONENTS}-component Gaussian mixture to {model_name(model)}'s training codes")
    mixture, dataset = fit_gmm(model)
    if path is not None:
        meta = {"zoo.sampler": "gmm", "zoo.weights_sha256": weights_sha256(model), "zoo.dataset": dataset,
                "zoo.split": "fit", "zoo.components": str(GMM_COMPONENTS), "zoo.seed": "0",
                "zoo.log_likelihood": repr(mixture.log_likelihood)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_save_safetensors(path, mixture.tensors(), meta)
        except OSError as exc:
            say(f"could not keep the mixture in {shown(path)} ({exc.strerror or exc}); it is refitted next time")
    return mixture


@torch.no_grad()
def _silent(line: str) -> None:
    pass


ESTIMATE_DRAW = 64  # codes drawn (and dropped) to time a long prior draw before it starts


def sample(model: torch.nn.Module, n: int, *, sampler: Optional[str] = None, seed: int = 0,
           say: Callable[[str], None] = _silent) -> torch.Tensor:
    """``n`` images (n, C, H, W), float32 in [0, 1] on the CPU, from ``model`` by ``sampler`` (``"prior"`` or
    ``"gmm"``; default: the model's ``default_sampler``), drawn from a generator seeded with ``seed``."""
    return torch.cat(list(sample_chunks(model, n, sampler=sampler, seed=seed, say=say)))


def check_request(model: torch.nn.Module, n: int, *, sampler: Optional[str], seed: int) -> str:
    """The sampler a request for ``n`` samples with ``seed`` uses; a bad one refused in one line, before any work."""
    check_model(model, "zoo.sample")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise UsageError(f"--n must be a whole number from 1 to {MAX_SAMPLES:,}, got {n!r}")
    check_seed(seed, "--seed")
    return check_sampler(model, sampler)


def sample_chunks(model: torch.nn.Module, n: int, *, sampler: Optional[str] = None, seed: int = 0,
                  say: Callable[[str], None] = _silent) -> Iterator[torch.Tensor]:
    """:func:`sample`'s images, ``CHUNK`` at a time (the same images: the codes are drawn first, then decoded a
    chunk at a time), so that a caller keeps only what it needs of them. Checks run before the first chunk.
    Given ``say``, a prior draw of more than ``ESTIMATE_DRAW`` codes is timed on that many first (other draws,
    dropped) and its estimate said where it is above a second (a PixelCNN prior draws position by position)."""
    sampler = check_request(model, n, sampler=sampler, seed=seed)
    device = device_of(model)
    if sampler == "gmm":  # the mixture lives on the CPU: the same draws on every device
        codes = gaussian_mixture(model, say=say).sample(n, torch.Generator().manual_seed(seed))
    else:
        with eval_mode(model):
            if say is not _silent and n > ESTIMATE_DRAW:
                started = time.perf_counter()
                model.sample_prior(ESTIMATE_DRAW, torch.Generator(device=device).manual_seed(seed + 1))
                about = (time.perf_counter() - started) * n / ESTIMATE_DRAW
                if about > 1:
                    say(f"sample: {n:,} codes from {model_name(model)}'s prior, about {about:.0f} s")
            codes = model.sample_prior(n, torch.Generator(device=device).manual_seed(seed))
    return _decoded(model, codes, device)


@torch.no_grad()
def _decoded(model: torch.nn.Module, codes: torch.Tensor, device: torch.device) -> Iterator[torch.Tensor]:
    for start in range(0, len(codes), CHUNK):
        with eval_mode(model):
            yield model.decode(codes[start:start + CHUNK].to(device).float()).float().clamp(0, 1).cpu()
