"""Resumable training state: one safetensors file, tensors inside, everything else as JSON in its header.

One file means one atomic ``os.replace``: a kill at any moment leaves either the old state or the
new one, never a mix. The previous good state is kept as ``state.prev.safetensors``, so a state
file damaged by something else than zoo still leaves one to fall back on.

What a state holds: the model, the optimizer and scheduler, the best weights so far, the
early-stopping counters, the :class:`TrainState` (position and running totals), the RNG states
of every rank and, with a pretraining stage, its position, RBM and generator. The data order of an
epoch is a function of seed and epoch, so nothing else is needed.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..errors import TrainingError
from ..io import atomic_save_safetensors, loads_json, read_verified_safetensors
from . import distributed
from .stopping import StopReason

STATE_FILE = "state.safetensors"
PREVIOUS_FILE = "state.prev.safetensors"
DAMAGED_FILE = "state.damaged.safetensors"  # a newest state that failed verification, set aside
STATE_FORMAT = 3  # 2: TrainState fields, run options, the stop reason as an enum value; 3: header checksum

Tensors = Dict[str, torch.Tensor]


@dataclass
class TrainState:
    """Where a run is and what it has done, apart from tensors and counters of their own."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # completed steps of the running epoch
    global_step: int = 0
    epoch_loss_sum: float = 0.0  # the running epoch's training loss, weighted by batch size
    epoch_samples: int = 0
    epoch_seconds: float = 0.0
    train_seconds: float = 0.0  # finished epochs' training-loop time
    history: List[Dict[str, float]] = field(default_factory=list)  # one record per finished epoch
    stop: Optional[StopReason] = None

    def add_losses(self, losses: torch.Tensor, sizes: List[int]) -> None:
        """Add read batch losses (float64, on the CPU) and their batch sizes to the running epoch."""
        self.epoch_loss_sum += float((losses * torch.tensor(sizes, dtype=torch.float64)).sum())
        self.epoch_samples += sum(sizes)

    def end_epoch(self, val_loss: float, lr: float) -> Dict[str, float]:
        """Close the running epoch: its record goes to ``history``, its counters back to zero."""
        self.epoch += 1
        record = {"epoch": self.epoch, "train_loss": self.epoch_loss_sum / max(self.epoch_samples, 1),
                  "val_loss": val_loss, "lr": lr, "seconds": self.epoch_seconds,
                  "samples_per_s": self.epoch_samples / max(self.epoch_seconds, 1e-9)}
        self.history.append(record)
        self.train_seconds += self.epoch_seconds
        self.step_in_epoch, self.epoch_loss_sum, self.epoch_samples, self.epoch_seconds = 0, 0.0, 0, 0.0
        return record

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data["stop"] = self.stop.value if self.stop else None
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TrainState":
        return cls(**{**data, "stop": StopReason(data["stop"]) if data["stop"] else None})


# ---------------------------------------------------------------------- a trainer's state
def _rng_states(trainer) -> Tensors:
    states = {"cpu": torch.get_rng_state()}
    if trainer.device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(trainer.device)
    if trainer.noise_gen is not None:
        states["noise"] = trainer.noise_gen.get_state()
    return states


def _rng_prefix(trainer, rank: int) -> str:
    """One process: ``rng.cpu``...; under torchrun each rank's: ``rng.rank1.cpu``..."""
    return f"rng.rank{rank}." if trainer.dist.enabled else "rng."


def _part(tensors: Tensors, prefix: str) -> Tensors:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def capture(trainer) -> Optional[Tuple[Tensors, Dict[str, Any]]]:
    """The trainer's state as (tensors, info). Every rank calls this at the same step (their RNG
    states are gathered); rank 0 gets the state, the other ranks None."""
    tensors: Tensors = {}
    for key, value in _rng_states(trainer).items():
        for rank, part in enumerate(distributed.all_gather(trainer.dist, value, trainer.device)):
            tensors[f"{_rng_prefix(trainer, rank)}{key}"] = part
    if not trainer.dist.is_main:
        return None
    tensors.update({f"model.{k}": v for k, v in trainer.model.state_dict().items()})
    if trainer.best_state is not None:
        tensors.update({f"best.{k}": v for k, v in trainer.best_state.items()})
    optim_tensors, optim_info = flatten_optimizer(trainer.optimizer.state_dict())
    tensors.update(optim_tensors)
    info = {
        "name": trainer.entry.name,
        "entry": trainer.entry.to_dict(),
        "options": trainer.options.to_dict(),
        **trainer.state.to_json(),
        "early_stopping": trainer.stopper.state_dict(),
        "optimizer": optim_info,
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "pretrain": trainer.pretraining.info() if trainer.pretraining is not None else None,
    }
    if trainer.pretraining is not None:
        tensors.update(trainer.pretraining.tensors())
    return tensors, info


