"""Test log-likelihood by importance sampling, written once against the likelihood contract
(``posterior(x)``, ``prior()``, ``likelihood(z)``: torch.distributions), so it serves any model that has it.

    log p(x) ~= log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x)

(Burda et al. 2016, the estimator of the VAE papers' tables). A model of binary pixels (Bernoulli) is measured on
binarized data in nats per image; a model of 8-bit pixels (discretized logistic) on any 8-bit data, where the
number is a probability of the 8-bit image and reported also in bits per dimension. The log-mean-exp is taken in float64 over
chunks of samples, so memory stays bounded for any K; the draws come from a seeded generator of their
own, so a number is reproducible. The ELBO is the mean of the same log-weights.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Dict, Optional

import torch

from ..data import check_limit, load_dataset, to_float
from ..devices import flush_denormal
from ..errors import UsageError, checked_call, option
from ..models import eval_mode
from ..models.capabilities import capabilities
from ..models.likelihoods import bits_per_dim
from ..seeds import check_seed
from ..sources.idx import binarized_from
from .scoring import check_model, device_of, model_dataset

MAX_SAMPLES = 100_000  # importance samples per image taken without force (the published tables use 5,000)
IMAGE_CHUNK = 100  # images encoded at a time
OUTPUT_BUDGET = 16 * 2**20  # bytes of decoder outputs per pass (float32): 5,349 MNIST codes. Alternating runs of
# vae-binary, K=1000 on 500 images, medians of 4: 4 MiB 3.41 s, 8 MiB 3.11 s, 16 MiB 2.96 s


def has_likelihood(model: torch.nn.Module) -> bool:
    """Whether the model's family declares the likelihood contract (``posterior``, ``prior``, ``likelihood``)."""
    return capabilities(model).likelihood


def is_binary(dataset: str) -> bool:
    """Whether ``dataset``'s pixels are 0 or 1 (a binarized built-in set)."""
    return binarized_from(dataset) is not None


def check_binary(dataset: str) -> None:
    """A Bernoulli likelihood needs 0/1 pixels: refuse grey data in one line."""
    if not is_binary(dataset):
        raise UsageError(f"{dataset} has grey pixels, where a Bernoulli likelihood makes no sense; the negative "
                         f"log-likelihood is measured on binarized data (mnist-binary), or by a model of 8-bit "
                         f"pixels (a likelihood family with likelihood \"logistic\")")


def fits_data(model: torch.nn.Module, dataset: str) -> bool:
    """Whether the model's likelihood is defined on ``dataset``'s pixels: Bernoulli on binarized data, the
    8-bit likelihood on any data set (every zoo data set holds 8-bit pixels)."""
    caps = capabilities(model)
    return caps.likelihood and (caps.pixels != "bernoulli" or is_binary(dataset))


def check_data(model: torch.nn.Module, dataset: str) -> None:
    if capabilities(model).pixels == "bernoulli":
        check_binary(dataset)


