"""Objectives: what one training step does. An objective owns its optimizers, their parameter groups
and their schedules; the loop only asks it for a step (Lightning's manual optimisation and pythae's
adversarial trainers teach the shape, not the class hierarchy).

An objective is a sequence of *phases*: a loss (a method of the model returning a :class:`LossOutput`),
the parameters it trains and their optimizer and schedule. :meth:`Objective.step` runs every phase in
turn on the batch. Built in:

- ``single`` (the default): one phase, the model's ``loss`` over all its parameters;
- ``alternating``: the phases the model names (``model.phases()``, a list of :class:`Phase`), over
  disjoint parameter sets, each with its own optimizer (the recipe's, or ``recipe.optimizers[phase]``)
  and schedule, stepped in turn; an adversarial autoencoder's autoencoder and discriminator.

A model names the objective it needs as its class attribute ``objective``; a plugin adds its own with
:func:`register_objective` (subclass :class:`Objective`, call :meth:`Objective.add_phase`, override
``step`` or ``parts`` as needed). DDP, ``--amp`` and ``--compile`` apply to every phase's loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple  # noqa: F401

import torch
from torch import nn

from ..errors import TrainingError, UsageError, check_key, check_registration, lookup
from ..models.base import Phase
from ..models.capabilities import capabilities, trained_parameters
from ..recipe import Recipe
from .distributed import Dist
from .optimizers import make_optimizer, make_scheduler, optimizer_kind
from .parts import Stateful

OBJECTIVES: Dict[str, type] = {}


def register_objective(key: str) -> Callable[[type], type]:
    """Class decorator: register an :class:`Objective` subclass under ``key`` (a key twice is refused);
    a model whose class attribute ``objective`` is ``key`` trains with it."""
    check_key("register_objective", key)

    def wrapper(cls: type) -> type:
        check_registration("register_objective", "An objective", OBJECTIVES, key, cls, Objective, "zoo.Objective")
        OBJECTIVES[key] = cls
        cls.key = key
        return cls

    return wrapper


def get_objective(key: str) -> type:
    return lookup(OBJECTIVES, key, "objective")


@dataclass(frozen=True)
class StepContext:
    """What an objective needs to know of the run besides the model and recipe."""

    device: torch.device
    dist: Dist
    steps_per_epoch: int
    amp: bool = False
    compile: bool = False


class LossModule(nn.Module):
    """One of the model's loss methods as a module call (what DistributedDataParallel wraps and
    torch.compile compiles); returns ``{"loss": ..., **parts}``."""

    def __init__(self, model: nn.Module, method: str, kind: str):
        super().__init__()
        self.model, self.method, self.kind = model, method, kind

    def forward(self, inputs: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        out = getattr(self.model, self.method)(inputs, target, kind=self.kind)
        return {"loss": out.loss, **out.parts}


class _Trained:
    """A phase once built: its loss module, optimizer and schedule."""

    def __init__(self, name: str, module: nn.Module, optimizer: torch.optim.Optimizer, schedule: Tuple[Any, bool]):
        self.name, self.module, self.optimizer = name, module, optimizer
        self.scheduler, self.per_step = schedule


class Objective:
    """Base class: phases added by ``add_phase`` and run in turn by ``step``."""

    key: str = ""

    def __init__(self, model: nn.Module, recipe: Recipe, context: StepContext):
        self.model, self.recipe, self.context = model, recipe, context
        self.phases: Dict[str, _Trained] = {}
        self._wrapped = False

    @classmethod
    def phase_names(cls, model: nn.Module) -> Optional[Tuple[str, ...]]:
        """The phases this objective trains ``model`` in, known before it is built (None: known only then);
        a recipe's ``optimizers`` may amend only these."""
        return None

    def add_phase(self, name: str, params: Iterable[nn.Parameter], loss: str = "loss", *,
                  optimizer: Optional[torch.optim.Optimizer] = None) -> None:
        """Train ``params`` on the model's ``loss`` method with ``optimizer`` (default: the recipe's, as
        ``recipe.optimizers[name]`` amends it) and the recipe's schedule."""
        params = list(params)
        if not params:
            raise TrainingError(f"phase {name!r} of the {self.key} objective has no parameters to train")
        if optimizer is None:
            optimizer = make_optimizer(self.recipe.for_phase(name), params)
        schedule = make_scheduler(self.recipe, optimizer, self.context.steps_per_epoch)
        self.phases[name] = _Trained(name, LossModule(self.model, loss, self.recipe.loss), optimizer, schedule)

    # ------------------------------------------------------------------ what the trainer calls
    def parts(self) -> Dict[str, Stateful]:
        """The objective's state, by part name: each phase's optimizer and scheduler."""
        out: Dict[str, Stateful] = {}
        for p in self.phases.values():
            out[f"optimizer.{p.name}"] = p.optimizer
            if p.scheduler is not None:
                out[f"scheduler.{p.name}"] = p.scheduler
        return out

    def prepare(self) -> None:
        """Before the first step: DDP around each phase's loss under torchrun, then torch.compile when asked."""
        if self._wrapped:
            return
        self._wrapped = True
        c = self.context
        for p in self.phases.values():
            if c.dist.enabled:
                from torch.nn.parallel import DistributedDataParallel

                ids = [c.device.index] if c.device.type == "cuda" else None
                p.module = DistributedDataParallel(p.module, device_ids=ids, find_unused_parameters=self._partial())
            if c.compile:
                p.module = torch.compile(p.module)

    def _partial(self) -> bool:
        """Whether some of the model's parameters get no gradient from a phase (DDP must then look for them)."""
        return len(self.phases) > 1 or len(trained_parameters(self.model)) < len(list(self.model.parameters()))

    def step(self, inputs: torch.Tensor, target: torch.Tensor, *, scale: float = 1.0) -> Dict[str, torch.Tensor]:
        """One step of every phase in turn; the detached losses (the first phase's as ``loss`` and its parts,
        a later phase's prefixed ``<phase>/``)."""
        out: Dict[str, torch.Tensor] = {}
        for i, name in enumerate(self.phases):
            losses = self.run_phase(name, inputs, target, scale=scale)
            out.update(losses if i == 0 else {f"{name}/{k}": v for k, v in losses.items()})
        return out

    def run_phase(self, name: str, inputs: torch.Tensor, target: torch.Tensor, *, scale: float = 1.0
                  ) -> Dict[str, torch.Tensor]:
        """Phase ``name``'s loss, backward and optimizer step (its per-step schedule too); its detached losses."""
        p = self.phases[name]
        with torch.autocast(self.context.device.type, dtype=torch.bfloat16, enabled=self.context.amp):
            losses = p.module(inputs, target)
        loss = losses["loss"] * scale if scale != 1.0 else losses["loss"]
        p.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        p.optimizer.step()
        if p.per_step:
            p.scheduler.step()
        return {k: v.detach() for k, v in losses.items()}

    def end_epoch(self) -> None:
        """Step the per-epoch schedules."""
        for p in self.phases.values():
            if p.scheduler is not None and not p.per_step:
                p.scheduler.step()

    @property
    def lr(self) -> float:
        """The first phase's learning rate (what an epoch's record shows)."""
        return next(iter(self.phases.values())).optimizer.param_groups[0]["lr"]

    def optimizer_kind(self) -> str:
        kinds = {optimizer_kind(p.optimizer) for p in self.phases.values()}
        return kinds.pop() if len(kinds) == 1 else "mixed"


