"""Training: ``train`` (run.py) prepares the run folder and hands the entry to the ``Trainer`` (loop.py).
The Trainer builds the run's parts (parts.py: each with its own state) and runs its stages (pretrain.py,
stage.py) through one epoch driver (driver.py); a step is the model's objective (objectives.py: it owns
the optimizers and schedules of setup.py), on the data on the device (batches.py), with early stopping
(stopping.py) and progress (progress.py); the state of the parts is one checkpoint (checkpoint.py), and
the run logs (logger.py), writes its outputs (outputs.py) and, under torchrun, joins the process group
(distributed.py)."""
from .loop import Trainer
from .objectives import Alternating, Objective, Phase, Single, StepContext, register_objective
from .options import RunOptions
from .parts import Stateful
from .run import train

__all__ = ["Alternating", "Objective", "Phase", "RunOptions", "Single", "Stateful", "StepContext", "Trainer",
           "register_objective", "train"]
