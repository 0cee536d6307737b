"""The training stage: epochs of objective steps on the fit split, validation at each epoch's end, early
stopping and the best weights. It is a stage of :mod:`.loop` and owns these parts of the run's state:
the objective's optimizers and schedules, ``progress``, ``early_stopping`` and ``best``."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..errors import option
from ..evaluation.scoring import mean_loss
from ..noise import corrupt
from ..recipe import Recipe
from . import distributed
from .batches import DeviceData
from .distributed import Dist
from .objectives import Objective
from .outputs import preview_grid
from .parts import BestWeights, Stateful
from .progress import Progress
from .stopping import EarlyStopping, StopReason


class TrainingStage:
    """Train ``model`` with ``objective`` on ``data``; ``train_step`` is the public hook for one step
    (override or wrap it to change a step)."""

    name = "train"

    def __init__(self, model: torch.nn.Module, objective: Objective, data: DeviceData, recipe: Recipe, *,
                 label: str, run_dir, logger, dist: Dist, noise: Optional[torch.Generator], save: Callable[[], None],
                 on_epoch: Optional[Callable[[Dict], Any]] = None):
        self.model, self.objective, self.data, self.recipe = model, objective, data, recipe
        self.on_epoch = on_epoch
        self.label, self.run_dir, self.logger, self.dist = label, run_dir, logger, dist
        self.noise_gen, self.save = noise, save
        self.progress = Progress()
        self.stopper = EarlyStopping.from_rule(recipe.early_stopping)
        self.best = BestWeights(data.fit.device)

    def parts(self) -> Dict[str, Stateful]:
        return {**self.objective.parts(), "progress": self.progress, "early_stopping": self.stopper, "best": self.best}

    @property
    def done(self) -> bool:
        return self.progress.stop is not None

    def where(self) -> str:
        return f"at epoch {self.progress.epoch + 1}, step {self.progress.step_in_epoch}"

    def start(self) -> None:
        self.logger.open(purge_step=self.progress.global_step)
        self.objective.prepare()  # DDP and compile after pretraining and the restore: every rank the same weights

    def begin_epoch(self) -> int:
        self._order = self.data.order(self.progress.epoch)
        return self.data.steps_per_epoch

    def describe(self) -> str:
        return f"{self.label} epoch {self.progress.epoch + 1}/{self.recipe.epochs}"

    def step(self, i: int) -> Tuple[Dict[str, torch.Tensor], int]:
        idx = self.data.batch(self._order, i)  # the global batch; train_step takes this rank's share
        return self.train_step(idx), len(idx)

    def train_step(self, idx: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One objective step on the global batch ``idx``; returns this rank's (scaled) detached losses,
        ``loss`` and the loss's named parts."""
        idx, scale = distributed.shard(self.dist, idx)
        target = self.data.images(idx)
        inputs = target if self.noise_gen is None else corrupt(target, self.recipe.noise, self.noise_gen)
        return self.objective.step(inputs, target, scale=scale)

    def read(self, pending: List[Dict[str, torch.Tensor]], sizes: List[int], started: float, bar) -> None:
        """Read the pending losses (one host sync; averaged over the ranks under torchrun, so all stop
        together), refuse a non-finite loss, add and log them, and count the time since ``started``."""
        names = list(pending[0])
        if any(list(p) != names for p in pending):
            raise ValueError(f"{self.label}: every step must return the same losses, got {names} and others")
        rows = torch.stack([torch.stack([p[n].float().reshape(()) for n in names]) for p in pending]).double()
        losses = (distributed.all_reduce_sum(self.dist, rows) / self.dist.world_size).cpu()
        seconds = time.perf_counter() - started
        p = self.progress
        p.epoch_seconds += seconds
        first = p.global_step - len(pending) + 1
        loss = losses[:, names.index("loss")]
        bad = (~torch.isfinite(loss)).nonzero()
        if len(bad):
            distributed.stop_all(self.dist, f"{self.label}: the loss became {loss[int(bad[0])].item()} at step "
                                 f"{first + int(bad[0])} (epoch {p.epoch + 1}); stopped. The last good state in "
                                 f"{self.run_dir} is intact: resume with {option('--resume', 'resume=True')}, or start "
                                 f"again with a lower {option('--lr')}")
        p.add_losses(names, losses, sizes)
        self.logger.steps(first, {n: losses[:, j].tolist() for j, n in enumerate(names)}, bar,
                          sum(sizes) / max(seconds, 1e-9))

    def end_epoch(self) -> None:
        """Validate, keep the best weights, log the epoch, step a per-epoch schedule, decide, save."""
        p = self.progress
        val = mean_loss(self.model, self.data.val, self.recipe, "val")
        device = self.data.fit.device
        val = float(distributed.broadcast_tensor(self.dist, torch.tensor([val], dtype=torch.float64, device=device)))
        if not math.isfinite(val):
            distributed.stop_all(self.dist, f"{self.label}: the validation loss became {val} in epoch {p.epoch + 1}"
                                            "; stopped")
        improved = self.stopper.step(val, p.epoch + 1)
        if improved:
            self.best.keep(self.model)
        record = p.end_epoch(val, self.objective.lr)
        self.logger.epoch(record, self.recipe.epochs, improved, lambda: preview_grid(self.model, self.data.preview, self.recipe))
        self.objective.end_epoch()
        done = p.epoch >= self.recipe.epochs
        p.stop = StopReason.EARLY_STOPPING if self.stopper.should_stop else (StopReason.COMPLETED if done else None)
        if not p.stop and self.asked_to_stop(record):
            p.stop = StopReason.STOPPED
        if p.stop:
            self.logger.line(f"stopped: {self.stopper.describe(p.stop, self.recipe.epochs)}")
        self.save()

    def asked_to_stop(self, record: Dict[str, Any]) -> bool:
        """Rank 0 shows the epoch's record to ``on_epoch``; True (on every rank) when it asks to stop."""
        if self.on_epoch is None:
            return False
        asked = bool(self.on_epoch(dict(record))) if self.dist.is_main else False
        flag = torch.tensor([float(asked)], dtype=torch.float64, device=self.data.fit.device)
        return bool(distributed.broadcast_tensor(self.dist, flag).item())

    def after_restore(self) -> None:
        """Reconcile a restored position with the recipe's epochs (``--epochs`` changed on resume)."""
        p = self.progress
        if p.stop is StopReason.COMPLETED and p.epoch < self.recipe.epochs:
            p.stop = None  # --epochs raised on resume: carry on
        elif p.stop is None and p.step_in_epoch == 0 and p.epoch >= self.recipe.epochs:
            p.stop = StopReason.COMPLETED  # --epochs lowered to the epochs already done: finish now
