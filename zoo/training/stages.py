"""Stages besides training that a recipe may ask for, each registered under the recipe field that names it
(``pretrain``, ``prior``, a plugin's), so that the Trainer builds and runs them without knowing any by name.

A stage kind is a class with ``name`` (the key of its parts and of its summary in metrics.json), a classmethod
``build(context, spec)`` (``spec``: the recipe's field, not None) and the methods :func:`.loop.drive` runs
(``start``, ``begin_epoch``, ``step``, ``read``, ``end_epoch``, ``describe``, ``where``, ``done``), plus
``parts()`` (what joins the run's state), ``started``, ``apply()`` (after training's best weights are in place:
its own result on top) and ``summary()`` (with ``seconds``). ``after`` says whether it runs after training.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, List

import torch

from ..errors import check_key, check_registration
from ..recipe import Recipe
from .batches import DeviceData
from .outputs import TrainingFacts
from .parts import BestWeights


@dataclass
class StageContext:
    """What a stage is built from: the run's model, data and recipe, the training stage's best weights, and
    where it reports and saves."""

    model: torch.nn.Module
    data: DeviceData
    recipe: Recipe
    best: BestWeights
    label: str
    logger: Any
    save: Callable[[], None]


@dataclass(frozen=True)
class StageKind:
    key: str  # the recipe field
    stage_cls: type
    after: bool


STAGE_KINDS: Dict[str, StageKind] = {}


def register_stage(key: str, *, after: bool) -> Callable[[type], type]:
    """Class decorator: the stage that recipe field ``key`` asks for, run before training or (``after``) after it."""
    check_key("register_stage", key)

    def wrapper(cls: type) -> type:
        check_registration("register_stage", "A stage", STAGE_KINDS, key, cls, object, "a class",
                           holder=lambda kind: kind.stage_cls)
        STAGE_KINDS[key] = StageKind(key, cls, after)
        return cls

    return wrapper


def build_stages(context: StageContext, *, after: bool) -> List[Any]:
    """The stages the recipe asks for (its field set, with epochs > 0) that run before (or after) training."""
    stages = []
    for kind in STAGE_KINDS.values():
        spec = getattr(context.recipe, kind.key)
        if kind.after == after and spec is not None and spec.epochs > 0:
            stages.append(kind.stage_cls.build(context, spec))
    return stages


def stage_summaries(summaries: Dict[str, Any]) -> Dict[str, Any]:
    """Every registered stage's summary by its name for metrics.json: None for one the run did not have."""
    return {kind.stage_cls.name: summaries.get(kind.stage_cls.name) for kind in STAGE_KINDS.values()}


def stage_seconds(summaries: Dict[str, Any]) -> Dict[str, Any]:
    """Each stage's time as the weights header keeps it (``<name>_seconds``, where the facts have such a field)."""
    known = {f.name for f in fields(TrainingFacts)}
    return {f"{name}_seconds": s["seconds"] for name, s in summaries.items() if f"{name}_seconds" in known}
