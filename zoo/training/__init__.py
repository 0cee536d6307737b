"""Training: ``train`` (run.py) prepares the run folder and hands the entry to the ``Trainer`` (trainer.py).
The Trainer builds the run's parts (parts.py: each with its own state) and runs its stages (stage.py: training;
stages.py: those a recipe asks for besides, registered by their recipe field: pretrain.py, prior.py) through
one epoch loop (loop.py); a step is the model's objective (objectives.py: it owns the optimizers and schedules
of optimizers.py; randomness.py: the ranks' and the noise's streams), on the data on the device (batches.py), with early stopping
(stopping.py) and progress (progress.py); the state of the parts is one checkpoint (checkpoint.py), and
the run logs (logger.py), writes its outputs (outputs.py) and, under torchrun, joins the process group
(distributed.py)."""
from . import pretrain, prior  # noqa: F401  (they register their stages)
from .objectives import Alternating, Objective, Phase, Single, StepContext, register_objective
from .options import RunOptions
from .parts import Stateful
from .run import train
from .trainer import Trainer

__all__ = ["Alternating", "Objective", "Phase", "RunOptions", "Single", "Stateful", "StepContext", "Trainer",
           "register_objective", "train"]
