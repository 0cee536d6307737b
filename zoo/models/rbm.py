"""Restricted Boltzmann machines for greedy layer-wise pretraining (Hinton & Salakhutdinov, Science 2006).

:func:`rbm_stack` reads the stack of RBMs off an autoencoder: each encoder ``Linear`` with the decoder
``Linear`` that mirrors it. It fits any model whose ``encoder`` and ``decoder`` are ``nn.Sequential``
of ``Linear`` layers each followed by a ``Sigmoid`` (the encoder's last one may have none: a linear
code, whose RBM has Gaussian hidden units of unit variance), the decoder mirroring the encoder; the
``mlp`` architecture with ``activation: sigmoid`` is one. The visible units of the first RBM are the
pixel intensities in [0, 1], used as probabilities as the paper does.

:class:`RBM` holds one layer's parameters and momentum increments and does CD-1 steps; everything it
draws comes from the generator it is given, so a seeded generator makes it exact to resume.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import torch
from torch import nn

PARAMS = ("W", "vb", "hb")  # weights (visible x hidden), visible and hidden biases


@dataclass
class StackLayer:
    """One RBM of the stack: ``encoder`` maps its visible units to its hidden ones, ``decoder`` back."""

    encoder: nn.Linear
    decoder: nn.Linear
    linear: bool  # Gaussian (linear) hidden units: the code layer

    @property
    def sizes(self) -> str:
        return f"{self.encoder.in_features}-{self.encoder.out_features}"


def _layers(seq: nn.Module, part: str) -> List[tuple]:
    """``seq`` as (Linear, has a Sigmoid after it) pairs; ValueError for anything else. A trailing
    ``Unflatten`` (the decoder's pixels as an image) holds no units and is passed over."""
    if not isinstance(seq, nn.Sequential):
        raise ValueError(f"RBM pretraining needs Linear layers with logistic (Sigmoid) units; the {part} is a "
                         f"{type(seq).__name__}, not an nn.Sequential of them")
    out: List[tuple] = []
    modules = list(seq)
    while modules and isinstance(modules[-1], nn.Unflatten):
        modules.pop()
    for module in modules:
        if isinstance(module, nn.Linear) and module.bias is not None:
            out.append((module, False))
        elif isinstance(module, nn.Sigmoid) and out and not out[-1][1]:
            out[-1] = (out[-1][0], True)
        else:
            what = type(module).__name__
            where = f"after layer {len(out)}" if out else "first"
            raise ValueError(f"RBM pretraining needs Linear layers with logistic (Sigmoid) units; the {part} has {what} {where}")
    return out


def rbm_stack(model: nn.Module) -> List[StackLayer]:
    """The stack of RBMs that pretrains ``model``, bottom first; ValueError (one line) if it does not fit.
    The decoder's last layer may leave its sigmoid to the model (``sigmoid_output``: the ae family's decode)."""
    if not isinstance(getattr(model, "encoder", None), nn.Module) or not isinstance(getattr(model, "decoder", None), nn.Module):
        raise ValueError(f"RBM pretraining needs a model with an encoder and a decoder of layers, not {type(model).__name__}")
    enc, dec = _layers(model.encoder, "encoder"), _layers(model.decoder, "decoder")
    if dec and not dec[-1][1] and getattr(model, "sigmoid_output", False):
        dec[-1] = (dec[-1][0], True)
    if not all(sig for _, sig in enc[:-1]) or not all(sig for _, sig in dec):
        raise ValueError("RBM pretraining needs logistic (Sigmoid) units after every layer but the code")
    if len(enc) != len(dec) or any(e.weight.shape != d.weight.shape[::-1] for (e, _), (d, _) in zip(enc, reversed(dec))):
        raise ValueError("RBM pretraining needs a decoder that mirrors the encoder layer for layer")
    return [StackLayer(e, d, linear=(i == len(enc) - 1 and not sig))
            for i, ((e, sig), (d, _)) in enumerate(zip(enc, reversed(dec)))]


class RBM:
    """One RBM: logistic visible units, logistic or (``linear``) Gaussian hidden units, trained by CD-1
    with momentum and weight cost as in the paper's code."""

    def __init__(self, n_visible: int, n_hidden: int, *, linear: bool, device: torch.device):
        self.linear = linear
        zeros = dict(device=device, dtype=torch.float32)
        self.params: Dict[str, torch.Tensor] = {"W": torch.zeros(n_visible, n_hidden, **zeros),
                                                "vb": torch.zeros(n_visible, **zeros), "hb": torch.zeros(n_hidden, **zeros)}
        self.increments = {k: torch.zeros_like(v) for k, v in self.params.items()}

    def initialise(self, std: float, generator: torch.Generator) -> None:
        W = self.params["W"]
        W.copy_(std * torch.randn(W.shape, generator=generator, device=W.device))

    def hidden(self, v: torch.Tensor) -> torch.Tensor:
        """Hidden probabilities (logistic) or means (linear) given visible ``v``."""
        pre = v @ self.params["W"] + self.params["hb"]
        return pre if self.linear else torch.sigmoid(pre)

    def visible(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.params["W"].T + self.params["vb"])

    @torch.no_grad()
    def cd1(self, v: torch.Tensor, *, lr: float, momentum: float, weight_cost: float,
            generator: torch.Generator) -> torch.Tensor:
        """One CD-1 update on the batch ``v``; returns its squared reconstruction error summed over the
        batch (a 0-d tensor, left on the device)."""
        pos = self.hidden(v)
        noise = (torch.randn if self.linear else torch.rand)(pos.shape, generator=generator, device=pos.device)
        states = pos + noise if self.linear else (pos > noise).to(pos.dtype)
        recon = self.visible(states)
        neg = self.hidden(recon)
        n = v.shape[0]
        grads = {"W": (v.T @ pos - recon.T @ neg) / n - weight_cost * self.params["W"],
                 "vb": (v - recon).mean(0), "hb": (pos - neg).mean(0)}
        for key in PARAMS:
            self.increments[key].mul_(momentum).add_(grads[key], alpha=lr)
            self.params[key].add_(self.increments[key])
        return (v - recon).pow(2).sum()

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor) -> float:
        """Mean squared error per example of the mean-field reconstruction v -> h -> v (no sampling)."""
        return float((v - self.visible(self.hidden(v))).pow(2).sum(1).mean())

    @torch.no_grad()
    def unroll_into(self, layer: StackLayer) -> None:
        """Copy the RBM into the autoencoder: the encoder layer gets W and the hidden biases, the
        mirrored decoder layer W transposed and the visible biases."""
        layer.encoder.weight.copy_(self.params["W"].T)
        layer.encoder.bias.copy_(self.params["hb"])
        layer.decoder.weight.copy_(self.params["W"])
        layer.decoder.bias.copy_(self.params["vb"])

    def tensors(self) -> Dict[str, torch.Tensor]:
        return {**self.params, **{f"d{k}": v for k, v in self.increments.items()}}

    def load(self, tensors: Dict[str, torch.Tensor]) -> None:
        for key in PARAMS:
            self.params[key].copy_(tensors[key])
            self.increments[key].copy_(tensors[f"d{key}"])


def layer_input(stack: List[StackLayer], index: int, v: torch.Tensor) -> torch.Tensor:
    """What the ``index``-th RBM sees for images ``v`` (flattened): the hidden probabilities of the
    layers below, through the unrolled encoder layers."""
    h = v
    with torch.no_grad():
        for layer in stack[:index]:
            h = layer.encoder(h)
            h = h if layer.linear else torch.sigmoid(h)
    return h
