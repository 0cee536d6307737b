"""How a run trains apart from its recipe: the options config.json records beside the entry."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from ..errors import UsageError, option


@dataclass(frozen=True)
class RunOptions:
    """Run options of ``zoo train`` / ``zoo.train`` (checked when built; a bad value is a UsageError).

    Args:
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        checkpoint_every: also save the resumable state every this many steps (0: epoch ends only).
        limit_batches: train (and evaluate) on at most this many batches per epoch: smoke tests.
        log_every: steps between reads of the loss from the device (progress, TensorBoard).
        amp: bf16 autocast for the training forward pass; part of the trajectory, so a resume keeps it.
        compile: ``torch.compile`` the training step (the first steps are slower while it compiles).
        world_size: processes training together (torchrun's WORLD_SIZE; 1 without torchrun).
        threads: torch's threads when the run started (recorded: the count is part of a CPU run's bits).
    """

    device: str = "auto"
    checkpoint_every: int = 0
    limit_batches: Optional[int] = None
    log_every: int = 50
    amp: bool = False
    compile: bool = False
    world_size: int = 1
    threads: Optional[int] = None

    def __post_init__(self):
        for name, kind in (("checkpoint_every", int), ("limit_batches", int), ("log_every", int), ("world_size", int),
                           ("threads", int), ("amp", bool), ("compile", bool), ("device", str)):
            value = getattr(self, name)
            wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
            if wrong and not (value is None and name in ("limit_batches", "threads")):
                expected = {int: "a whole number", bool: "True or False", str: "a device name"}[kind]
                raise UsageError(f"{name} must be {expected}, got {value!r}")
        if self.checkpoint_every < 0:
            raise UsageError(f"{option('--checkpoint-every')} must be >= 0, got {self.checkpoint_every}")
        if self.limit_batches is not None and self.limit_batches < 1:
            raise UsageError(f"{option('--limit-batches')} must be >= 1, got {self.limit_batches}")
        if self.log_every < 1:
            raise UsageError(f"log_every must be >= 1, got {self.log_every}")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)