@register_objective("single")
class Single(Objective):
    """One loss (the model's ``loss``) over all the model's parameters: zoo's default."""

    @classmethod
    def phase_names(cls, model: nn.Module) -> Optional[Tuple[str, ...]]:
        return ("main",)

    def __init__(self, model: nn.Module, recipe: Recipe, context: StepContext):
        super().__init__(model, recipe, context)
        self.add_phase("main", trained_parameters(model))

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.phases["main"].optimizer

    @optimizer.setter
    def optimizer(self, optimizer: torch.optim.Optimizer) -> None:  # scripts/bench.py swaps in torch's default kernel
        self.phases["main"].optimizer = optimizer


@register_objective("alternating")
class Alternating(Objective):
    """The model's ``phases()``, over disjoint parameter sets, each its own optimizer, stepped in turn."""

    @classmethod
    def phase_names(cls, model: nn.Module) -> Optional[Tuple[str, ...]]:
        return tuple(phase.name for phase in model.phases())

    def __init__(self, model: nn.Module, recipe: Recipe, context: StepContext):
        super().__init__(model, recipe, context)
        phases: Sequence[Phase] = model.phases()
        if len(phases) < 2:
            raise TrainingError(f"the alternating objective needs two or more phases; {type(model).__name__} names "
                                f"{len(phases)}")
        owner: Dict[int, str] = {}
        for phase in phases:
            params: List[nn.Parameter] = [p for m in phase.modules for p in model.get_submodule(m).parameters()]
            for p in params:
                if owner.setdefault(id(p), phase.name) != phase.name:
                    raise TrainingError(f"phases {owner[id(p)]!r} and {phase.name!r} of {type(model).__name__} share "
                                        f"parameters; each parameter belongs to one phase")
            self.add_phase(phase.name, params, phase.loss)


def check_phases(model: nn.Module, recipe: Recipe, label: str) -> None:
    """Refuse (one line) ``recipe.optimizers`` naming a phase the model's objective does not train (it would do
    nothing)."""
    names = get_objective(capabilities(model).objective).phase_names(model)
    unknown = sorted(set(recipe.optimizers) - set(names)) if names is not None else []
    if unknown:
        raise UsageError(f"recipe.optimizers.{unknown[0]}: {label} trains no phase {unknown[0]!r}; its "
                         f"{capabilities(model).objective} objective's phases: {', '.join(names)}")


def build_objective(model: nn.Module, recipe: Recipe, context: StepContext) -> Objective:
    """The objective ``model`` names (class attribute ``objective``, default ``single``), built."""
    return get_objective(capabilities(model).objective)(model, recipe, context)
