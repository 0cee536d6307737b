"""The epoch driver: a Ctrl-C is answered at a step boundary with the state saved at that very step."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from zoo.training.loop import drive


class Stage:
    """Five steps an epoch, two epochs; ``read`` can play a Ctrl-C arriving while the losses are read."""

    def __init__(self, ctrl_c, ctrl_c_in_read_of_step=None):
        self.progress = SimpleNamespace(epoch=0, step_in_epoch=0, global_step=0, epoch_seconds=0.0)
        self.ctrl_c, self.at = ctrl_c, ctrl_c_in_read_of_step

    @property
    def done(self):
        return self.progress.epoch >= 2

    def start(self):
        pass

    def begin_epoch(self):
        return 5

    def describe(self):
        return "test"

    def step(self, i):
        return {"loss": torch.tensor(1.0)}, 1

    def read(self, pending, sizes, started, bar):
        if self.progress.global_step == self.at:
            self.ctrl_c.requested = True

    def end_epoch(self):
        self.progress.epoch, self.progress.step_in_epoch = self.progress.epoch + 1, 0

    def where(self):
        return f"at step {self.progress.step_in_epoch}"


class NoBar:
    def close(self):
        pass


LOGGER = SimpleNamespace(bar=lambda total, initial, desc: NoBar())


@pytest.mark.parametrize("during_read_of", [1, 3, 7])
def test_a_ctrl_c_while_the_losses_are_read_stops_after_a_save_at_a_later_step(during_read_of):
    ctrl_c = SimpleNamespace(requested=False)
    stage = Stage(ctrl_c, during_read_of)
    saved = []
    with pytest.raises(KeyboardInterrupt, match="the state is saved") as info:
        drive(stage, logger=LOGGER, ctrl_c=ctrl_c, save=lambda: saved.append(stage.progress.global_step),
              where=stage.where, checkpoint_every=0, log_every=1)
    assert saved and saved[-1] == stage.progress.global_step == during_read_of + 1  # saved where it stopped
    assert f"at step {stage.progress.step_in_epoch}" in str(info.value)
