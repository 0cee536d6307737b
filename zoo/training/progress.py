"""Where a run's training stage is and what it has done: a part of the state (``progress``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import torch

from .stopping import StopReason


@dataclass
class Progress:
    """Where a run is and what it has done, apart from tensors and counters of their own."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # completed steps of the running epoch
    global_step: int = 0
    epoch_loss_sum: float = 0.0  # the running epoch's training loss, weighted by batch size
    epoch_samples: int = 0
    epoch_seconds: float = 0.0
    train_seconds: float = 0.0  # finished epochs' training-loop time
    history: List[Dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    stop: Optional[StopReason] = None
    epoch_part_sums: Dict[str, float] = field(default_factory=dict)  # the loss's named parts, like epoch_loss_sum

    def add_losses(self, names: List[str], losses: torch.Tensor, sizes: List[int]) -> None:
        """Add read batch losses (float64 on the CPU, a column per name: ``loss`` and the loss's named
        parts) and their batch sizes to the running epoch."""
        weights = torch.tensor(sizes, dtype=torch.float64)
        for j, name in enumerate(names):
            total = float((losses[:, j] * weights).sum())
            if name == "loss":
                self.epoch_loss_sum += total
            else:
                self.epoch_part_sums[name] = self.epoch_part_sums.get(name, 0.0) + total
        self.epoch_samples += sum(sizes)

    def end_epoch(self, val_loss: float, lr: float) -> Dict[str, float]:
        """Close the running epoch: its record goes to ``history``, its counters back to zero."""
        self.epoch += 1
        record = {"epoch": self.epoch, "train_loss": self.epoch_loss_sum / max(self.epoch_samples, 1),
                  "val_loss": val_loss, "lr": lr, "seconds": self.epoch_seconds,
                  "samples_per_s": self.epoch_samples / max(self.epoch_seconds, 1e-9)}
        if self.epoch_part_sums:
            record["parts"] = {k: v / max(self.epoch_samples, 1) for k, v in self.epoch_part_sums.items()}
        self.history.append(record)
        self.train_seconds += self.epoch_seconds
        self.step_in_epoch, self.epoch_loss_sum, self.epoch_samples, self.epoch_seconds = 0, 0.0, 0, 0.0
        self.epoch_part_sums = {}
        return record

    def state_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["stop"] = self.stop.value if self.stop else None
        return data

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        for key, value in data.items():
            setattr(self, key, StopReason(value) if key == "stop" and value else value)


def saved_progress(info: Dict[str, Any]) -> Dict[str, Any]:
    """The ``progress`` of a saved state's info, read without building a run (epoch, step_in_epoch, stop...)."""
    return info["parts"]["progress"]
