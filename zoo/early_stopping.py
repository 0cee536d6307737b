"""Early stopping on validation loss, with a state that round-trips through JSON."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional


@dataclass
class EarlyStopping:
    """Improvement means ``loss < best - min_delta``; stop after ``patience`` epochs without one."""

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    best_epoch: Optional[int] = None
    bad_epochs: int = 0

    def step(self, loss: float, epoch: int) -> bool:
        """Record one epoch's validation loss; True when it is a new best."""
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["best"] = None if math.isinf(self.best) else self.best  # JSON has no infinity
        return data

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        self.best = math.inf if data["best"] is None else float(data["best"])
        self.best_epoch = data["best_epoch"]
        self.bad_epochs = int(data["bad_epochs"])