@torch.no_grad()
def log_weights(model: torch.nn.Module, x: torch.Tensor, samples: int,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """log p(x|z) + log p(z) - log q(z|x) for ``samples`` draws z ~ q(z|x), float32 (samples, N)."""
    return importance_sampler(model, x, generator)(samples)


@torch.no_grad()
def importance_sampler(model: torch.nn.Module, x: torch.Tensor,
                       generator: Optional[torch.Generator] = None) -> Callable[[int], torch.Tensor]:
    """A function of K giving :func:`log_weights` of ``x`` for K draws. A family that declares
    ``importance_weights`` computes them batched and fused (``model.importance_sampler``), drawing from
    ``generator``; any other model through its distributions (``posterior``, ``prior``, ``likelihood``), drawing
    from torch's global generator (seed it, or use :func:`nll`)."""
    if capabilities(model).importance_weights:
        return model.importance_sampler(x, generator=generator)
    q, prior = model.posterior(x), model.prior()

    @torch.no_grad()
    def draw(samples: int) -> torch.Tensor:
        z = q.sample((samples,))
        return model.likelihood(z).log_prob(x) + prior.log_prob(z) - q.log_prob(z)

    return draw


def samples_per_pass(model: torch.nn.Module, image: torch.Tensor, images: int) -> int:
    """How many draws per image a pass decodes: ``OUTPUT_BUDGET`` bytes of decoder outputs for ``images`` images."""
    outputs = image.numel() * (2 if capabilities(model).pixels == "logistic" else 1)
    return max(1, OUTPUT_BUDGET // (4 * outputs * images))


def _estimate(images: int, samples: int, passes: int, first: float, force: bool,
              say: Optional[Callable[[str], None]]) -> None:
    """After the first pass: the run's size and time, said; above MAX_SAMPLES without ``force``, refused."""
    estimate = first * passes
    line = (f"nll: {images:,} images x {samples:,} samples in {passes:,} passes, about {_duration(estimate)} "
            f"(the first took {first:.2f} s)")
    if samples > MAX_SAMPLES and not force:
        raise UsageError(f"{option('--samples', 'samples')} {samples:,} is above the {MAX_SAMPLES:,} per image zoo takes "
                         f"unless told (the published tables use 5,000); this run would take about {_duration(estimate)}: "
                         f"pass {option('--force', 'force=True')} to run it")
    if say is not None:
        say(line)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.0f} days"


@checked_call
def nll(model: torch.nn.Module, *, samples: int = 5000, dataset: Optional[str] = None, limit: Optional[int] = None,
        seed: int = 0, force: bool = False, say: Optional[Callable[[str], None]] = None,
        progress: bool = False) -> Dict[str, Any]:
    """Importance-sampled negative log-likelihood of the test split, in nats per image, beside the ELBO.

    Args:
        model: a model with the likelihood contract (``vae``, ``iwae``, ``vamp``, or a user's).
        samples: K, importance samples per image (5000 for the published tables).
        dataset: a binarized data set (default: the model's own, which must be one).
        limit: the first ``limit`` test images only (default: all 10,000).
        seed: of the draws; the same seed gives the same number.
        force: take more than ``MAX_SAMPLES`` (100,000) samples per image; without it such a run is refused once
            its first pass has timed it, the estimate in the message.
        say: called with a line giving the run's size and its estimated time, after the first pass.
        progress: a bar of the passes on stderr where it is a terminal, else a line to ``say`` at each tenth.
    Returns:
        ``{"dataset", "n", "samples", "nll", "elbo", "nll_sem", "bits_per_dim"}`` (``nll_sem``: its standard error
        over images; ``bits_per_dim``: the NLL per value in bits, the unit of 8-bit likelihoods).
    """
    check_model(model, "nll")
    if not has_likelihood(model):
        raise UsageError(f"{getattr(model.entry, 'name', 'the model')} has no likelihood (it is not a probabilistic "
                         f"model: no posterior, prior and likelihood), so no negative log-likelihood")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise UsageError(f"samples must be a whole number >= 1, got {samples!r}")
    check_seed(seed)
    dataset = model_dataset(model, dataset, "nll")
    check_data(model, dataset)
    images = load_dataset(dataset, "test").images[:check_limit(limit)]
    device = device_of(model)
    per_image = []
    chunk = samples_per_pass(model, to_float(images[:1])[0], min(IMAGE_CHUNK, len(images)))
    passes = math.ceil(len(images) / IMAGE_CHUNK) * math.ceil(samples / chunk)
    from tqdm.auto import tqdm

    bar = tqdm(total=passes, desc="nll", unit="pass", file=sys.stderr, disable=not progress or not sys.stderr.isatty(),
               leave=False)
    started, finished, tenths = time.perf_counter(), 0, 0
    generator = torch.Generator(device).manual_seed(seed)
    with bar, eval_mode(model), flush_denormal(device), \
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        elbo_sum = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, len(images), IMAGE_CHUNK):
            x = to_float(images[start:start + IMAGE_CHUNK].to(device))
            running = torch.full((len(x),), -math.inf, dtype=torch.float64, device=device)
            draw = importance_sampler(model, x, generator)
            for done in range(0, samples, chunk):
                w = draw(min(chunk, samples - done)).double()  # the mean-exp in float64
                running = torch.logaddexp(running, torch.logsumexp(w, dim=0))
                elbo_sum += w.sum()
                finished += 1
                if finished == 1:
                    _estimate(len(images), samples, passes, time.perf_counter() - started, force, say)
                elif bar.disable and say is not None and progress and finished * 10 // passes > tenths:
                    tenths = finished * 10 // passes  # no bar (stderr is not a terminal): a line each tenth
                    spent = time.perf_counter() - started
                    say(f"nll: {finished:,}/{passes:,} passes in {_duration(spent)}"
                        + (f", about {_duration(spent / finished * (passes - finished))} left" if finished < passes else ""))
                bar.update(1)
            per_image.append(running - math.log(samples))
    log_px = torch.cat(per_image).cpu()
    n = len(log_px)
    value = float(-log_px.mean())
    return {"dataset": dataset, "n": n, "samples": samples, "nll": value,
            "elbo": float(elbo_sum) / (n * samples), "nll_sem": float(log_px.std() / math.sqrt(n)) if n > 1 else 0.0,
            "bits_per_dim": bits_per_dim(value, images[0].numel())}
