"""The registry: the built-in registry.json, with a user's files layered over it.

``$ZOO_REGISTRY`` (os.pathsep-separated; ``zoo --registry FILE`` adds to it) names files of the same
schema plus ``"datasets"`` (a user's image folders and .npz files) and ``"plugins"`` (modules that
register architectures with ``zoo.register_model``, imported only because a file the user chose names
them). Built-in entries stay visible; a name defined twice is refused, naming both files.
"""
from __future__ import annotations

import fnmatch
import importlib
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

from .entries import (  # noqa: F401
    BUILTIN_DATASETS,
    NAME_RE,
    DatasetSpec,
    Entry,
    check_name,
    looks_like_path,
    natural_key,
    parse_dataset,
    parse_entry,
)
from .errors import RegistryError, UnknownModelError, UsageError, ZooError, did_you_mean, shown
from .io import loads_json
from .paths import resource_path

TOP_KEYS = ("version", "models", "datasets", "plugins")


class Registry:
    """Validated entries and data sets, by name, from one registry file or several layered ones."""

    def __init__(self, entries: Dict[str, Entry], path: Optional[Path] = None,
                 datasets: Optional[Dict[str, DatasetSpec]] = None, plugins: Tuple[str, ...] = ()):
        self.entries = entries
        self.path = path
        self.datasets = datasets or {}
        self.plugins = plugins

    @classmethod
    def from_json(cls, text: str, source: str = "registry.json", path: Optional[Path] = None,
                  known_datasets: Iterable[str] = ()) -> "Registry":
        """One registry file: ``{"version": 1, "models": {...}, "datasets": {...}, "plugins": [...]}``
        (models, or datasets, or both). Its plugins are imported before its models are checked; its
        models may use the built-in data sets, its own, ``known_datasets`` (declared by the files
        before it) or a path."""
        try:
            data = loads_json(text)
        except ValueError as exc:  # JSONDecodeError, duplicate keys, nesting too deep
            raise RegistryError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or "version" not in data or not set(data) <= set(TOP_KEYS) or len(data) < 2:
            raise RegistryError(f'{source}: the top level must be {{"version": 1, "models": {{...}}}}, with '
                                f'"datasets" and "plugins" optional')
        if data["version"] != 1:
            raise RegistryError(f"{source}: unsupported version {data['version']!r} (this zoo reads version 1)")
        if "models" in data and (not isinstance(data["models"], dict) or not data["models"]):
            raise RegistryError(f"{source}: 'models' must be a non-empty object")
        plugins = data.get("plugins", [])
        if not isinstance(plugins, list) or not all(isinstance(p, str) and p for p in plugins):
            raise RegistryError(f"{source}: 'plugins' must be a list of module names")
        for module in plugins:
            import_plugin(module, source, path)
        datasets = data.get("datasets", {})
        if not isinstance(datasets, dict):
            raise RegistryError(f"{source}: 'datasets' must be an object")
        specs = {name: parse_dataset(name, value, source, path) for name, value in datasets.items()}
        entries = {name: parse_entry(name, value, source, note_legacy=True) for name, value in data.get("models", {}).items()}
        known = [*BUILTIN_DATASETS, *known_datasets, *specs]
        for name, entry in entries.items():
            if entry.dataset not in known and not looks_like_path(entry.dataset):
                hint = did_you_mean(entry.dataset, known)
                raise RegistryError(f"{source}: entry {name!r}: dataset: expected one of {', '.join(map(repr, known))} "
                                    f"(or the path of an image folder or .npz), got {entry.dataset!r}.{hint}".rstrip("."))
        return cls(entries, path, specs, tuple(plugins))

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


