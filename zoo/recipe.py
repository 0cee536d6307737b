"""A training recipe as registry.json gives it, and the overrides ``zoo train`` flags may apply.

Every class here is a frozen dataclass validated when built (see :mod:`zoo.schema`); an error
names the key, e.g. ``recipe.early_stopping.patience: must be >= 1, got 0``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Tuple

from .schema import SchemaError, from_dict, require, to_dict
from .seeds import MAX_SEED
from .stage_recipes import CodePrior, EarlyStoppingRule, Pretrain


@dataclass(frozen=True)
class Noise:
    """Input corruption for denoising: ``gaussian`` (std), ``masking`` (p) or ``salt_pepper`` (p)."""

    type: Literal["gaussian", "masking", "salt_pepper"]
    std: Optional[float] = None  # gaussian: standard deviation added to pixels in [0, 1]
    std_min: Optional[float] = None  # gaussian: if set, each image's std is drawn from U(std_min, std)
    p: Optional[float] = None  # masking / salt_pepper: probability a pixel is corrupted
    clip: bool = True  # gaussian: clip the corrupted image back into [0, 1]

    def __post_init__(self):
        if self.type == "gaussian":
            require(self.std is not None, "std", "gaussian noise needs std")
            require(self.std > 0, "std", f"must be > 0, got {self.std}")
            require(self.p is None, "p", "does not apply to gaussian noise")
            if self.std_min is not None:
                require(0 <= self.std_min < self.std, "std_min", f"must be in [0, std), got {self.std_min}")
        else:
            require(self.p is not None, "p", f"{self.type} noise needs p")
            require(0 < self.p < 1, "p", f"must be in (0, 1), got {self.p}")
            require(self.std is None and self.std_min is None, "std", f"does not apply to {self.type} noise")

    def hardest(self) -> "Noise":
        """The fixed, strongest corruption of this kind: what the denoising task is scored on."""
        return dataclasses.replace(self, std_min=None)


@dataclass(frozen=True)
class Scheduler:
    """Learning-rate schedule: ``cosine`` (per step to zero over the run) or ``step`` (per epoch)."""

    type: Literal["cosine", "step"]
    step_size: Optional[int] = None  # step: epochs between decays
    gamma: Optional[float] = None  # step: decay factor

    def __post_init__(self):
        if self.type == "step":
            require(self.step_size is not None and self.step_size >= 1, "step_size", "step needs step_size >= 1")
            require(self.gamma is not None and 0 < self.gamma <= 1, "gamma", "step needs gamma in (0, 1]")
        else:
            require(self.step_size is None and self.gamma is None, "type", "cosine takes no step_size or gamma")


@dataclass(frozen=True)
class SGDSettings:
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self):
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(not self.nesterov or self.momentum > 0, "nesterov", "needs momentum > 0")


@dataclass(frozen=True)
class AdamSettings:
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False

    def __post_init__(self):
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas", "needs two values in [0, 1)")
        require(self.eps > 0, "eps", f"must be > 0, got {self.eps}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")


OPTIMIZER_SETTINGS = {"sgd": SGDSettings, "adam": AdamSettings, "adamw": AdamSettings}


@dataclass(frozen=True)
class PhaseOptimizer:
    """The optimizer of one phase of a multi-optimizer objective (a discriminator's), where it differs
    from the recipe's: each field left out keeps the recipe's value."""

    optimizer: Optional[Literal["sgd", "adam", "adamw"]] = None
    lr: Optional[float] = None
    optimizer_kwargs: Optional[Dict[str, Any]] = None

    def __post_init__(self):
        require(self.lr is None or self.lr > 0, "lr", f"must be > 0, got {self.lr}")


@dataclass(frozen=True)
class Override:
    """A recipe value that ``zoo train --FLAG`` and ``zoo.train(NAME=...)`` may replace."""

    name: str  # keyword of zoo.train; the flag is --name with '-' for '_'
    path: Tuple[str, ...]  # where it sits in the recipe
    type: type  # int or float
    minimum: float
    min_open: bool  # True: the value must be above ``minimum``, not equal to it
    help: str
    maximum: Optional[float] = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OVERRIDES: Tuple[Override, ...] = (
    Override("epochs", ("epochs",), int, 1, False, "Most epochs (overrides the recipe)."),
    Override("batch_size", ("batch_size",), int, 1, False, "Batch size (overrides the recipe)."),
    Override("lr", ("lr",), float, 0, True, "Learning rate (overrides the recipe)."),
    Override("seed", ("seed",), int, 0, False, "Seed for weights, data order and noise.", MAX_SEED),
    Override("patience", ("early_stopping", "patience"), int, 1, False, "Early-stopping patience in epochs."),
    Override("min_delta", ("early_stopping", "min_delta"), float, 0, False, "Smallest validation-loss drop that counts."),
    Override("pretrain_epochs", ("pretrain", "epochs"), int, 0, False,
             "Epochs per layer of the recipe's pretraining stage (0: none, training starts from random weights)."),
)
OVERRIDE_NAMES = tuple(o.name for o in OVERRIDES)
OVERRIDE_PATHS = {".".join(o.path): o.name for o in OVERRIDES}  # "early_stopping.patience" -> "patience"


def parse_setting(text: str) -> Tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``: the value as JSON where it parses (``3``, ``1e-3``, ``null``, ``[0.9, 0.99]``,
    ``{"type": "cosine"}``), else as a string (``cosine``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SchemaError(text or "''", "a setting is KEY=VALUE, e.g. early_stopping.patience=10")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


@dataclass(frozen=True)
class Recipe:
    """How an entry is trained; ``epochs`` is the one field registry.json must give (README: "The registry"
    has the table of every field, its type, default and meaning)."""

    epochs: int  # the most epochs; early stopping may end the run sooner
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 1e-3
    batch_size: int = 128
    loss: Literal["mse", "bce"] = "mse"
    early_stopping: Optional[EarlyStoppingRule] = None  # None: every epoch runs; the best epoch's weights are kept
    seed: int = 0
    optimizer_kwargs: Dict[str, Any] = field(default_factory=dict)  # momentum, betas, weight_decay...
    scheduler: Optional[Scheduler] = None
    noise: Optional[Noise] = None  # set for denoising: inputs corrupted, targets clean
    pretrain: Optional[Pretrain] = None  # a stage before training (RBM pretraining)
    prior: Optional[CodePrior] = None  # a stage after training: a prior over the codes (a VQ-VAE's PixelCNN)
    optimizers: Dict[str, PhaseOptimizer] = field(default_factory=dict)  # per phase of a multi-optimizer objective
    notes: str = ""  # why the recipe is what it is

    def __post_init__(self):
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(0 <= self.seed <= MAX_SEED, "seed", f"must be in 0..{MAX_SEED} (2**63 - 1), got {self.seed}")
        from_dict(OPTIMIZER_SETTINGS[self.optimizer], self.optimizer_kwargs, "optimizer_kwargs")
        for name in self.optimizers:
            try:
                self.for_phase(name)
            except SchemaError as exc:
                raise SchemaError(f"optimizers.{name}.{exc.path}", exc.message) from None

    def for_phase(self, phase: str) -> "Recipe":
        """This recipe with phase ``phase``'s optimizer (``optimizers[phase]``) in place of its own."""
        spec = self.optimizers.get(phase)
        if spec is None:
            return self
        optimizer = spec.optimizer or self.optimizer
        kwargs = spec.optimizer_kwargs if spec.optimizer_kwargs is not None else (
            self.optimizer_kwargs if optimizer == self.optimizer else {})
        from_dict(OPTIMIZER_SETTINGS[optimizer], kwargs, "optimizer_kwargs")
        return dataclasses.replace(self, optimizer=optimizer, lr=spec.lr or self.lr, optimizer_kwargs=kwargs, optimizers={})

    def replace(self, **changes: Any) -> "Recipe":
        """A copy with ``changes`` applied and validated like registry.json (raises SchemaError).

        A change may be nested (``early_stopping={"patience": 3}``) or an override's name
        (``patience=3``, see :data:`OVERRIDES`); None means "keep"."""
        data = to_dict(self)
        by_name = {o.name: o for o in OVERRIDES}
        for key, value in changes.items():
            if value is None:
                continue
            if key in by_name and len(by_name[key].path) > 1:
                outer, inner = by_name[key].path
                if data[outer] is None and outer != "early_stopping":  # --patience on a recipe without: it starts
                    raise SchemaError(key, f"this recipe has no {outer} stage to set {inner} of")
                data[outer] = {**(data[outer] or {}), inner: value}
            elif isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return from_dict(Recipe, data)

    def with_settings(self, settings: Dict[str, Any]) -> "Recipe":
        """A copy with dotted-path ``settings`` (``{"early_stopping.patience": 10, "scheduler": None}``)
        applied and validated like registry.json (raises SchemaError naming the key)."""
        data = to_dict(self)
        for key, value in settings.items():
            parts = key.split(".")
            if not key or not all(parts):
                raise SchemaError(key or "''", "a setting is a recipe field, or a dotted path into one")
            node = data
            for depth, part in enumerate(parts[:-1]):
                if node.get(part) is None:
                    node[part] = {}  # an absent stage (scheduler: null) is built from its keys; an unknown key refused below
                elif not isinstance(node[part], dict):
                    where = ".".join(parts[:depth + 1])
                    raise SchemaError(where, f"is {json.dumps(node[part])} in this recipe; set {where} as a whole")
                node = node[part]
            node[parts[-1]] = value
        return from_dict(Recipe, data)

    def at(self, path: str) -> Any:
        """The recipe's value at a dotted path (None where a stage is absent)."""
        node: Any = self
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        return node

    def value(self, override: str) -> Any:
        """The recipe's current value of an override (``"patience"`` reads early_stopping.patience; None
        for ``pretrain_epochs`` of a recipe without a pretraining stage)."""
        (o,) = [o for o in OVERRIDES if o.name == override]
        node: Any = self
        for part in o.path:
            node = getattr(node, part, None)  # None: the recipe has no such stage
        return node
