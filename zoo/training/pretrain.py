"""The pretraining stage of a recipe (``"pretrain": {"type": "rbm", ...}``), which the Trainer runs before
training with the guarantees of training: a progress bar and a line per epoch, TensorBoard scalars (in
``tensorboard/pretrain`` of the run folder), and the state saved at every epoch end, every
``checkpoint_every`` steps and on Ctrl-C, so that a run killed inside any layer resumes bit for bit.

RBM pretraining (Hinton & Salakhutdinov, 2006) trains the RBMs of :func:`zoo.models.rbm_stack` one
after the other, bottom first, each for ``epochs`` epochs of CD-1 on the hidden probabilities of the
layers below, and unrolls each finished RBM into its encoder layer and the mirrored decoder layer.
Each layer has its own seeded generator (initial weights, sampling) and data order per epoch, both
functions of the recipe's seed, layer and epoch.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import torch

from ..data import to_float
from ..errors import TrainingError
from ..models.rbm import RBM, layer_input, rbm_stack
from ..seeds import derive_seed

PREFIX = "pretrain."  # of the stage's tensors in the state file


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


class RBMPretraining:
    """The RBM stage of ``trainer``'s recipe: :meth:`run` trains what is left of it."""

    def __init__(self, trainer):
        self.trainer, self.spec = trainer, trainer.recipe.pretrain
        self.stack = rbm_stack(trainer.model)  # it fits: Entry.build refuses a model it does not
        self.state = PretrainState()
        self.generator = torch.Generator(device=trainer.device)
        self.steps_per_epoch = trainer.data.steps(self.spec.batch_size)
        self.rbm: Optional[RBM] = None
        self._start_layer(initialise=True)

    @property
    def done(self) -> bool:
        return self.state.layer >= len(self.stack)

    def _start_layer(self, initialise: bool) -> None:
        if self.done:
            self.rbm = None
            return
        layer = self.stack[self.state.layer]
        self.rbm = RBM(layer.encoder.in_features, layer.encoder.out_features, linear=layer.linear,
                       device=self.trainer.device)
        if initialise:
            self.generator.manual_seed(derive_seed(self.trainer.recipe.seed, "pretrain", self.state.layer))
            self.rbm.initialise(self.spec.init_std, self.generator)

    def run(self, ctrl_c) -> None:
        """Train the remaining layers; saves the state as training does, raises KeyboardInterrupt
        after saving when ``ctrl_c`` asks to stop."""
        t, s, spec = self.trainer, self.state, self.spec
        if self.done:
            return
        t.logger.open(purge_step=s.global_step, stage="pretrain")
        every, last = t.options.checkpoint_every, self.steps_per_epoch
        while not self.done:
            layer = self.stack[s.layer]
            lr = spec.lr_linear if layer.linear else spec.lr
            momentum = spec.initial_momentum if s.epoch < spec.momentum_epochs else spec.momentum
            order = t.data.order(s.epoch, purpose=("pretrain-order", s.layer))
            bar = t.logger.bar(last, s.step_in_epoch, f"{t.entry.name} pretrain layer {s.layer + 1}/{len(self.stack)}"
                                                      f" epoch {s.epoch + 1}/{spec.epochs}")
            pending, sizes, started = [], [], time.perf_counter()
            for i in range(s.step_in_epoch, last):
                idx = order[i * spec.batch_size:(i + 1) * spec.batch_size]
                v = layer_input(self.stack, s.layer, to_float(t.data.fit[idx]).flatten(1))
                pending.append(self.rbm.cd1(v, lr=lr, momentum=momentum, weight_cost=spec.weight_cost,
                                            generator=self.generator))
                sizes.append(len(idx))
                s.step_in_epoch, s.global_step = i + 1, s.global_step + 1
                save = ctrl_c.requested or (every and s.global_step % every == 0)
                if len(pending) >= t.options.log_every or save or i + 1 == last:
                    self._read(pending, sizes, started, bar)
                    pending, sizes, started = [], [], time.perf_counter()
                if save and i + 1 < last:
                    t.save_state()
                if ctrl_c.requested and i + 1 < last:
                    self._interrupted()
            bar.close()
            self._end_epoch()
            if ctrl_c.requested and not self.done:
                self._interrupted()

    def _read(self, pending: List[torch.Tensor], sizes: List[int], started: float, bar) -> None:
        errors = torch.stack(pending).double().cpu()
        s = self.state
        if not torch.isfinite(errors).all():
            raise TrainingError(f"{self.trainer.entry.name}: the reconstruction error of RBM {s.layer + 1} became "
                                f"non-finite in pretraining epoch {s.epoch + 1}; lower recipe.pretrain.lr")
        s.error_sum += float(errors.sum())
        s.samples += sum(sizes)
        s.epoch_seconds += time.perf_counter() - started
        per_example = (errors / torch.tensor(sizes, dtype=torch.float64)).tolist()
        first = s.global_step - len(pending) + 1
        self.trainer.logger.scalars(f"recon_error_step/layer{s.layer + 1}", per_example, first, stage="pretrain")
        bar.update(len(pending))
        bar.set_postfix(recon=f"{per_example[-1]:.3f}")

    def _end_epoch(self) -> None:
        """Close the epoch (a record, a line, a scalar); unroll a finished layer; save the state."""
        s, t, spec = self.state, self.trainer, self.spec
        layer = self.stack[s.layer]
        s.epoch += 1
        record = {"layer": s.layer + 1, "sizes": layer.sizes, "linear": layer.linear, "epoch": s.epoch,
                  "recon_error": s.error_sum / max(s.samples, 1), "seconds": s.epoch_seconds}
        s.history.append(record)
        s.seconds += s.epoch_seconds
        s.step_in_epoch, s.error_sum, s.samples, s.epoch_seconds = 0, 0.0, 0, 0.0
        t.logger.scalars(f"recon_error/layer{s.layer + 1}", [record["recon_error"]], s.epoch, stage="pretrain")
        t.logger.line(f"pretrain layer {s.layer + 1}/{len(self.stack)} ({layer.sizes}{', linear code' if layer.linear else ''})"
                      f"  epoch {s.epoch:>3}/{spec.epochs}  recon error {record['recon_error']:.4f}  {record['seconds']:.1f}s")
        if s.epoch >= spec.epochs:
            self.rbm.unroll_into(layer)
            s.layer, s.epoch = s.layer + 1, 0
            self._start_layer(initialise=True)
            if self.done:
                t.logger.line(f"pretraining done in {s.seconds:.1f}s: {len(self.stack)} RBMs unrolled into the autoencoder")
        t.save_state()

    def where(self) -> str:
        s = self.state
        return f"pretraining layer {s.layer + 1}/{len(self.stack)}, epoch {s.epoch + 1}, step {s.step_in_epoch}"

    def _interrupted(self) -> None:
        raise KeyboardInterrupt(f"interrupted in {self.where()}; the state is saved: continue with --resume")

    # ------------------------------------------------------------------ state file
    def tensors(self) -> Dict[str, torch.Tensor]:
        out = {f"{PREFIX}rng": self.generator.get_state()}
        if self.rbm is not None:
            out.update({f"{PREFIX}{k}": v for k, v in self.rbm.tensors().items()})
        return out

    def info(self) -> Dict[str, Any]:
        return asdict(self.state)

    def restore(self, tensors: Dict[str, torch.Tensor], info: Dict[str, Any]) -> None:
        self.state = PretrainState(**info)
        self._start_layer(initialise=False)
        self.generator.set_state(tensors[f"{PREFIX}rng"])
        if self.rbm is not None:
            self.rbm.load({k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX) and k != f"{PREFIX}rng"})

    def summary(self) -> Dict[str, Any]:
        """What metrics.json and the model card say of the stage."""
        s = self.state
        last = {r["layer"]: r for r in s.history}
        return {"type": self.spec.type, "seconds": s.seconds, "epochs_per_layer": self.spec.epochs,
                "layers": [{"layer": k, "sizes": r["sizes"], "linear": r["linear"], "recon_error": r["recon_error"]}
                           for k, r in sorted(last.items())],
                "history": s.history}


def stage(trainer) -> Optional[RBMPretraining]:
    """The pretraining stage of ``trainer``'s recipe, or None (none, or one of 0 epochs)."""
    spec = trainer.recipe.pretrain
    return RBMPretraining(trainer) if spec is not None and spec.epochs > 0 else None


def run(trainer, ctrl_c) -> None:
    """Run what is left of ``trainer``'s pretraining stage (nothing without one)."""
    if trainer.pretraining is not None:
        trainer.pretraining.run(ctrl_c)


def where(trainer) -> Optional[str]:
    """Where ``trainer`` is in its pretraining stage, or None when it has none left to run."""
    stage_ = trainer.pretraining
    return stage_.where() if stage_ is not None and not stage_.done else None
