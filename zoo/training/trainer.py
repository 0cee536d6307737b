"""The Trainer, one for every entry: it builds the run's parts (model, data, objective, stages), runs its
stages (those the recipe asks for before training, training, those after it: :mod:`.stages`) through the one
epoch loop (:mod:`.loop`), saves and restores the parts as one state (:mod:`.checkpoint`) and writes the
outputs (:mod:`.outputs`). The model's objective (:mod:`.objectives`) owns its optimizers; nothing here knows a
family, an optimizer or a stage by its kind."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ..devices import flush_denormal, resolve_device
from ..errors import UsageError, option
from ..registry import Entry
from . import checkpoint, distributed, outputs, randomness
from .batches import DeviceData
from .distributed import SINGLE, Dist
from .interrupt import Interrupt
from .logger import RunLogger, SilentLogger
from .loop import drive
from .objectives import StepContext, build_objective
from .options import RunOptions
from .parts import RandomState, Stateful
from .stage import TrainingStage
from .stages import StageContext, build_stages, stage_seconds, stage_summaries


class Trainer:
    """Train ``entry`` (its recipe carrying any overrides) into ``out``."""

    def __init__(self, entry: Entry, *, out: Path, options: RunOptions = RunOptions(), quiet: bool = False,
                 log: Optional[Callable[[str], None]] = None, dist: Dist = SINGLE,
                 on_epoch: Optional[Callable[[Dict[str, Any]], Any]] = None):
        self.entry, self.recipe, self.options, self.dist = entry, entry.recipe, options, dist
        self.run_dir, self.device = Path(out), resolve_device(options.device)
        distributed.check_batch(self.recipe.batch_size, dist.world_size)
        self.data = DeviceData(entry.dataset, self.device, batch_size=self.recipe.batch_size, seed=self.recipe.seed,
                               limit_batches=options.limit_batches, stream=randomness.rank_stream(dist))
        torch.manual_seed(self.recipe.seed)  # the initial weights depend on the seed alone
        self.model = entry.build(self.data.image_shape).to(self.device).train()
        randomness.seed_ranks(self.recipe, dist)
        context = StepContext(self.device, dist, self.data.steps_per_epoch, amp=options.amp, compile=options.compile)
        self.objective = build_objective(self.model, self.recipe, context)
        noise = randomness.noise_generator(self.recipe, self.device, dist)
        self.logger = RunLogger(self.run_dir, quiet=quiet, log=log) if dist.is_main else SilentLogger()
        self.training = TrainingStage(self.model, self.objective, self.data, self.recipe, label=entry.name,
                                      run_dir=self.run_dir, logger=self.logger, dist=dist, noise=noise, save=self.save_state,
                                      on_epoch=on_epoch)
        stage_context = StageContext(self.model, self.data, self.recipe, self.training.best, label=entry.name,
                                     logger=self.logger, save=self.save_state)
        self.before = build_stages(stage_context, after=False)
        self.after = build_stages(stage_context, after=True)
        self.random = RandomState(self.device, dist, {"noise": noise, "binarize": self.data.generator})

    @property
    def stages(self) -> list:
        return [*self.before, self.training, *self.after]

    def parts(self) -> Dict[str, Stateful]:
        """Every part of the run's state, by name; the random generators last (restored after everything else)."""
        return {"model": self.model, "data": self.data, **self.training.parts(),
                **{k: v for stage in [*self.before, *self.after] for k, v in stage.parts().items()}, "rng": self.random}

    def fit(self, resume: Optional[Tuple[Dict[str, torch.Tensor], Dict[str, Any]]] = None) -> Dict[str, Any]:
        """Run what is left of every stage (training until its epochs run out or early stopping fires);
        returns the summary."""
        if resume is not None:
            checkpoint.restore(self.parts(), *resume)
            self.training.after_restore()
            started = [stage for stage in self.after if stage.started]
            if not self.training.done and started:
                raise UsageError(f"{self.run_dir} has started its {started[0].title} on the trained model; "
                                 f"{option('--epochs')} cannot reopen training: start a new run to train longer")
            self.logger.line(f"resuming {self.entry.name} {self.where()}")
        else:
            self.save_state()  # a kill before the first checkpoint still leaves something to resume
        with self.logger, Interrupt(enabled=not self.dist.enabled) as ctrl_c, flush_denormal(self.device):
            for stage in self.stages:
                drive(stage, logger=self.logger, ctrl_c=ctrl_c, save=self.save_state, where=self.where,
                      checkpoint_every=self.options.checkpoint_every, log_every=self.options.log_every)
        summary = self.finish() if self.dist.is_main else None
        return distributed.broadcast_json(self.dist, summary, self.device)

    def where(self) -> str:
        """The run's position in words: that of the first stage with something left to run."""
        return next((stage for stage in self.stages if not stage.done), self.training).where()

    def save_state(self) -> None:
        """Every rank calls this at the same steps (parts may gather from every rank); rank 0 writes."""
        meta = {"name": self.entry.name, "entry": self.entry.to_dict(), "options": self.options.to_dict()}
        captured = checkpoint.capture(self.parts(), meta, is_main=self.dist.is_main)
        if captured is not None:
            checkpoint.write_state(self.run_dir, *captured)

    def finish(self) -> Dict[str, Any]:
        """Rank 0 evaluates the best weights and writes the outputs; returns the run's summary."""
        t = self.training
        if t.best.weights is not None:
            self.model.load_state_dict(t.best.weights)
        for stage in self.after:
            stage.apply()  # after the training's best weights: each stage's own best part on top
        stages = {stage.name: stage.summary() for stage in [*self.before, *self.after]}
        facts = outputs.TrainingFacts(
            epochs_run=t.progress.epoch, best_epoch=t.stopper.best_epoch, best_val_loss=t.stopper.best,
            stop_reason=t.stopper.describe(t.progress.stop, self.recipe.epochs), device=str(self.device),
            train_seconds=t.progress.train_seconds, data_sha256=self.data.sha256,
            **stage_seconds(stages))
        run = {"world_size": self.dist.world_size, "threads": torch.get_num_threads(), "amp": self.options.amp,
               "compile": self.options.compile,
               "optimizer_impl": self.objective.optimizer_kind(), **stage_summaries(stages)}
        return outputs.finish(self.run_dir, self.model, self.entry, self.data, facts, t.progress, run,
                              best_epoch=t.stopper.best_epoch)
