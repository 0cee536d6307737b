"""Training: ``train`` (run.py) prepares the run folder and hands the entry to the ``Trainer``
(loop.py), whose loop uses the data on the device (batches.py), the optimizer and schedule
(setup.py), early stopping (stopping.py), the resumable state (checkpoint.py), logging (logger.py),
the final outputs (outputs.py) and, under torchrun, the process group (distributed.py)."""
from .loop import Trainer
from .options import RunOptions
from .run import train

__all__ = ["RunOptions", "Trainer", "train"]
