"""The pretraining stage of a recipe (``"pretrain": {"type": "rbm", ...}``), which the Trainer runs before
training through the same epoch loop (:mod:`.loop`), so with the guarantees of training: a progress
bar and a line per epoch, TensorBoard scalars (in ``tensorboard/pretrain`` of the run folder), and the
state saved at every epoch end, every ``checkpoint_every`` steps and on Ctrl-C (the stage is a part of
the state), so that a run killed inside any layer resumes bit for bit.

RBM pretraining (Hinton & Salakhutdinov, 2006) trains the RBMs of :func:`zoo.models.rbm_stack` one
after the other, bottom first, each for ``epochs`` epochs of CD-1 on the hidden probabilities of the
layers below, and unrolls each finished RBM into its encoder layer and the mirrored decoder layer.
Each layer has its own seeded generator (initial weights, sampling) and data order per epoch, both
functions of the recipe's seed, layer and epoch.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..errors import TrainingError
from ..models.rbm import RBM, layer_input, rbm_stack
from ..recipe import Pretrain
from ..seeds import derive_seed
from .batches import DeviceData
from .stages import StageContext, register_stage


@dataclass
class PretrainState:
    """Where the stage is: ``layer`` is the RBM in training (the stack's length once all are done)."""

    layer: int = 0
    epoch: int = 0  # completed epochs of this layer
    step_in_epoch: int = 0
    global_step: int = 0  # steps of the whole stage
    error_sum: float = 0.0  # the running epoch's squared reconstruction error, summed over examples
    samples: int = 0
    epoch_seconds: float = 0.0
    seconds: float = 0.0  # finished epochs, all layers
    history: List[Dict[str, Any]] = field(default_factory=list)  # one record per finished epoch


@register_stage("pretrain", after=False)
class RBMPretraining:
    """The RBM stage of a recipe: a stage for :func:`.loop.drive` and a part of the run's state."""

    name = "pretrain"
    title = "RBM pretraining"

    @classmethod
    def build(cls, context: StageContext, spec: Pretrain) -> "RBMPretraining":
        return cls(context.model, spec, context.data, seed=context.recipe.seed, label=context.label,
                   logger=context.logger, save=context.save)

    def parts(self) -> Dict[str, Any]:
        return {self.name: self}

    @property
    def started(self) -> bool:
        return self.progress.global_step > 0

    def apply(self) -> None:
        """Nothing on top of training's weights: pretraining's result is where training started."""

    def __init__(self, model: torch.nn.Module, spec: Pretrain, data: DeviceData, *, seed: int, label: str,
                 logger, save: Callable[[], None]):
        self.spec, self.data, self.seed, self.label, self.logger, self.save = spec, data, seed, label, logger, save
        self.device = data.fit.device
        self.stack = rbm_stack(model)  # it fits: Entry.build refuses a model it does not
        self.progress = PretrainState()
        self.generator = torch.Generator(device=self.device)
        self.steps_per_epoch = data.steps(spec.batch_size)
        self.rbm: Optional[RBM] = None
        self._start_layer(initialise=True)

    @property
    def done(self) -> bool:
        return self.progress.layer >= len(self.stack)

    def _start_layer(self, initialise: bool) -> None:
        if self.done:
            self.rbm = None
            return
        layer = self.stack[self.progress.layer]
        self.rbm = RBM(layer.encoder.in_features, layer.encoder.out_features, linear=layer.linear, device=self.device)
        if initialise:
            self.generator.manual_seed(derive_seed(self.seed, "pretrain", self.progress.layer))
            self.rbm.initialise(self.spec.init_std, self.generator)

    # ------------------------------------------------------------------ the stage
    def start(self) -> None:
        self.logger.open(purge_step=self.progress.global_step, stage="pretrain")

    def begin_epoch(self) -> int:
        s, spec = self.progress, self.spec
        self._layer = self.stack[s.layer]
        self._lr = spec.lr_linear if self._layer.linear else spec.lr
        self._momentum = spec.initial_momentum if s.epoch < spec.momentum_epochs else spec.momentum
        self._order = self.data.order(s.epoch, purpose=("pretrain-order", s.layer))
        return self.steps_per_epoch

    def describe(self) -> str:
        s = self.progress
        return f"{self.label} pretrain layer {s.layer + 1}/{len(self.stack)} epoch {s.epoch + 1}/{self.spec.epochs}"

    def step(self, i: int) -> Tuple[Dict[str, torch.Tensor], int]:
        idx = self._order[i * self.spec.batch_size:(i + 1) * self.spec.batch_size]
        v = layer_input(self.stack, self.progress.layer, self.data.images(idx).flatten(1))
        error = self.rbm.cd1(v, lr=self._lr, momentum=self._momentum, weight_cost=self.spec.weight_cost,
                             generator=self.generator)
        return {"recon_error": error}, len(idx)

    def read(self, pending: List[Dict[str, torch.Tensor]], sizes: List[int], started: float, bar) -> None:
        errors = torch.stack([p["recon_error"] for p in pending]).double().cpu()
        s = self.progress
        if not torch.isfinite(errors).all():
            raise TrainingError(f"{self.label}: the reconstruction error of RBM {s.layer + 1} became "
                                f"non-finite in pretraining epoch {s.epoch + 1}; lower recipe.pretrain.lr")
        s.error_sum += float(errors.sum())
        s.samples += sum(sizes)
        s.epoch_seconds += time.perf_counter() - started
        per_example = (errors / torch.tensor(sizes, dtype=torch.float64)).tolist()
        first = s.global_step - len(pending) + 1
        self.logger.scalars(f"recon_error_step/layer{s.layer + 1}", per_example, first, stage="pretrain")
        bar.update(len(pending))
        bar.set_postfix(recon=f"{per_example[-1]:.3f}")

    def end_epoch(self) -> None:
        """Close the epoch (a record, a line, a scalar); unroll a finished layer; save the state."""
        s, spec = self.progress, self.spec
        layer = self.stack[s.layer]
        s.epoch += 1
        record = {"layer": s.layer + 1, "sizes": layer.sizes, "linear": layer.linear, "epoch": s.epoch,
                  "recon_error": s.error_sum / max(s.samples, 1), "seconds": s.epoch_seconds}
        s.history.append(record)
        s.seconds += s.epoch_seconds
        s.step_in_epoch, s.error_sum, s.samples, s.epoch_seconds = 0, 0.0, 0, 0.0
        self.logger.scalars(f"recon_error/layer{s.layer + 1}", [record["recon_error"]], s.epoch, stage="pretrain")
        self.logger.line(f"pretrain layer {s.layer + 1}/{len(self.stack)} ({layer.sizes}"
                         f"{', linear code' if layer.linear else ''})  epoch {s.epoch:>3}/{spec.epochs}  "
                         f"recon error {record['recon_error']:.4f}  {record['seconds']:.1f}s")
        if s.epoch >= spec.epochs:
            self.rbm.unroll_into(layer)
            s.layer, s.epoch = s.layer + 1, 0
            self._start_layer(initialise=True)
            if self.done:
                self.logger.line(f"pretraining done in {s.seconds:.1f}s: {len(self.stack)} RBMs unrolled into the autoencoder")
        self.save()

    def where(self) -> str:
        s = self.progress
        return f"at pretraining layer {s.layer + 1}/{len(self.stack)}, epoch {s.epoch + 1}, step {s.step_in_epoch}"

    # ------------------------------------------------------------------ the part
    def state_dict(self) -> Dict[str, Any]:
        return {"progress": asdict(self.progress), "rng": self.generator.get_state(),
                "rbm": self.rbm.tensors() if self.rbm is not None else None}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.progress = PretrainState(**state["progress"])
        self._start_layer(initialise=False)
        self.generator.set_state(state["rng"])
        if self.rbm is not None:
            self.rbm.load(state["rbm"])

    def summary(self) -> Dict[str, Any]:
        """What metrics.json and the model card say of the stage."""
        s = self.progress
        last = {r["layer"]: r for r in s.history}
        return {"type": self.spec.type, "seconds": s.seconds, "epochs_per_layer": self.spec.epochs,
                "layers": [{"layer": k, "sizes": r["sizes"], "linear": r["linear"], "recon_error": r["recon_error"]}
                           for k, r in sorted(last.items())],
                "history": s.history}
