"""What a finished run leaves: its facts (one dataclass for metrics.json, the weights header and the
model card), the best weights, the figures and metrics.json."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..entries import Entry
from ..evaluation.scoring import corrupted, device_of, mean_loss, score
from ..figures import loss_figure, reconstruction_grid, save_figure, save_grid
from ..io import atomic_write_json
from ..models import eval_mode
from ..recipe import Recipe
from ..seeds import derive_seed
from ..version import __version__
from ..weights import WEIGHTS_FILE, save_weights
from .batches import DeviceData
from .progress import Progress

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
    prior_seconds: Optional[float] = None  # a recipe with a code-prior stage: its time (not in train_seconds)

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


OPTIONAL = ("pretrain_seconds", "prior_seconds")


def finish(run_dir: Path, model: torch.nn.Module, entry: Entry, data: DeviceData, facts: TrainingFacts,
           progress: Progress, run: Dict[str, Any], *, best_epoch: Optional[int]) -> Dict[str, Any]:
    """Evaluate ``model`` (the best weights, loaded) and write the run's outputs (weights, figures,
    metrics.json); returns the summary. ``run`` adds how the run trained (world size, amp...)."""
    recipe = entry.recipe
    summary = {
        "name": entry.name,
        "dataset": entry.dataset,
        "run_dir": str(run_dir),
        **asdict(facts),
        "test_loss": mean_loss(model, data.test, recipe, "test"),
        "test_mse": _test_mse(model, data.test, model.device),
        "steps": progress.global_step,
        "samples_per_s": sum(h["samples_per_s"] for h in progress.history) / max(len(progress.history), 1),
        "params": model.num_parameters(),
        **run,
        "history": progress.history,
        "zoo_version": __version__,
        "torch_version": torch.__version__,
    }
    save_weights(run_dir / WEIGHTS_FILE, model, entry, **facts.header())
    save_grid(run_dir / "reconstructions.png", preview_grid(model, data.preview, recipe))
    fig = loss_figure(progress.history, title=f"{entry.name}: loss per epoch", best_epoch=best_epoch)
    save_figure(run_dir / "losses.png", fig)
    atomic_write_json(run_dir / "metrics.json", summary)
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
