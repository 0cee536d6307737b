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
from typing import Dict, Optional, Type

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch.autograd.function import once_differentiable

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
    """How a likelihood reads the decoder: ``channels`` outputs per image channel, the distribution, the image,
    and ``log_prob``: log p(x|z) summed over the image straight from the decoder's outputs (the distribution's
    ``log_prob`` by default; a likelihood may fuse it)."""

    channels: int = 1

    @staticmethod
    def distribution(out: torch.Tensor) -> D.Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def log_prob(cls, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | out) per image: ``out`` (..., channels*C, H, W), ``x`` (C, H, W) images broadcasting
        against its batch shape (the trailing batch dimensions, as (K, N) codes against N images)."""
        return cls.distribution(out).log_prob(x)

    @staticmethod
    def mean(out: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Bernoulli(PixelLikelihood):
    channels = 1

    @staticmethod
    def distribution(out: torch.Tensor) -> D.Distribution:
        return D.Independent(D.Bernoulli(logits=out, validate_args=False), 3)

    @classmethod
    def log_prob(cls, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(out, x)

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


class _BernoulliLogProb(torch.autograd.Function):
    """sum_d x_d l_d - softplus(l_d) over the last dimension of ``logits`` (P, N, D), ``x`` (N, D) or (P, N, D):
    one product of the logits with the images and one softplus (torch's ``Bernoulli.log_prob`` expands the
    images to the logits' shape and goes through binary_cross_entropy_with_logits: about twice the
    elementwise work); the gradient, (x - sigmoid(l)) times the incoming one, in one sigmoid and two in-place
    passes."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        xl = torch.einsum("pnd,nd->pn", logits, x) if x.dim() == 2 else (logits * x).sum(-1)
        return xl - F.softplus(logits).sum(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        return torch.sigmoid(logits).sub_(x).mul_(grad.neg().unsqueeze(-1)), None


class _BinaryLogProb(torch.autograd.Function):
    """For binary ``x``: sum_d log sigmoid(s_d l_d), s = 2x - 1, over the last dimension of ``logits`` (P, N, D),
    ``x`` (N, D); its sigmoid kept for the gradient, s (1 - sigmoid(s l)) times the incoming one. Half the
    elementwise time of the softplus form (an IWAE K=50 step: 16 ms of softplus alone). Gives -inf where a
    sigmoid underflowed (a pixel wrong by more than 87 in logit); the caller takes the softplus form then."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        sign = 2 * x - 1
        probs = torch.mul(logits, sign).sigmoid_()
        ctx.save_for_backward(probs, sign)
        return torch.log(probs).sum(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        probs, sign = ctx.saved_tensors
        scaled = sign * grad.unsqueeze(-1)  # s g, then s g - s g sigmoid(s l): two passes over the logits' size
        return torch.addcmul(scaled, scaled, probs, value=-1.0), None


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) of independent Bernoulli pixels, summed over the image (the last three dimensions):
    ``logits`` (..., C, H, W), ``x`` images broadcasting against them; gives the logits' batch shape. The value
    of ``Independent(Bernoulli(logits=logits), 3).log_prob(x)`` (to float32 rounding) in about half its time,
    with a gradient for the logits only (the images are data)."""
    event = logits.shape[-3:]
    if x.shape[-3:] != event:
        raise ValueError(f"images {tuple(x.shape)} do not match logits {tuple(logits.shape)}")
    batch = logits.shape[:-3]
    x = x.to(logits.dtype)
    n = x.shape[-4] if x.dim() >= 4 else 1
    if x.dim() <= 4 and (x.dim() == 3 or (len(batch) >= 1 and batch[-1] == n)):  # N images against (..., N) codes
        flat, images = logits.reshape(-1, n, event.numel()), x.reshape(n, -1)
        out = None
        # several codes an image (IWAE's K): the sigmoid form for binary images, checked on the CPU (on a GPU the
        # check would wait for the device); one code an image: the check would cost what the form saves
        if flat.shape[0] > 1 and x.device.type == "cpu" and is_binary(images):
            out = _BinaryLogProb.apply(flat, images)
            out = None if bool(torch.isinf(out.detach()).any()) else out
        if out is None:
            out = _BernoulliLogProb.apply(flat, images)
    else:
        x = x.expand(*batch, *event)
        out = _BernoulliLogProb.apply(logits.reshape(1, -1, event.numel()), x.reshape(1, -1, event.numel()))
    return out.reshape(batch)


@torch.no_grad()
def binary_log_prob_(logits: torch.Tensor, x: torch.Tensor) -> Optional[torch.Tensor]:
    """:func:`bernoulli_log_prob` for images whose pixels are all 0 or 1, overwriting ``logits`` (no gradient):
    log p(x|l) = sum_d log sigmoid(s_d l_d) with s = 2x - 1, three in-place passes and a sum, without the softplus
    and the product of logits and images (less than half their time, and the softplus form took half as long as
    an MNIST decoder's matrix products). ``logits`` (N, K, C, H, W) for ``x`` (N, C, H, W) binary; gives (N, K),
    or None where a sigmoid underflowed (a pixel wrong by more than 87 in logit, whose log-probability the
    exact form gives; the caller decodes again and takes it)."""
    if logits.dim() != 5 or x.dim() != 4 or logits.shape[0] != x.shape[0] or logits.shape[2:] != x.shape[1:]:
        raise ValueError(f"images {tuple(x.shape)} do not match logits {tuple(logits.shape)}")
    n, k = logits.shape[:2]
    sign = (2 * x.to(logits.dtype) - 1).view(n, 1, -1)
    out = logits.view(n, k, -1).mul_(sign).sigmoid_().log_().sum(-1)
    return None if bool(torch.isinf(out).any()) else out


def is_binary(x: torch.Tensor) -> bool:
    """Whether every value of ``x`` is 0 or 1."""
    return bool(((x == 0) | (x == 1)).all())


LIKELIHOODS: Dict[str, Type[PixelLikelihood]] = {"bernoulli": Bernoulli, "logistic": Logistic}


def bits_per_dim(nats_per_image: float, dims: int) -> float:
    """A negative log-likelihood in nats per image as bits per value (pixel channel)."""
    return nats_per_image / (dims * math.log(2.0))
