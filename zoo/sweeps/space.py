"""A sweep's search space: ``KEY=SPEC`` parameters parsed into Optuna distributions and checked against the
entry's recipe by the same schema that checks registry.json and ``zoo train --set`` (so a bad key or a value
the recipe cannot take is refused before any trial runs).

SPEC is one of ``log:LOW:HIGH`` (a float drawn on a log scale), ``float:LOW:HIGH``, ``int:LOW:HIGH`` (both
ends included) and ``choice:A,B,C`` (each value read as JSON where it parses: ``choice:64,128`` gives numbers,
``choice:adam,sgd`` strings).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple

from ..errors import UsageError
from ..recipe import Recipe
from ..schema import SchemaError

KINDS = ("log", "float", "int", "choice")


@dataclass(frozen=True)
class Param:
    """One swept recipe field: its dotted path, its SPEC as given, and what the SPEC says."""

    key: str
    spec: str
    kind: str
    low: Any = None
    high: Any = None
    choices: Tuple[Any, ...] = ()

    def distribution(self):
        """The Optuna distribution trials draw this parameter from."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(self.low, self.high)
        return FloatDistribution(self.low, self.high, log=self.kind == "log")

    def suggest(self, trial) -> Any:
        """The trial's value (drawn by the sampler, or fixed for a retried trial)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high)
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "log")

    def grid(self) -> List[Any]:
        """Every value, for the grid sampler (choices and whole numbers only)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(self.low, self.high + 1))
        raise UsageError(f"--sampler grid needs choice: or int: specs; {self.key}={self.spec} is continuous")

    def extremes(self) -> List[Any]:
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def _number(key: str, spec: str, text: str, kind: str) -> Any:
    try:
        if kind == "int":
            value = int(text)
        else:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
    except ValueError:
        what = "a whole number" if kind == "int" else "a finite number"
        raise UsageError(f"{key}={spec}: {text!r} is not {what}") from None
    return value


def parse_param(text: str) -> Param:
    """``KEY=SPEC`` as the CLI's ``--param`` gives it."""
    key, sep, spec = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--param takes KEY=SPEC (e.g. lr=log:1e-4:1e-2), got {text!r}")
    return param(key.strip(), spec.strip())


def param(key: str, spec: str) -> Param:
    """A :class:`Param` from its key and SPEC, its ranges checked (not yet against a recipe)."""
    if not isinstance(spec, str):
        raise UsageError(f"the SPEC of {key!r} must be a string such as 'log:1e-4:1e-2', got {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise UsageError(f"{key}={spec}: a SPEC starts with one of {', '.join(k + ':' for k in KINDS)} "
                         f"(e.g. log:1e-4:1e-2, int:32:256, choice:64,128)")
    if kind == "choice":
        items = [item.strip() for item in rest.split(",")]
        if not rest.strip() or not all(items):
            raise UsageError(f"{key}={spec}: choice: takes values separated by commas, e.g. choice:64,128,256")
        choices = tuple(_json_or_text(item) for item in items)
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise UsageError(f"{key}={spec}: a value appears twice")
        return Param(key, spec, kind, choices=choices)
    bounds = rest.split(":")
    if len(bounds) != 2:
        raise UsageError(f"{key}={spec}: {kind}: takes LOW:HIGH, e.g. {kind}:{'1e-4:1e-2' if kind != 'int' else '32:256'}")
    low, high = (_number(key, spec, b.strip(), kind) for b in bounds)
    if low > high:
        raise UsageError(f"{key}={spec}: LOW ({low:g}) is above HIGH ({high:g})")
    if kind == "log" and low <= 0:
        raise UsageError(f"{key}={spec}: a log: range must be above 0 (got LOW {low:g})")
    return Param(key, spec, kind, low, high)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_space(params: Mapping[str, str], recipe: Recipe, entry_name: str) -> Dict[str, Param]:
    """``{KEY: SPEC}`` as :class:`Param`\\ s, each checked against ``recipe`` at its ends (every choice) so that a
    key the recipe does not have, or a range it cannot take, is one line before anything runs."""
    if not isinstance(params, Mapping) or not params:
        raise UsageError("a sweep needs at least one parameter: --param KEY=SPEC (e.g. lr=log:1e-4:1e-2)")
    out: Dict[str, Param] = {}
    for key, spec in params.items():
        p = spec if isinstance(spec, Param) else param(str(key), spec)
        for value in p.extremes():
            try:
                recipe.with_settings({p.key: value})
            except SchemaError as exc:
                raise UsageError(f"--param {p.key}={p.spec} does not fit {entry_name}'s recipe: recipe.{exc}") from None
        out[p.key] = p
    return out


def applied(recipe: Recipe, values: Mapping[str, Any]) -> Recipe:
    """The recipe with a trial's values set (the exported entry's recipe)."""
    return recipe.with_settings(dict(values))