def restore(trainer, tensors: Tensors, info: Dict[str, Any]) -> None:
    """Put a captured state back into ``trainer`` (this rank's RNG states included)."""
    trainer.model.load_state_dict(_part(tensors, "model."))
    best = _part(tensors, "best.")
    trainer.best_state = {k: v.to(trainer.device) for k, v in best.items()} if best else None
    trainer.optimizer.load_state_dict(unflatten_optimizer(tensors, info["optimizer"]))
    if trainer.scheduler is not None and info["scheduler"] is not None:
        trainer.scheduler.load_state_dict(info["scheduler"])
    rng = _rng_prefix(trainer, trainer.dist.rank)
    torch.set_rng_state(tensors[f"{rng}cpu"])
    if trainer.device.type == "cuda" and f"{rng}cuda" in tensors:
        torch.cuda.set_rng_state(tensors[f"{rng}cuda"], trainer.device)
    if trainer.noise_gen is not None:
        trainer.noise_gen.set_state(tensors[f"{rng}noise"])
    trainer.stopper.load_state_dict(info["early_stopping"])
    if trainer.pretraining is not None:
        trainer.pretraining.restore(tensors, info["pretrain"])
    trainer.state = TrainState.from_json({k: info[k] for k in TrainState.__dataclass_fields__})
    s = trainer.state
    if s.stop is StopReason.COMPLETED and s.epoch < trainer.recipe.epochs:
        s.stop = None  # --epochs raised on resume: carry on
    elif s.stop is None and s.step_in_epoch == 0 and s.epoch >= trainer.recipe.epochs:
        s.stop = StopReason.COMPLETED  # --epochs lowered to the epochs already done: finish now


def flatten_optimizer(state: Dict[str, Any], prefix: str = "optim.") -> Tuple[Tensors, Dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and a JSON-able rest."""
    tensors: Tensors = {}
    scalars: Dict[str, Dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: Tensors, info: Dict[str, Any], prefix: str = "optim.") -> Dict[str, Any]:
    state: Dict[int, Dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix):
            index, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in info["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [dict(g) for g in info["param_groups"]]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


# ---------------------------------------------------------------------- the state files
def write_state(run_dir: Path, tensors: Tensors, info: Dict[str, Any]) -> None:
    """Write the state atomically, keeping the one before as the fallback."""
    path = run_dir / STATE_FILE
    metadata = {"zoo.state": json.dumps({"format": STATE_FORMAT, **info})}
    if path.exists():
        os.replace(path, run_dir / PREVIOUS_FILE)
    atomic_save_safetensors(path, {k: v.detach().cpu() for k, v in tensors.items()}, metadata)


def _read(path: Path) -> Tuple[Tensors, Dict[str, Any]]:
    tensors, metadata = read_verified_safetensors(path)
    info = loads_json(metadata["zoo.state"])
    if not isinstance(info, dict) or info.get("format") != STATE_FORMAT:
        found = info.get("format") if isinstance(info, dict) else None
        raise ValueError(f"state format {found!r}, this zoo reads {STATE_FORMAT} (written by another zoo version)")
    return tensors, info


def has_state(run_dir: Path) -> bool:
    return (run_dir / STATE_FILE).exists() or (run_dir / PREVIOUS_FILE).exists()


def read_state(run_dir: Path, warn: Callable[[str], None]) -> Optional[Tuple[Tensors, Dict[str, Any]]]:
    """The newest good state in ``run_dir`` (None when there is none at all).

    A damaged newest state (truncated, not safetensors, failing a checksum) is passed over for the
    previous one and set aside as ``state.damaged.safetensors`` (so that the next save cannot rotate
    it over the good one), and ``warn`` says so; when no good state is left the error says why and
    nothing is touched, so a run never silently restarts from scratch.
    """
    problems = []
    for name in (STATE_FILE, PREVIOUS_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            result = _read(path)
        except Exception as exc:  # truncated, not safetensors, bad JSON: try the older one
            problems.append(f"{path} is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
            continue
        if problems:
            os.replace(run_dir / STATE_FILE, run_dir / DAMAGED_FILE)
            warn(f"{problems[0]}; resuming from the previous state {path} (the damaged one is kept as {DAMAGED_FILE})")
        return result
    if problems:
        raise TrainingError("; ".join(problems) + "; no good state is left to resume from")
    return None
