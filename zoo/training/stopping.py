"""When a run stops: early stopping on validation loss, and the reason a run ended."""
from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from ..recipe import EarlyStoppingRule


class StopReason(str, enum.Enum):
    """Why a run ended (saved in the state as its value)."""

    COMPLETED = "completed"  # the recipe's epochs ran out
    EARLY_STOPPING = "early_stopping"  # validation loss stopped improving
    STOPPED = "stopped"  # the caller's on_epoch asked for it (a sweep's pruner)


@dataclass
class EarlyStopping:
    """Improvement means ``loss < best - min_delta``; stop after ``patience`` epochs without one (patience 0:
    never, for a recipe without early stopping; the best epoch is still tracked)."""

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    best_epoch: Optional[int] = None
    bad_epochs: int = 0

    @classmethod
    def from_rule(cls, rule: Optional[EarlyStoppingRule]) -> "EarlyStopping":
        return cls(0) if rule is None else cls(rule.patience, rule.min_delta)

    def step(self, loss: float, epoch: int) -> bool:
        """Record one epoch's validation loss; True when it is a new best."""
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return 0 < self.patience <= self.bad_epochs

    def describe(self, reason: StopReason, epochs: int) -> str:
        """The reason as a person reads it (metrics.json, the weights header, the card)."""
        if reason is StopReason.EARLY_STOPPING:
            return (f"early stopping: validation loss did not improve by more than {self.min_delta:g} "
                    f"for {self.patience} epochs (best {self.best:.6f} at epoch {self.best_epoch})")
        if reason is StopReason.STOPPED:
            return "stopped by the on_epoch callback (a sweep's pruner, say)"
        return f"completed {epochs} epoch{'s' if epochs != 1 else ''}"

    def state_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["best"] = None if math.isinf(self.best) else self.best  # JSON has no infinity
        return data

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        self.best = math.inf if data["best"] is None else float(data["best"])
        self.best_epoch = data["best_epoch"]
        self.bad_epochs = int(data["bad_epochs"])
