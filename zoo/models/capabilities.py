"""What a model can do beyond encoding and decoding, as its family declares it.

Evaluation, sampling, reporting, cards and the trainer ask :func:`capabilities` (and the helpers below); they
never probe a model with ``getattr``/``hasattr`` (``tests/unit/test_layout.py`` holds them to it). A family
declares each capability as a class attribute of :class:`zoo.Autoencoder` (defaults: a deterministic model with
a continuous code, sampled only through a mixture fitted to its codes when asked) and implements the methods
that go with it:

====================  ==================================  =============================================
capability            declared by                          methods it implements
====================  ==================================  =============================================
generative            ``generative = True``,               ``sample_prior(n, generator)`` where
                      ``samplers``, ``default_sampler``    ``"prior"`` is among its samplers
likelihood            ``has_likelihood = True``            ``posterior(x)``, ``prior()``, ``likelihood(z)``
                                                           (torch.distributions; ``zoo.nll`` reads them)
importance weights    ``importance_weights = True``        ``importance_sampler(x, generator=)``:
                                                           the same log-weights, batched (``zoo.nll``'s path)
discrete code         ``code_kind = "..."`` (not           ``features(x)`` / ``decode_features(f)``: the
                      ``"continuous"``)                    code's continuous view
code prior            ``code_prior = True``                ``prior_loss(codes)``; trained by recipe.prior
trained parameters    (always)                             ``trained_parameters()`` (default: all)
objective             ``objective = "single"`` or a key    ``phases()`` for ``"alternating"``
====================  ==================================  =============================================

A ``torch.nn.Module`` that is not a :class:`zoo.Autoencoder` (a user's, passed to ``zoo.evaluate``) has the
defaults: it encodes and decodes, and nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from torch import nn

from .base import Autoencoder


@dataclass(frozen=True)
class Capabilities:
    samplers: Tuple[str, ...] = ("gmm",)
    default_sampler: str = "gmm"
    generative: bool = False
    likelihood: bool = False
    importance_weights: bool = False  # importance_sampler(x, generator=), zoo.nll's batched path
    pixels: Optional[str] = None  # the likelihood's pixels: "bernoulli" (binary), "logistic" (8-bit)
    code_kind: str = "continuous"
    code_prior: bool = False
    objective: str = "single"

    @property
    def continuous_code(self) -> bool:
        return self.code_kind == "continuous"

    @property
    def prior_sampling(self) -> bool:
        return "prior" in self.samplers


def capabilities(model: nn.Module) -> Capabilities:
    """The capabilities ``model``'s family declares (the defaults for a module that is no zoo.Autoencoder)."""
    if not isinstance(model, Autoencoder):
        return Capabilities()
    cls = type(model)
    return Capabilities(samplers=tuple(cls.samplers), default_sampler=cls.default_sampler, generative=cls.generative,
                        likelihood=cls.has_likelihood,
                        importance_weights=cls.has_likelihood and cls.importance_weights, pixels=model.pixel_likelihood, code_kind=cls.code_kind,
                        code_prior=cls.code_prior,
                        objective=cls.objective)


def trained_parameters(model: nn.Module) -> List[nn.Parameter]:
    """What the training stage trains: the family's ``trained_parameters()`` (a VQ-VAE leaves its code prior to
    the stage after), all parameters of a module that is no zoo.Autoencoder."""
    return list(model.trained_parameters() if isinstance(model, Autoencoder) else model.parameters())


ACTIVATION_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu", "Tanh": "tanh", "Sigmoid": "sigmoid",
                    "SiLU": "silu", "GELU": "gelu"}


def dense_decoder(model: nn.Module) -> Optional[List[Tuple[nn.Module, Optional[str]]]]:
    """The decoder as (Linear, the activation after it or None) pairs, where it is only Linear layers and
    activations with a sigmoid image at the end (what a page can compute in the browser), else None."""
    if not isinstance(model, Autoencoder) or not isinstance(dict(model.named_children()).get("decoder"), nn.Sequential):
        return None
    modules = list(model.decoder)
    while modules and isinstance(modules[-1], nn.Unflatten):
        modules.pop()
    layers: List[Tuple[nn.Module, Optional[str]]] = []
    for module in modules:
        name = type(module).__name__
        if isinstance(module, nn.Linear) or name == "Linear":
            layers.append((module, None))
        elif name in ACTIVATION_NAMES and layers and layers[-1][1] is None:
            layers[-1] = (layers[-1][0], ACTIVATION_NAMES[name])
        else:
            return None
    if layers and layers[-1][1] is None:
        if not model.sigmoid_output:
            return None
        layers[-1] = (layers[-1][0], "sigmoid")
    return layers or None
