"""The optimizers and learning-rate schedules a run trains with, built from its recipe (for the objectives)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..recipe import Recipe


def make_optimizer(recipe: Recipe, params, *, fused: bool = True) -> torch.optim.Optimizer:
    """The recipe's optimizer; ``fused`` takes torch's fused kernel (one per step for all the
    parameters) where this torch and device have one, else torch's default implementation
    (fashion-64 on the 2-core CPU: +16% samples/s fused; BENCHMARKS.md)."""
    params = list(params)
    kw = dict(recipe.optimizer_kwargs)
    if recipe.optimizer == "sgd":
        cls = torch.optim.SGD
    else:
        if "betas" in kw:
            kw["betas"] = tuple(kw["betas"])
        cls = torch.optim.Adam if recipe.optimizer == "adam" else torch.optim.AdamW
    if fused:
        try:
            return cls(params, lr=recipe.lr, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device or torch version
            pass
    return cls(params, lr=recipe.lr, **kw)


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    return "fused" if optimizer.defaults.get("fused") else "default"


def make_scheduler(recipe: Recipe, optimizer, steps_per_epoch: int) -> Tuple[Optional[object], bool]:
    """(scheduler, per step): cosine is stepped every batch, step decay every epoch."""
    if recipe.scheduler is None:
        return None, False
    if recipe.scheduler.type == "cosine":
        total = recipe.epochs * steps_per_epoch
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    s = recipe.scheduler
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma), False
