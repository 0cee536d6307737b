"""The recipe's stages besides training, and the early-stopping rule they share with it: ``pretrain`` (before
training) and ``prior`` (after it). Re-exported by :mod:`zoo.recipe`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from .schema import require


@dataclass(frozen=True)
class EarlyStoppingRule:
    """Stop when validation loss has not improved by more than ``min_delta`` for ``patience`` epochs."""

    patience: int
    min_delta: float = 0.0

    def __post_init__(self):
        require(self.patience >= 1, "patience", f"must be >= 1, got {self.patience}")
        require(self.min_delta >= 0, "min_delta", f"must be >= 0, got {self.min_delta}")


@dataclass(frozen=True)
class Pretrain:
    """Greedy layer-wise pretraining before training: ``rbm`` trains the encoder as a stack of restricted
    Boltzmann machines with CD-1 (Hinton & Salakhutdinov, Science 2006), each on the codes of the one
    below, then unrolls the stack into the encoder and its mirror into the decoder. The defaults are
    the settings of the paper's published code; it fits MLPs of logistic layers (see
    :func:`zoo.models.rbm_stack`)."""

    type: Literal["rbm"]
    epochs: int = 50  # per layer; 0 skips the stage (the ablation: the same training from a random start)
    batch_size: int = 100
    lr: float = 0.1  # layers with logistic (binary) hidden units
    lr_linear: float = 0.001  # a linear code layer (Gaussian hidden units of unit variance)
    momentum: float = 0.9
    initial_momentum: float = 0.5  # for the first ``momentum_epochs`` epochs of each layer
    momentum_epochs: int = 5
    weight_cost: float = 0.0002  # L2 penalty on the weights
    init_std: float = 0.1  # weights start as N(0, init_std^2), biases at zero

    def __post_init__(self):
        require(self.epochs >= 0, "epochs", f"must be >= 0, got {self.epochs}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        for key in ("lr", "lr_linear", "init_std"):
            require(getattr(self, key) > 0, key, f"must be > 0, got {getattr(self, key)}")
        for key in ("momentum", "initial_momentum"):
            require(0 <= getattr(self, key) < 1, key, f"must be in [0, 1), got {getattr(self, key)}")
        require(self.momentum_epochs >= 0, "momentum_epochs", f"must be >= 0, got {self.momentum_epochs}")
        require(self.weight_cost >= 0, "weight_cost", f"must be >= 0, got {self.weight_cost}")


@dataclass(frozen=True)
class CodePrior:
    """A stage after training: a prior over the model's discrete codes, ``pixelcnn`` (the VQ-VAE's, as in van
    den Oord et al. 2017), trained with Adam on the codes that the best autoencoder weights give the fit
    split, validated on those of the val split (nats per image), its best epoch's weights kept. A model whose
    prior was not trained (``epochs`` 0) cannot sample."""

    type: Literal["pixelcnn"]
    epochs: int = 30  # 0 skips the stage
    batch_size: int = 128
    lr: float = 1e-3
    early_stopping: Optional[EarlyStoppingRule] = None  # on the validation NLL; None: every epoch runs

    def __post_init__(self):
        require(self.epochs >= 0, "epochs", f"must be >= 0, got {self.epochs}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
