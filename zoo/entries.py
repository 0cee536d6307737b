"""Registry entries: each zoo name maps to a family (with its kwargs) on a network, a data set and a recipe;
and the data sets a registry file declares. An entry in the older ``"architecture"`` form is read as the
family form it stands for (:mod:`zoo.models.legacy`).

The file is validated strictly when loaded: an unknown key, a missing key, a wrong type or an
impossible size is refused with one line naming the entry and the key, e.g.
``registry.json: entry 'linear-128': recipe.lr: must be > 0, got -1.0``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch.overrides import TorchFunctionMode

from .errors import RegistryError, UnknownModelError, UsageError, shown
from .models import get_family, parse_config, rbm_stack
from .models.capabilities import capabilities
from .models.legacy import from_architecture, is_legacy
from .recipe import Recipe
from .schema import SchemaError, from_dict, require, to_dict
from .sources.idx import DATASETS as BUILTIN_DATASETS

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
RANDOM_FILLS = frozenset({"normal_", "uniform_", "bernoulli_", "exponential_", "geometric_", "log_normal_", "cauchy_",
                          "random_", "trunc_normal_", "orthogonal_", "sparse_", "kaiming_uniform_", "kaiming_normal_",
                          "xavier_uniform_", "xavier_normal_"})


class _NoInit(TorchFunctionMode):
    """Inside ``torch.device("meta")``: a random initialisation returns its tensor untouched. Meta tensors hold
    no values, and torch runs these fills on meta through its Python reference kernels, whose first use
    imports about 900 modules (1.6 s of every zoo command's start-up, for a parameter count)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) in RANDOM_FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)
MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights: a typo in a width must fail validation, not exhaust memory


@dataclass(frozen=True)
class Entry:
    """One zoo model: what to build (a family on a network), on which data, and how to train it."""

    description: str
    family: str  # "ae", "vae", "vq-vae", ... or a plugin's
    dataset: str  # "mnist", "fashion-mnist", a data set a registry file declares, or a path
    recipe: Recipe
    network: Optional[Dict[str, Any]] = None  # {"type": "mlp", ...settings}; None: the family's default network
    kwargs: Dict[str, Any] = field(default_factory=dict)  # the family's settings (latent_dim, beta, ...)
    params: Optional[int] = None  # parameter count; the tests hold the code to it
    reference: str = ""  # the reference system the entry comes from, if any
    reference_recipe: Optional[Dict[str, Any]] = None  # the recipe before tuning, and what it reached
    ablation: Optional[Dict[str, Any]] = None  # a variant measured beside it (command, result), e.g. no pretraining
    name: str = field(default="", init=False, compare=False)

    def __post_init__(self):
        require(self.description.strip() != "", "description", "must not be empty")
        require("\n" not in self.description, "description", "must be one line")
        try:
            family = get_family(self.family)
        except UnknownModelError as exc:
            raise SchemaError("family", str(exc)) from None
        config = parse_config(self.family, self.kwargs, "kwargs")
        family.network(self.network)  # the network's settings, and that it fits the family
        require(self.dataset.strip() != "", "dataset", "must name a data set")
        if self.dataset in BUILTIN_DATASETS:  # its image shape is known without reading it
            self.num_parameters(BUILTIN_DATASETS[self.dataset].image_shape, config)

    def num_parameters(self, image_shape: Sequence[int], config: Any = None) -> int:
        """The parameter count of this entry's model for images of ``image_shape``, counted on the meta
        device (nothing allocated); a model the shape does not allow, or above MAX_PARAMS, is refused."""
        config = config if config is not None else self.config
        try:
            with torch.device("meta"), _NoInit():
                model = get_family(self.family).build(config, image_shape, self.network)
        except ValueError as exc:  # SchemaError (latent wider than the input...), a bad image shape
            if isinstance(exc, SchemaError) and exc.path.startswith("network"):
                raise
            path = f"kwargs.{exc.path}" if isinstance(exc, SchemaError) and exc.path else "kwargs"
            raise SchemaError(path, exc.message if isinstance(exc, SchemaError) else str(exc)) from None
        n = sum(p.numel() for p in model.parameters())
        require(n <= MAX_PARAMS, "kwargs", f"the model would have {n:,} parameters, above zoo's cap of {MAX_PARAMS:,}")
        if self.recipe.pretrain is not None:  # the stage must fit the model it pretrains
            try:
                rbm_stack(model)
            except ValueError as exc:
                network = json.dumps(self.network, sort_keys=True) if self.network is not None else "its default network"
                raise SchemaError("recipe.pretrain", f"{exc} ({self.family} on {network})") from None
        if self.recipe.prior is not None and not capabilities(model).code_prior:
            raise SchemaError("recipe.prior", f"the {self.family} family has no discrete codes for a code prior "
                                              "to model (the stage is for a family with a code prior, as vq-vae)")
        return n

    @property
    def config(self) -> Any:
        return parse_config(self.family, self.kwargs, "kwargs")

    @property
    def network_type(self) -> Optional[str]:
        """The key of the network the model builds on (None: a model that builds its own layers)."""
        network = get_family(self.family).network(self.network)
        return network.key if network is not None else None

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def with_dataset(self, dataset: str) -> "Entry":
        """A copy of this entry (same name) for another data set."""
        entry = dataclasses.replace(self, dataset=dataset)
        object.__setattr__(entry, "name", self.name)
        return entry

    def with_recipe(self, recipe: Recipe) -> "Entry":
        """A copy of this entry (same name) training with ``recipe``."""
        entry = dataclasses.replace(self, recipe=recipe)
        object.__setattr__(entry, "name", self.name)
        return entry

    def build(self, image_shape: Sequence[int]):
        """A freshly initialised model of this entry for images of ``image_shape`` (C, H, W), checked on
        the meta device first; ``model.entry`` is this entry."""
        try:
            self.num_parameters(image_shape)
        except SchemaError as exc:
            raise RegistryError(f"entry {self.name!r}: {exc}") from None
        model = get_family(self.family).build(self.config, image_shape, self.network)
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


def parse_entry(name: str, data: Any, source: str = "registry.json", *, note_legacy: bool = False) -> Entry:
    """Validate one entry; errors name ``source``, the entry and the key. An entry in the ``"architecture"``
    form is mapped to the family form (``note_legacy``: saying so in one line on the ``zoo`` logger)."""
    try:
        check_name(name)
    except UsageError as exc:
        raise RegistryError(f"{source}: entry {name!r}: {exc}") from None
    if is_legacy(data):
        if "family" in data:
            raise RegistryError(f'{source}: entry {name!r}: give "family" (and "network"), not "architecture" too')
        data = from_architecture(data)
        if note_legacy:
            network = f' on network {json.dumps(data["network"], sort_keys=True)}' if "network" in data else ""
            logging.getLogger("zoo").warning(
                f'{source}: entry {name!r}: "architecture" is the older form; read as family {data["family"]!r}{network}')
    try:
        entry = from_dict(Entry, data)
    except SchemaError as exc:
        raise RegistryError(f"{source}: entry {name!r}: {exc}") from None
    object.__setattr__(entry, "name", name)
    return entry


@dataclass(frozen=True)
class DatasetSpec:
    """A user's data set, declared in a registry file: an image folder or an .npz (a path relative to
    that file), optionally resized to ``[H, W]`` (image folders)."""

    path: str
    resize: Optional[List[int]] = None

    def __post_init__(self):
        require(self.path.strip() != "", "path", "must name an image folder or an .npz file")
        if self.resize is not None:
            require(len(self.resize) == 2 and all(1 <= v <= 4096 for v in self.resize), "resize",
                    f"must be [H, W] with sizes 1..4096, got {self.resize}")


def parse_dataset(name: str, data: Any, source: str, path: Optional[Path]) -> DatasetSpec:
    """A declared data set; its path made absolute against the registry file's folder."""
    if not isinstance(name, str) or not NAME_RE.match(name) or name in BUILTIN_DATASETS:
        raise RegistryError(f"{source}: data set {shown(name)}: use a new name of lower-case letters, digits, "
                            f"'.', '_' and '-' (the built-in ones are {', '.join(BUILTIN_DATASETS)})")
    try:
        spec = from_dict(DatasetSpec, data)
    except SchemaError as exc:
        raise RegistryError(f"{source}: data set {name!r}: {exc}") from None
    folder = path.parent if path is not None else Path.cwd()
    return dataclasses.replace(spec, path=str((folder / spec.path).resolve()))


def natural_key(text: str) -> List[Any]:
    """Sort key putting 'deep-784-2' before 'deep-784-32' (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def looks_like_path(text: str) -> bool:
    """A data set given as a path (an image folder or an .npz), not a name."""
    return os.sep in text or "/" in text or text.endswith(".npz") or text.startswith(".")
