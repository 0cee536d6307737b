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
MAX_GRID = 100_000  # points of a --sampler grid sweep (each is a trial): counted before anything is built
MAX_CHOICES = 1_000  # values of one choice: (each is checked against the recipe)
MAX_INT = 2**63 - 1  # an int: bound, as torch and the recipe's integers take it
ECHO = 60  # characters of a key or SPEC that a message repeats


def _cut(text: str) -> str:
    return text if len(text) <= ECHO else text[:ECHO - 3] + "..."


def named(key: str, spec: str) -> str:
    """``KEY=SPEC`` as a message repeats it: each cut to ECHO characters, so that a huge one makes no huge line."""
    return f"{_cut(key)}={_cut(spec)}"


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

    def points(self) -> int:
        """How many values the grid sampler would try, from the arithmetic (nothing is built)."""
        if self.kind == "choice":
            return len(self.choices)
        if self.kind == "int":
            return self.high - self.low + 1
        raise UsageError(f"--sampler grid needs choice: or int: specs; {named(self.key, self.spec)} is continuous")

    def grid(self) -> List[Any]:
        """Every value, for the grid sampler (choices and whole numbers only; at most MAX_GRID of them)."""
        if self.points() > MAX_GRID:
            raise UsageError(f"--sampler grid: {named(self.key, self.spec)} alone has {self.points():,} points, above "
                             f"the {MAX_GRID:,} a grid may have; narrow the range")
        return list(self.choices) if self.kind == "choice" else list(range(self.low, self.high + 1))

    def extremes(self) -> List[Any]:
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def _number(key: str, spec: str, text: str, kind: str) -> Any:
    try:
        if kind == "int":
            value = int(text) if len(text) <= 30 else None
            if value is None or abs(value) > MAX_INT:
                raise ValueError
        else:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
    except ValueError:
        what = f"a whole number in -{MAX_INT}..{MAX_INT}" if kind == "int" else "a finite number"
        raise UsageError(f"{named(key, spec)}: {_cut(repr(text))} is not {what}") from None
    return value


def grid_size(space: Mapping[str, "Param"]) -> int:
    """The points of the grid over every parameter, refused in one line above MAX_GRID (from the arithmetic)."""
    size = 1
    for p in space.values():
        size *= p.points()
        if size > MAX_GRID:
            raise UsageError(f"--sampler grid: the grid over {', '.join(_cut(k) for k in space)} has more than "
                             f"{MAX_GRID:,} points; narrow the ranges or take fewer values")
    return size


def parse_param(text: str) -> Param:
    """``KEY=SPEC`` as the CLI's ``--param`` gives it."""
    key, sep, spec = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--param takes KEY=SPEC (e.g. lr=log:1e-4:1e-2), got {_cut(repr(text))}")
    return param(key.strip(), spec.strip())


def param(key: str, spec: str) -> Param:
    """A :class:`Param` from its key and SPEC, its ranges checked (not yet against a recipe)."""
    if not isinstance(spec, str):
        raise UsageError(f"the SPEC of {key!r} must be a string such as 'log:1e-4:1e-2', got {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise UsageError(f"{named(key, spec)}: a SPEC starts with one of {', '.join(k + ':' for k in KINDS)} "
                         f"(e.g. log:1e-4:1e-2, int:32:256, choice:64,128)")
    if kind == "choice":
        return Param(key, spec, kind, choices=_choices(key, spec, rest))
    bounds = rest.split(":")
    if len(bounds) != 2:
        raise UsageError(f"{named(key, spec)}: {kind}: takes LOW:HIGH, e.g. {kind}:{'1e-4:1e-2' if kind != 'int' else '32:256'}")
    low, high = (_number(key, spec, b.strip(), kind) for b in bounds)
    if low > high:
        raise UsageError(f"{named(key, spec)}: LOW ({low:g}) is above HIGH ({high:g})")
    if kind == "log" and low <= 0:
        raise UsageError(f"{named(key, spec)}: a log: range must be above 0 (got LOW {low:g})")
    return Param(key, spec, kind, low, high)


def _choices(key: str, spec: str, rest: str) -> Tuple[Any, ...]:
    """choice:A,B,C (each read as JSON where it parses), or choice:[...] (a JSON list: values holding commas, as
    objects do); at most MAX_CHOICES values, counted before any is read."""
    if rest.lstrip().startswith("["):
        try:
            items = json.loads(rest)
        except ValueError:
            items = None
        if not isinstance(items, list) or not items:
            raise UsageError(f"{named(key, spec)}: choice:[...] takes a non-empty JSON list, e.g. choice:[64, 128]")
        choices = tuple(items)
    else:
        if rest.count(",") >= MAX_CHOICES:
            raise UsageError(f"{named(key, spec)}: more than {MAX_CHOICES:,} choices; take fewer")
        texts = [item.strip() for item in rest.split(",")]
        if not rest.strip() or not all(texts):
            raise UsageError(f"{named(key, spec)}: choice: takes values separated by commas, e.g. choice:64,128,256 "
                             f"(or a JSON list: choice:[...])")
        choices = tuple(_json_or_text(item) for item in texts)
    if len(choices) > MAX_CHOICES:
        raise UsageError(f"{named(key, spec)}: more than {MAX_CHOICES:,} choices; take fewer")
    if len({json.dumps(c, sort_keys=True) for c in choices}) != len(choices):
        raise UsageError(f"{named(key, spec)}: a value appears twice")
    return choices


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
                message = f"--param {named(p.key, p.spec)} does not fit {entry_name}'s recipe: recipe.{exc}"
                raise UsageError(message[:500]) from None
        out[p.key] = p
    return out


def applied(recipe: Recipe, values: Mapping[str, Any]) -> Recipe:
    """The recipe with a trial's values set (the exported entry's recipe)."""
    return recipe.with_settings(dict(values))
