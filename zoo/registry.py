"""registry.json: each zoo name maps to an architecture, its kwargs, a data set and a recipe.

The file is validated strictly when loaded: an unknown key, a missing key, a wrong type or an
impossible size is refused with one line naming the entry and the key, e.g.
``registry.json: entry 'linear-128': recipe.lr: must be > 0, got -1.0``.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Optional, Union

import torch

from .errors import RegistryError, UnknownModelError, UsageError, did_you_mean, shown
from .io import loads_json
from .models import get_architecture, parse_config
from .paths import resource_path
from .recipe import Recipe
from .schema import SchemaError, from_dict, require, to_dict

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights: a typo in a width must fail validation, not exhaust memory


@dataclass(frozen=True)
class Entry:
    """One zoo model: what to build, on which data, and how to train it."""

    description: str
    architecture: str
    kwargs: Dict[str, Any]
    dataset: Literal["mnist", "fashion-mnist"]
    recipe: Recipe
    params: Optional[int] = None  # parameter count; the tests hold the code to it
    reference: str = ""  # the reference system the entry comes from, if any
    reference_recipe: Optional[Dict[str, Any]] = None  # the recipe before tuning, and what it reached
    name: str = field(default="", init=False, compare=False)

    def __post_init__(self):
        require(self.description.strip() != "", "description", "must not be empty")
        require("\n" not in self.description, "description", "must be one line")
        try:
            get_architecture(self.architecture)
        except UnknownModelError as exc:
            raise SchemaError("architecture", str(exc)) from None
        config = parse_config(self.architecture, self.kwargs, "kwargs")
        with torch.device("meta"):  # counts the parameters without allocating them
            n = sum(p.numel() for p in get_architecture(self.architecture).model_cls(config).parameters())
        require(n <= MAX_PARAMS, "kwargs", f"the model would have {n:,} parameters, above zoo's cap of {MAX_PARAMS:,}")
        object.__setattr__(self, "_num_parameters", n)

    def num_parameters(self) -> int:
        """The parameter count of the model this entry builds (counted without building it for real)."""
        return self._num_parameters

    @property
    def config(self) -> Any:
        return parse_config(self.architecture, self.kwargs, "kwargs")

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def with_recipe(self, recipe: Recipe) -> "Entry":
        """A copy of this entry (same name) training with ``recipe``."""
        entry = dataclasses.replace(self, recipe=recipe)
        object.__setattr__(entry, "name", self.name)
        return entry

    def build(self):
        """A freshly initialised model for this entry; ``model.entry`` is this entry."""
        model = get_architecture(self.architecture).model_cls(self.config)
        model.entry = self
        return model

    def to_dict(self) -> Dict[str, Any]:
        data = to_dict(self)
        del data["name"]  # the name is the entry's key, not part of it
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def check_name(name: str) -> str:
    """Refuse names that are not plain zoo names (paths, '..', upper case, spaces)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(
            f"Invalid model name {name!r}: use lower-case letters, digits, '.', '_' and '-' (no paths)"
        )
    return name


def parse_entry(name: str, data: Any, source: str = "registry.json") -> Entry:
    """Validate one entry; errors name ``source``, the entry and the key."""
    try:
        check_name(name)
    except UsageError as exc:
        raise RegistryError(f"{source}: entry {name!r}: {exc}") from None
    try:
        entry = from_dict(Entry, data)
    except SchemaError as exc:
        raise RegistryError(f"{source}: entry {name!r}: {exc}") from None
    object.__setattr__(entry, "name", name)
    return entry


class Registry:
    """The validated entries of one registry file, by name."""

    def __init__(self, entries: Dict[str, Entry], path: Optional[Path] = None):
        self.entries = entries
        self.path = path

    @classmethod
    def from_json(cls, text: str, source: str = "registry.json", path: Optional[Path] = None) -> "Registry":
        try:
            data = loads_json(text)
        except ValueError as exc:  # JSONDecodeError, duplicate keys, nesting too deep
            raise RegistryError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) != {"version", "models"}:
            raise RegistryError(f'{source}: the top level must be {{"version": 1, "models": {{...}}}}')
        if data["version"] != 1:
            raise RegistryError(f"{source}: unsupported version {data['version']!r} (this zoo reads version 1)")
        if not isinstance(data["models"], dict) or not data["models"]:
            raise RegistryError(f"{source}: 'models' must be a non-empty object")
        entries = {name: parse_entry(name, value, source) for name, value in data["models"].items()}
        return cls(entries, path)

    def get(self, name: str) -> Entry:
        try:
            return self.entries[name]
        except (KeyError, TypeError):
            hint = did_you_mean(str(name), self.entries)
            raise UnknownModelError(f"Unknown model {name!r}.{hint or ' See `zoo list`.'}") from None

    def names(self, pattern: Union[str, Iterable[str], None] = None) -> List[str]:
        names = list(self.entries)
        if pattern is not None:
            patterns = [pattern] if isinstance(pattern, str) else list(pattern)
            names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        return sorted(names, key=natural_key)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)


def natural_key(text: str) -> List[Any]:
    """Sort key putting 'deep-784-2' before 'deep-784-32' (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def registry_path() -> Path:
    """$ZOO_REGISTRY, else the registry installed inside the package, else the repository's."""
    return resource_path("ZOO_REGISTRY", "registry.json")


_CACHE: Dict[tuple, Registry] = {}


def load_registry(path: Union[str, Path, None] = None) -> Registry:
    """Read and validate a registry file (default :func:`registry_path`); cached until it changes."""
    path = Path(path) if path is not None else registry_path()
    try:
        stat = path.stat()
        if not path.is_file():  # a FIFO would block, a device never end
            raise RegistryError(f"The registry {shown(path)} is not a regular file")
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = Registry.from_json(path.read_text(encoding="utf-8"), path.name, path)
        return _CACHE[key]
    except OSError as exc:
        raise RegistryError(f"Cannot read the registry {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path.name} is not UTF-8 text") from None


def list_models(pattern: Union[str, Iterable[str], None] = None) -> List[str]:
    """Zoo names, naturally sorted, optionally filtered by shell-style wildcards (``"deep-*"``)."""
    return load_registry().names(pattern)


def get_entry(name: str) -> Entry:
    """The validated registry entry for ``name``; unknown names get a 'Did you mean' suggestion."""
    return load_registry().get(name)
