"""The training loop, one Trainer for every entry: the model's ``loss`` is the objective, the recipe gives optimizer,
schedule, early stopping, corruption and a pretraining stage (:mod:`.pretrain`, run first). Losses stay on the device
until read every ``log_every`` steps; the state saved at steps and epoch ends (:mod:`.checkpoint`) resumes bit for bit."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..data import to_float
from ..devices import resolve_device
from ..evaluation.scoring import mean_loss
from ..noise import corrupt
from ..registry import Entry
from . import checkpoint, distributed, pretrain, setup
from .batches import DeviceData
from .distributed import SINGLE, Dist
from .interrupt import Interrupt
from .logger import RunLogger, SilentLogger
from .options import RunOptions
from .outputs import finish, preview_grid
from .stopping import EarlyStopping, StopReason


class Trainer:
    """Train ``entry`` (its recipe carrying any overrides) into ``out``; ``train_step`` is the public
    hook for one optimizer step (override or wrap it to change a step)."""

    def __init__(self, entry: Entry, *, out: Path, options: RunOptions = RunOptions(), quiet: bool = False,
                 log: Optional[Callable[[str], None]] = None, dist: Dist = SINGLE):
        self.entry, self.recipe, self.options, self.dist = entry, entry.recipe, options, dist
        self.run_dir, self.device = Path(out), resolve_device(options.device)
        distributed.check_batch(self.recipe.batch_size, dist.world_size)
        self.data = DeviceData(entry.dataset, self.device, batch_size=self.recipe.batch_size,
                               seed=self.recipe.seed, limit_batches=options.limit_batches)
        torch.manual_seed(self.recipe.seed)  # the initial weights depend on the seed alone
        self.model = entry.build(self.data.image_shape).to(self.device).train()
        self.step_module: torch.nn.Module = setup.LossStep(self.model, self.recipe.loss)
        setup.seed_ranks(self.recipe, dist)
        self.optimizer = setup.make_optimizer(self.recipe, self.model.parameters())
        self.scheduler, self.per_step_schedule = setup.make_scheduler(self.recipe, self.optimizer, self.data.steps_per_epoch)
        self.noise_gen = setup.noise_generator(self.recipe, self.device, dist)
        self.stopper = EarlyStopping.from_rule(self.recipe.early_stopping)
        self.state = checkpoint.TrainState()
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.logger = RunLogger(self.run_dir, quiet=quiet, log=log) if dist.is_main else SilentLogger()
        self.pretraining = pretrain.stage(self)  # None without one

    def fit(self, resume: Optional[Tuple[Dict[str, torch.Tensor], Dict[str, Any]]] = None) -> Dict[str, Any]:
        """Train until the recipe's epochs run out or early stopping fires; returns the summary."""
        if resume is not None:
            checkpoint.restore(self, *resume)
            where = pretrain.where(self) or f"epoch {self.state.epoch + 1}, step {self.state.step_in_epoch}"
            self.logger.line(f"resuming {self.entry.name} at {where}")
        else:
            self.save_state()  # a kill before the first checkpoint still leaves something to resume
        s, data, every = self.state, self.data, self.options.checkpoint_every
        self.logger.open(purge_step=s.global_step)
        with self.logger, Interrupt(enabled=not self.dist.enabled) as ctrl_c:
            pretrain.run(self, ctrl_c)  # every rank alike; DDP and compile after it and the restore: same weights
            self.step_module = setup.wrap_step(self.step_module, self.device, self.dist, self.options.compile)
            while s.stop is None:
                order, last = data.order(s.epoch), data.steps_per_epoch
                bar = self.logger.bar(last, s.step_in_epoch, f"{self.entry.name} epoch {s.epoch + 1}/{self.recipe.epochs}")
                pending, sizes, started = [], [], time.perf_counter()
                for i in range(s.step_in_epoch, last):
                    idx = data.batch(order, i)  # the global batch; train_step takes this rank's share
                    pending.append(self.train_step(idx))
                    sizes.append(len(idx))
                    s.step_in_epoch, s.global_step = i + 1, s.global_step + 1
                    save = ctrl_c.requested or (every and s.global_step % every == 0)
                    if len(pending) >= self.options.log_every or save or i + 1 == last:
                        s.epoch_seconds += self._read_losses(pending, sizes, started, bar)
                        pending, sizes, started = [], [], time.perf_counter()
                    if save and i + 1 < last:  # epoch ends save their own state
                        self.save_state()
                    if ctrl_c.requested and i + 1 < last:
                        self._interrupted()
                bar.close()
                self._end_epoch()
                if ctrl_c.requested:
                    self._interrupted()
        summary = finish(self) if self.dist.is_main else None
        return distributed.broadcast_json(self.dist, summary, self.device)

    def train_step(self, idx: torch.Tensor) -> torch.Tensor:
        """One optimizer step on the global batch ``idx``; returns this rank's (scaled) loss."""
        idx, scale = distributed.shard(self.dist, idx)
        target = to_float(self.data.fit[idx])
        inputs = target if self.noise_gen is None else corrupt(target, self.recipe.noise, self.noise_gen)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.options.amp):
            loss = self.step_module(inputs, target)
        if scale != 1.0:
            loss = loss * scale
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.per_step_schedule:
            self.scheduler.step()
        return loss.detach()

    def _read_losses(self, pending: List[torch.Tensor], sizes: List[int], started: float, bar) -> float:
        """Read the pending losses (one host sync; averaged over the ranks under torchrun, so all stop
        together), refuse a non-finite one, add and log them; the seconds since ``started``, sync included."""
        losses = distributed.all_reduce_sum(self.dist, torch.stack(pending).double()) / self.dist.world_size
        losses = losses.cpu()
        seconds = time.perf_counter() - started
        first = self.state.global_step - len(pending) + 1
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            distributed.stop_all(self.dist, f"{self.entry.name}: the loss became {losses[int(bad[0])].item()} at step "
                                 f"{first + int(bad[0])} (epoch {self.state.epoch + 1}); stopped. The last good state in "
                                 f"{self.run_dir} is intact: resume with --resume, or start again with a lower --lr")
        self.state.add_losses(losses, sizes)
        self.logger.steps(first, losses.tolist(), bar, sum(sizes) / max(seconds, 1e-9))
        return seconds

    def _end_epoch(self) -> None:
        """Validate, keep the best weights, log the epoch, step a per-epoch schedule, decide, save."""
        s = self.state
        val = mean_loss(self.model, self.data.val, self.recipe, "val")
        val = float(distributed.broadcast_tensor(self.dist, torch.tensor([val], dtype=torch.float64, device=self.device)))
        if not math.isfinite(val):
            distributed.stop_all(self.dist, f"{self.entry.name}: the validation loss became {val} in epoch {s.epoch + 1}"
                                            "; stopped")
        improved = self.stopper.step(val, s.epoch + 1)
        if improved:
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        record = s.end_epoch(val, self.optimizer.param_groups[0]["lr"])
        self.logger.epoch(record, self.recipe.epochs, improved, lambda: preview_grid(self.model, self.data.preview, self.recipe))
        if self.scheduler is not None and not self.per_step_schedule:
            self.scheduler.step()
        done = s.epoch >= self.recipe.epochs
        s.stop = StopReason.EARLY_STOPPING if self.stopper.should_stop else (StopReason.COMPLETED if done else None)
        if s.stop:
            self.logger.line(f"stopped: {self.stopper.describe(s.stop, self.recipe.epochs)}")
        self.save_state()

    def _interrupted(self) -> None:
        raise KeyboardInterrupt(f"interrupted at epoch {self.state.epoch + 1}, step {self.state.step_in_epoch}; "
                                f"the state is saved: continue with --resume")

    def save_state(self) -> None:
        """Every rank calls this at the same steps (their random states are gathered); rank 0 writes."""
        captured = checkpoint.capture(self)
        if captured is not None:
            checkpoint.write_state(self.run_dir, *captured)
