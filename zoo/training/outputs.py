"""What a finished run leaves: its facts (one dataclass for metrics.json, the weights header and the
model card), the best weights, the figures and metrics.json."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Optional

import torch

from ..data import checksums
from ..evaluation.scoring import corrupted, device_of, mean_loss, score
from ..figures import loss_figure, reconstruction_grid, save_figure, save_grid
from ..io import atomic_write_json
from ..models import eval_mode
from ..recipe import Recipe
from ..seeds import derive_seed
from ..version import __version__
from ..weights import WEIGHTS_FILE, save_weights
from .setup import optimizer_kind

HEADER_NAMES = {"epochs_run": "epochs"}  # weights format 1 calls epochs_run "zoo.epochs"


@dataclass(frozen=True)
class TrainingFacts:
    """How a model was trained, as every output states it."""

    epochs_run: int
    best_epoch: Optional[int]
    best_val_loss: float
    stop_reason: str
    device: str
    train_seconds: float
    data_sha256: Dict[str, str]
    pretrain_seconds: Optional[float] = None  # a recipe with a pretraining stage: its time (not in train_seconds)

    def header(self) -> Dict[str, Any]:
        """The fields as ``save_weights`` extras (``zoo.<key>`` in the weights header); optional ones only if set."""
        return {HEADER_NAMES.get(k, k): v for k, v in asdict(self).items() if v is not None or k not in OPTIONAL}

    @classmethod
    def from_header(cls, metadata: Dict[str, str]) -> Dict[str, Any]:
        """The fields a weights header holds (absent ones as None, absent optional ones left out): a card's
        ``training`` block."""
        out = {}
        for f in fields(cls):
            raw = metadata.get(f"zoo.{HEADER_NAMES.get(f.name, f.name)}")
            if raw is not None or f.name not in OPTIONAL:
                out[f.name] = json.loads(raw) if raw is not None else None
        return out


OPTIONAL = ("pretrain_seconds",)


def finish(trainer) -> Dict[str, Any]:
    """Rank 0 evaluates the best weights and writes the outputs; returns the run's summary."""
    model, state, stopper = trainer.model, trainer.state, trainer.stopper
    if trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    facts = TrainingFacts(
        epochs_run=state.epoch,
        best_epoch=stopper.best_epoch,
        best_val_loss=stopper.best,
        stop_reason=stopper.describe(state.stop, trainer.recipe.epochs),
        device=str(trainer.device),
        train_seconds=state.train_seconds,
        data_sha256=checksums(trainer.entry.dataset),
        pretrain_seconds=trainer.pretraining.state.seconds if trainer.pretraining is not None else None,
    )
    data, recipe = trainer.data, trainer.recipe
    summary = {
        "name": trainer.entry.name,
        "dataset": trainer.entry.dataset,
        "run_dir": str(trainer.run_dir),
        **asdict(facts),
        "test_loss": mean_loss(model, data.test, recipe, "test"),
        "test_mse": _test_mse(model, data.test, trainer.device),
        "steps": state.global_step,
        "samples_per_s": sum(h["samples_per_s"] for h in state.history) / max(len(state.history), 1),
        "params": model.num_parameters(),
        "world_size": trainer.dist.world_size,
        "amp": trainer.options.amp,
        "compile": trainer.options.compile,
        "optimizer_impl": optimizer_kind(trainer.optimizer),
        "history": state.history,
        "pretrain": trainer.pretraining.summary() if trainer.pretraining is not None else None,
        "zoo_version": __version__,
        "torch_version": torch.__version__,
    }
    save_weights(trainer.run_dir / WEIGHTS_FILE, model, trainer.entry, **facts.header())
    save_grid(trainer.run_dir / "reconstructions.png", preview_grid(model, data.preview, recipe))
    fig = loss_figure(state.history, title=f"{trainer.entry.name}: loss per epoch", best_epoch=stopper.best_epoch)
    save_figure(trainer.run_dir / "losses.png", fig)
    atomic_write_json(trainer.run_dir / "metrics.json", summary)
    return summary


def _test_mse(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> float:
    with eval_mode(model):
        return score(model, images, ("mse",), device=device)["mse"]


def preview_grid(model: torch.nn.Module, originals: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """Test images on top, (their corrupted inputs,) and the reconstructions below."""
    nrow = min(8, len(originals))
    originals = originals[: len(originals) - len(originals) % nrow]  # whole rows (a tiny test split)
    inputs = corrupted(recipe.noise, derive_seed(recipe.seed, "preview"), device_of(model))(originals)
    with eval_mode(model):
        recon = model(inputs)
    return reconstruction_grid([originals, inputs, recon] if recipe.noise else [originals, recon], nrow=nrow)
