"""The one epoch loop: every stage of a run (RBM pretraining, training) goes through the same
step / read / checkpoint / Ctrl-C loop.

A stage has a position (``progress``: ``epoch``, ``step_in_epoch``, ``global_step``, ``epoch_seconds``)
and says how an epoch goes; the driver runs what is left of it. Losses stay on the device until read,
every ``log_every`` steps (one host sync), at a checkpoint and at the epoch's end; the state is saved
every ``checkpoint_every`` steps, at every epoch end (by the stage's ``end_epoch``) and on Ctrl-C.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Protocol

import torch

from ..errors import option


class Stage(Protocol):
    """What the driver asks of a stage."""

    progress: Any  # epoch, step_in_epoch, global_step, epoch_seconds

    @property
    def done(self) -> bool: ...  # nothing left to run

    def start(self) -> None: ...  # once, before its first step in this process

    def begin_epoch(self) -> int: ...  # the running epoch's number of steps (its data order chosen)

    def describe(self) -> str: ...  # the progress bar's label

    def step(self, i: int) -> "tuple[Dict[str, torch.Tensor], int]": ...  # step i: (losses on the device, batch size)

    def read(self, pending: List[Dict[str, torch.Tensor]], sizes: List[int], started: float, bar) -> None: ...
    # read the pending losses (one host sync), add the time since ``started`` to the epoch's, log them

    def end_epoch(self) -> None: ...  # records, logs, decides, saves the state

    def where(self) -> str: ...  # the position in words: "at epoch 2, step 30"


def drive(stage: Stage, *, logger, ctrl_c, save: Callable[[], None], where: Callable[[], str],
          checkpoint_every: int, log_every: int) -> None:
    """Run what is left of ``stage``; ``save`` writes the run's state. When ``ctrl_c`` asks, the state is
    saved and KeyboardInterrupt raised, saying ``where()`` the run stopped."""
    if stage.done:
        return
    stage.start()
    p = stage.progress
    while not stage.done:
        last = stage.begin_epoch()
        bar = logger.bar(last, p.step_in_epoch, stage.describe())
        pending: List[Dict[str, torch.Tensor]] = []
        sizes: List[int] = []
        started = time.perf_counter()
        try:  # the bar's line ends (cleared) before any message, an interruption's included
            for i in range(p.step_in_epoch, last):
                losses, size = stage.step(i)
                pending.append(losses)
                sizes.append(size)
                p.step_in_epoch, p.global_step = i + 1, p.global_step + 1
                stop = ctrl_c.requested  # read once: a Ctrl-C during the read below is this step's stop, not a lie
                checkpoint = stop or (checkpoint_every and p.global_step % checkpoint_every == 0)
                if len(pending) >= log_every or checkpoint or i + 1 == last:
                    stage.read(pending, sizes, started, bar)
                    pending, sizes, started = [], [], time.perf_counter()
                if checkpoint and i + 1 < last:  # epoch ends save their own state
                    save()
                if stop and i + 1 < last:
                    interrupted(where)
        finally:
            bar.close()
        stage.end_epoch()
        if ctrl_c.requested:
            interrupted(where)


def interrupted(where: Callable[[], str]) -> None:
    raise KeyboardInterrupt(f"interrupted {where()}; the state is saved: continue with {option('--resume', 'resume=True')}")
