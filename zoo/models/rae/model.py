"""An L2 penalty on the code, and on the decoder its weights' squared norm (``"l2"``) or the squared gradient of
its output with respect to the code (``"gp"``). It has no prior: it samples through a density fitted to its
training codes (``zoo sample --sampler gmm``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...schema import require
from ..ae.model import CodeAutoencoder
from ..base import LossOutput, reconstruction_loss
from ..config import FamilyConfig
from ..registry import register_family


@dataclass(frozen=True)
class RAEConfig(FamilyConfig):
    variant: str = "l2"  # "l2": decoder weight decay; "gp": decoder gradient penalty
    code_weight: float = 1.0  # beta: of ||z||^2 / 2, on the pixel-summed squared error
    decoder_weight: float = 1e-7  # lambda: of the decoder regulariser, on the same scale

    def __post_init__(self):
        super().__post_init__()
        require(self.variant in ("l2", "gp"), "variant", f'must be "l2" or "gp", got {self.variant!r}')
        require(self.code_weight >= 0, "code_weight", f"must be >= 0, got {self.code_weight}")
        require(self.decoder_weight >= 0, "decoder_weight", f"must be >= 0, got {self.decoder_weight}")


@register_family("rae", RAEConfig)
class RAE(CodeAutoencoder):
    """Reconstruction plus beta * |z|^2 / 2 plus lambda * (decoder weights' |w|^2, or |d decoder / d z|^2)."""

    samplers = ("gmm",)
    default_sampler = "gmm"
    generative = True

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        z = self.encode(x)
        recon_x = self.decode(z)
        recon = reconstruction_loss(recon_x, target, kind)
        code = 0.5 * z.float().pow(2).sum(dim=1).mean()
        if self.config.variant == "l2":
            reg = sum(p.pow(2).sum() for name, p in self.decoder.named_parameters() if name.endswith("weight"))
        elif z.requires_grad:  # training: the decoder's gradient with respect to the code, kept in the graph (pythae's)
            (grad,) = torch.autograd.grad(recon_x.sum(), z, create_graph=True)
            reg = grad.pow(2).sum(dim=1).mean()
        else:
            reg = torch.zeros((), device=z.device)
        loss = recon + (self.config.code_weight * code + self.config.decoder_weight * reg) / self.input_dim
        return LossOutput(loss, {"recon": recon.detach(), "code": code.detach(), "decoder_reg": reg.detach()})
