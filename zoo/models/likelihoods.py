"""Pixel likelihoods p(x|z) of the likelihood families, each a ``torch.distributions`` object whose event is
the image (C, H, W), built from the decoder's unbounded outputs.

- ``bernoulli``: binary pixels (``mnist-binary``); one logit per value. NLL in nats per image.
- ``logistic``: 8-bit pixels (values k/255), a discretized logistic per value (Salimans et al. 2017, PixelCNN++,
  with one component): a mean (0.5 + the output) and a log-scale (-2.5 + the output) per value, the mass of the
  bin [x - 1/510, x + 1/510] (the edges take the tails). Its NLL is a probability of the 8-bit image, reported
  in bits per dimension.
"""
from __future__ import annotations

import math
from typing import Dict, Type

import torch
import torch.nn.functional as F
from torch import distributions as D

HALF_BIN = 0.5 / 255.0
MIN_LOG_SCALE = -7.0
LOG_SCALE_START = -2.5  # the decoder's zero output means a scale of e^-2.5 = 0.08 (of the [0, 1] range): Adam moves
# a bias about lr a step, so starting at scale 1 took ~1,000 steps just to come down to the data's scale


class DiscretizedLogistic(D.Distribution):
    """Independent discretized logistics over values in {0, 1/255, ..., 1}; batch shape that of ``loc``."""

    arg_constraints: Dict[str, D.constraints.Constraint] = {}
    support = D.constraints.unit_interval
    has_rsample = False

    def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor):
        self.loc, self.log_scale = loc, log_scale.clamp(min=MIN_LOG_SCALE)
        super().__init__(batch_shape=loc.shape, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc.clamp(0.0, 1.0)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        x = torch.round(value * 255.0) / 255.0  # the 8-bit value the pixel holds
        centered = x - self.loc
        inv_scale = torch.exp(-self.log_scale)
        plus, minus = inv_scale * (centered + HALF_BIN), inv_scale * (centered - HALF_BIN)
        log_cdf_plus = plus - F.softplus(plus)  # log sigmoid(plus): the bin of 0 takes the left tail
        log_one_minus_cdf_minus = -F.softplus(minus)  # log (1 - sigmoid(minus)): the bin of 1 the right tail
        delta = torch.sigmoid(plus) - torch.sigmoid(minus)
        mid = inv_scale * centered  # where the bin is too thin for the difference: the density times its width
        log_mid = mid - self.log_scale - 2.0 * F.softplus(mid) + math.log(2 * HALF_BIN)
        inner = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_mid)
        return torch.where(x < HALF_BIN, log_cdf_plus, torch.where(x > 1 - HALF_BIN, log_one_minus_cdf_minus, inner))

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, device=self.loc.device).clamp(1e-5, 1 - 1e-5)
        x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
        return (torch.round(x.clamp(0, 1) * 255.0) / 255.0)


class PixelLikelihood:
    """How a likelihood reads the decoder: ``channels`` outputs per image channel, the distribution, the image."""

    channels: int = 1

    @staticmethod
    def distribution(out: torch.Tensor) -> D.Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def mean(out: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Bernoulli(PixelLikelihood):
    channels = 1

    @staticmethod
    def distribution(out: torch.Tensor) -> D.Distribution:
        return D.Independent(D.Bernoulli(logits=out, validate_args=False), 3)

    @staticmethod
    def mean(out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


class Logistic(PixelLikelihood):
    channels = 2  # a mean and a log-scale per value

    @staticmethod
    def distribution(out: torch.Tensor) -> D.Distribution:
        loc, log_scale = out.chunk(2, dim=-3)
        return D.Independent(DiscretizedLogistic(loc + 0.5, log_scale + LOG_SCALE_START), 3)

    @staticmethod
    def mean(out: torch.Tensor) -> torch.Tensor:
        return (out.chunk(2, dim=-3)[0] + 0.5).clamp(0.0, 1.0)


LIKELIHOODS: Dict[str, Type[PixelLikelihood]] = {"bernoulli": Bernoulli, "logistic": Logistic}


def bits_per_dim(nats_per_image: float, dims: int) -> float:
    """A negative log-likelihood in nats per image as bits per value (pixel channel)."""
    return nats_per_image / (dims * math.log(2.0))