def import_plugin(module: str, source: str, path: Optional[Path]) -> None:
    """Import a plugin module a registry file names (looked up on sys.path and in the file's folder)."""
    if module in sys.modules:
        return
    folder = str(path.resolve().parent) if path is not None else None
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        importlib.import_module(module)
    except ZooError as exc:  # e.g. a key registered twice
        raise RegistryError(f"{source}: plugin {module!r}: {exc}") from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        line = str(exc).splitlines()[0] if str(exc) else ""
        raise RegistryError(f"{source}: plugin {module!r} failed to import: {type(exc).__name__}: {line}") from None
    finally:
        if added:
            sys.path.remove(folder)


def builtin_registry_path() -> Path:
    """The registry installed inside the package, else the repository's."""
    return resource_path("ZOO_BUILTIN_REGISTRY", "registry.json")


def user_registry_paths() -> List[Path]:
    """The files of $ZOO_REGISTRY (os.pathsep-separated; ``zoo --registry`` adds to it), in order."""
    files: List[Path] = []
    for p in os.environ.get("ZOO_REGISTRY", "").split(os.pathsep):
        if p.strip() and Path(p).resolve() not in [f.resolve() for f in files]:  # a file named twice counts once
            files.append(Path(p))
    return files


_CACHE: Dict[tuple, Registry] = {}


def _read(path: Path) -> Tuple[tuple, str]:
    try:
        stat = path.stat()
        if not path.is_file():  # a FIFO would block, a device never end
            raise RegistryError(f"The registry {shown(path)} is not a regular file")
        return (str(path.resolve()), stat.st_mtime_ns, stat.st_size), path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"Cannot read the registry {shown(path)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path.name} is not UTF-8 text") from None


def load_registry(path: Union[str, Path, None] = None) -> Registry:
    """The registry: one file when ``path`` is given, else the built-in registry.json with the files of
    $ZOO_REGISTRY layered over it. A name defined twice is refused, naming both files. Cached until a
    file changes."""
    paths = [Path(path)] if path is not None else [builtin_registry_path(), *user_registry_paths()]
    read = [(p, *_read(p)) for p in paths]
    key = tuple(k for _, k, _ in read)
    if key not in _CACHE:
        layers: List[Tuple[Path, Registry]] = []
        for i, (p, _, text) in enumerate(read):
            known = [name for _, layer in layers for name in layer.datasets]
            layers.append((p, Registry.from_json(text, p.name if i == 0 else str(p), p, known)))
        _CACHE.clear()
        _CACHE[key] = _merge(layers)
    return _CACHE[key]


def _merge(layers: List[Tuple[Path, Registry]]) -> Registry:
    if len(layers) == 1:
        return layers[0][1]
    entries: Dict[str, Entry] = {}
    datasets: Dict[str, DatasetSpec] = {}
    where: Dict[Tuple[str, str], Path] = {}
    for path, layer in layers:
        for kind, mine, theirs in (("model", layer.entries, entries), ("data set", layer.datasets, datasets)):
            for name, value in mine.items():
                if (kind, name) in where:
                    raise RegistryError(f"The {kind} {name!r} is defined twice: in {shown(where[kind, name])} and in "
                                        f"{shown(path)}; rename one")
                where[kind, name] = path
                theirs[name] = value
    return Registry(entries, layers[0][0], datasets, tuple(p for _, layer in layers for p in layer.plugins))


def list_models(pattern: Union[str, Iterable[str], None] = None) -> List[str]:
    """Zoo names, naturally sorted, optionally filtered by shell-style wildcards (``"deep-*"``, or a list of them)."""
    patterns = [pattern] if isinstance(pattern, str) or pattern is None else pattern
    if not isinstance(patterns, (list, tuple, set)) or not all(p is None or isinstance(p, str) for p in patterns):
        raise UsageError(f"list_models takes a pattern such as 'deep-*' (or a list of them), got {pattern!r}")
    return load_registry().names(pattern)


def get_entry(name: str) -> Entry:
    """The validated registry entry for ``name``; unknown names get a 'Did you mean' suggestion."""
    return load_registry().get(name)
