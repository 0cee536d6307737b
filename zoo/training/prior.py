"""The code-prior stage of a recipe (``"prior": {"type": "pixelcnn", ...}``), which the Trainer runs after
training through the same epoch loop (:mod:`.loop`), so resumable like any stage: its optimizer,
position, early stopping and best weights are parts of the run's state, saved at every epoch end, every
``checkpoint_every`` steps and on Ctrl-C, and a run killed inside it resumes bit for bit.

The prior models the codes of the *best* autoencoder weights of training: the stage loads them (all but
the prior's) before it encodes the fit and val splits once, in eval mode, as index grids; then it trains
the model's prior (``model.prior``, through ``model.prior_loss``) with its own Adam on batches of the fit
codes, and validates the val codes' mean negative log-likelihood in nats per image.
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Tuple

import torch

from ..errors import TrainingError, option
from ..evaluation.scoring import code_nll, encode_all
from ..models.base import eval_mode
from ..recipe import CodePrior
from .batches import DeviceData
from .parts import BestWeights, Stateful
from .progress import Progress
from .stages import StageContext, register_stage
from .stopping import EarlyStopping, StopReason


@register_stage("prior", after=True)
class CodePriorStage:
    """The prior stage: a stage for :func:`.loop.drive` whose parts join the run's state."""

    name = "prior"
    title = "code-prior stage"

    @classmethod
    def build(cls, context: StageContext, spec: CodePrior) -> "CodePriorStage":
        return cls(context.model, spec, context.data, context.best, label=context.label, logger=context.logger,
                   save=context.save)

    def __init__(self, model: torch.nn.Module, spec: CodePrior, data: DeviceData, autoencoder: BestWeights, *,
                 label: str, logger, save):
        self.model, self.spec, self.data, self.autoencoder = model, spec, data, autoencoder
        self.label, self.logger, self.save = label, logger, save
        self.optimizer = torch.optim.Adam(model.prior.parameters(), lr=spec.lr)
        self.progress = Progress()
        self.stopper = EarlyStopping.from_rule(spec.early_stopping)
        self.best = BestWeights(data.fit.device)
        self.steps_per_epoch = data.steps(spec.batch_size)
        self.codes: Dict[str, torch.Tensor] = {}

    def parts(self) -> Dict[str, Stateful]:
        return {"optimizer.prior": self.optimizer, "prior.progress": self.progress,
                "prior.early_stopping": self.stopper, "prior.best": self.best}

    @property
    def done(self) -> bool:
        return self.progress.stop is not None

    @property
    def started(self) -> bool:
        return self.progress.global_step > 0

    def where(self) -> str:
        return f"at code-prior epoch {self.progress.epoch + 1}, step {self.progress.step_in_epoch}"

    # ------------------------------------------------------------------ the stage
    def start(self) -> None:
        """The best autoencoder weights in place (all but the prior's), and the codes they give."""
        if self.autoencoder.weights is None:
            raise TrainingError(f"{self.label}: training kept no weights to model the codes of")
        own = {k: v for k, v in self.autoencoder.weights.items() if not k.startswith("prior.")}
        self.model.load_state_dict(own, strict=False)
        self.logger.open(purge_step=self.progress.global_step, stage="prior")
        self.codes = {"fit": self._encode(self.data.fit), "val": self._encode(self.data.val)}
        self.logger.line(f"code prior: {self.spec.type} on the codes of {len(self.codes['fit'])} fit images "
                         f"(the best epoch's weights)")

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.model):
            return encode_all(self.model.encode, images, self.data.fit.device).long()

    def begin_epoch(self) -> int:
        self._order = self.data.order(self.progress.epoch, purpose=("prior-order",))
        return self.steps_per_epoch

    def describe(self) -> str:
        return f"{self.label} code prior epoch {self.progress.epoch + 1}/{self.spec.epochs}"

    def step(self, i: int) -> Tuple[Dict[str, torch.Tensor], int]:
        idx = self._order[i * self.spec.batch_size:(i + 1) * self.spec.batch_size]
        self.model.prior.train()
        loss = self.model.prior_loss(self.codes["fit"][idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}, len(idx)

    def read(self, pending: List[Dict[str, torch.Tensor]], sizes: List[int], started: float, bar) -> None:
        losses = torch.stack([p["loss"] for p in pending]).double().cpu()
        p = self.progress
        if not torch.isfinite(losses).all():
            raise TrainingError(f"{self.label}: the code prior's loss became non-finite in its epoch {p.epoch + 1}; "
                                f"the last good state is intact: resume with {option('--resume', 'resume=True')}, or "
                                f"lower recipe.prior.lr")
        p.epoch_seconds += time.perf_counter() - started
        p.add_losses(["loss"], losses.unsqueeze(1), sizes)
        self.logger.scalars("nll/train_step", losses.tolist(), p.global_step - len(pending) + 1, stage="prior")
        bar.update(len(pending))
        bar.set_postfix(nll=f"{losses[-1].item():.2f}")

    def end_epoch(self) -> None:
        """Validate, keep the best prior, log, decide, save."""
        p = self.progress
        val = code_nll(self.model, self.codes["val"])
        if not math.isfinite(val):
            raise TrainingError(f"{self.label}: the code prior's validation NLL became {val}; lower recipe.prior.lr")
        improved = self.stopper.step(val, p.epoch + 1)
        if improved:
            self.best.keep(self.model.prior)
        record = p.end_epoch(val, self.optimizer.param_groups[0]["lr"])
        self.logger.scalars("nll/train", [record["train_loss"]], p.epoch, stage="prior")
        self.logger.scalars("nll/val", [val], p.epoch, stage="prior")
        self.logger.line(f"code prior epoch {p.epoch:>3}/{self.spec.epochs}  train {record['train_loss']:.3f}  "
                         f"val {val:.3f} nats/image{'  *best' if improved else ''}  {record['seconds']:.1f}s")
        if self.stopper.should_stop:
            p.stop = StopReason.EARLY_STOPPING
        elif p.epoch >= self.spec.epochs:
            p.stop = StopReason.COMPLETED
        self.save()

    # ------------------------------------------------------------------ the outcome
    def apply(self) -> None:
        """Put the best prior into the model and mark it trained (the model can then sample)."""
        if self.best.weights is not None:
            self.model.prior.load_state_dict(self.best.weights)
            self.model.prior_trained.fill_(1)

    def summary(self) -> Dict[str, Any]:
        """What metrics.json and the model card say of the stage (NLLs in nats per image of the code grid)."""
        test = code_nll(self.model, self._encode(self.data.test)) if self.best.weights is not None else None
        return {"type": self.spec.type, "seconds": self.progress.train_seconds, "epochs_run": self.progress.epoch,
                "best_epoch": self.stopper.best_epoch, "best_val_nll": self.stopper.best if self.stopper.best_epoch else None,
                "test_nll": test, "stop_reason": self.stopper.describe(self.progress.stop, self.spec.epochs)
                if self.progress.stop else None, "history": self.progress.history}
