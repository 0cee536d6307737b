"""Weights as safetensors with the registry entry in the header: rebuilt from data, never unpickled.

A weights file carries everything needed to rebuild its model: ``zoo.entry`` (the registry entry
as JSON) names the architecture and its kwargs, so :func:`load` works on a file from an older or
another registry too. Training adds epochs, best validation loss and data checksums.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

from . import hf
from .data import BUILTIN_DATASETS, image_shape
from .devices import resolve_device
from .errors import RegistryError, UnknownModelError, UsageError, WeightsError, checked_call, did_you_mean, shown
from .io import HEADER_CHECKSUM_KEY, atomic_save_safetensors, checksum_problem, header_sha256, loads_json, tensors_sha256
from .models import FAMILIES
from .models.base import check_image_shape
from .models.legacy import from_architecture, is_legacy, rename, renames
from .paths import resource_path
from .registry import NAME_RE, Entry, load_registry, parse_entry
from .version import __version__

FORMAT_VERSION = "2"  # 1: a checksum of the tensors; 2: also one of the whole header
FORMATS_READ = ("1", "2")
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"


def weights_dir() -> Path:
    """$ZOO_WEIGHTS_DIR, else the weights installed inside the package, else the repository's."""
    return resource_path("ZOO_WEIGHTS_DIR", "weights")


def shipped_weights(name: str) -> Path:
    return weights_dir() / name / WEIGHTS_FILE


def has_weights(name: str) -> bool:
    return shipped_weights(name).is_file()


def save_weights(path: Union[str, Path], model: torch.nn.Module, entry: Entry, **extra: Any) -> None:
    """Write ``model``'s tensors and ``entry`` (plus ``extra`` metadata, JSON-encoded) atomically, with
    the image shape the model was built for and the module of its architecture (a plugin's, maybe)."""
    metadata = {
        "format": "pt",
        "zoo.format": FORMAT_VERSION,
        "zoo.name": entry.name,
        "zoo.entry": entry.to_json(),
        "zoo.version": __version__,
        "zoo.image_shape": json.dumps(list(model.image_shape)),
        "zoo.architecture_module": type(model).__module__,
    }
    metadata.update({f"zoo.{k}": json.dumps(v) for k, v in extra.items()})
    atomic_save_safetensors(path, model.state_dict(), metadata)


def read_metadata(path: Union[str, Path]) -> Dict[str, str]:
    """The header metadata of a zoo weights file (checks that it is a regular safetensors file)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise WeightsError(f"Weights file {shown(path)} does not exist")
    if path.is_dir():
        raise WeightsError(f"{shown(path)} is a folder, not a weights file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise WeightsError(f"{shown(path)} is not a regular file, so not a weights file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:  # SafetensorError, OSError: a truncated file, a pickle, random bytes
        raise WeightsError(f"{shown(path)} is not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    if "zoo.entry" not in metadata:
        raise WeightsError(f"{shown(path)} is a safetensors file but not a zoo model (no 'zoo.entry' in its header)")
    if metadata.get("zoo.format") not in FORMATS_READ:
        raise WeightsError(f"{shown(path)} has weights format {metadata.get('zoo.format')!r}; this zoo reads "
                           f"{' and '.join(FORMATS_READ)} (written by another zoo version?)")
    if metadata["zoo.format"] != "1" and metadata.get(HEADER_CHECKSUM_KEY) != header_sha256(metadata):
        # checked before the header is parsed; the tensors' checksum is checked when they are read
        raise WeightsError(f"{shown(path)} is corrupted: its header fails its checksum (it was edited or damaged)")
    return metadata


def entry_from_file(path: Union[str, Path]) -> Tuple[Entry, Dict[str, str]]:
    """The entry a weights file was trained from; a bad one is a WeightsError (exit status 1). Nothing
    is imported for it: an architecture no active registry's plugin provides is named, not searched for."""
    metadata = read_metadata(path)
    name = metadata.get("zoo.name", "")
    try:
        data = loads_json(metadata["zoo.entry"])
    except ValueError as exc:
        raise WeightsError(f"{shown(path)}: the 'zoo.entry' header is not valid JSON ({exc})") from None
    family = (from_architecture(data) if is_legacy(data) else data).get("family") if isinstance(data, dict) else None
    if isinstance(family, str) and family not in FAMILIES and "zoo.architecture_module" in metadata:
        module = metadata["zoo.architecture_module"]
        raise WeightsError(f"{shown(path)} is a model of family {family!r} from the plugin module {module!r}, which "
                           f"no active registry imports; add the registry file that lists it to ZOO_REGISTRY "
                           f"(or zoo --registry FILE)")
    try:
        return parse_entry(name, data, source=shown(path)), metadata
    except RegistryError as exc:  # the content of a file, not the caller's request
        raise WeightsError(str(exc)) from None


def stored_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of the model's tensors (names, dtypes, shapes, bytes) as its weights file holds them (the header's
    ``zoo.tensors_sha256``): under the names the file gives them, where a file of the architecture form
    names some otherwise (:func:`stored_renames`)."""
    old = {new: name for name, new in getattr(model, "stored_names", {}).items()}
    return tensors_sha256({old.get(k, k): v for k, v in model.state_dict().items()})


def stored_renames(metadata: Dict[str, str]) -> Dict[str, str]:
    """The tensors a file written from an architecture-form entry holds under older names, old to new
    (:func:`zoo.models.legacy.renames`)."""
    try:
        return renames(loads_json(metadata.get("zoo.entry", "{}")))
    except ValueError:
        return {}


def image_shape_of(entry: Entry, metadata: Dict[str, str]) -> Tuple[int, int, int]:
    """The image shape a weights file's model was built for: its header's, else its data set's (files
    written before the header said it were all 1x28x28 MNIST-like)."""
    if "zoo.image_shape" in metadata:
        try:
            return check_image_shape(loads_json(metadata["zoo.image_shape"]))
        except (ValueError, TypeError) as exc:
            raise WeightsError(f"the 'zoo.image_shape' header is not an image shape ({exc})") from None
    if entry.dataset not in BUILTIN_DATASETS:  # every zoo file for other data says its shape: read nothing else
        raise WeightsError(f"the header has no 'zoo.image_shape' for its data set {shown(entry.dataset)}")
    return image_shape(entry.dataset)


def _declared_shapes(path: Path) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """Each tensor's shape and dtype as the file's header declares them (nothing is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {k: (tuple(handle.get_slice(k).get_shape()), handle.get_slice(k).get_dtype()) for k in handle.keys()}


def check_fits(entry: Entry, path: Path, shape: Tuple[int, int, int]) -> None:
    """Refuse a file whose declared tensors do not fit ``entry``'s model, before anything is allocated
    (the model is counted, capped and built on the meta device, which holds no data)."""
    try:
        with torch.device("meta"):  # build counts and caps the parameters first
            expected = {k: tuple(v.shape) for k, v in entry.build(shape).state_dict().items()}
    except RegistryError as exc:
        raise WeightsError(f"{shown(path)}: {exc}") from None
    declared = {k: declared_shape for k, (declared_shape, _) in _declared_shapes(path).items()}
    _compare(path, expected, rename(declared, stored_renames(read_metadata(path))))


def _compare(path: Path, expected: Dict[str, Tuple[int, ...]], declared: Dict[str, Tuple[int, ...]]) -> None:
    missing = sorted(set(expected) - set(declared))
    unexpected = sorted(set(declared) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(map(shown, unexpected[:3]))}{' ...' if len(unexpected) > 3 else ''}")
        raise WeightsError(f"{shown(path)} does not fit this model: {'; '.join(parts)}")
    for key, shape in expected.items():
        if declared[key] != shape:
            raise WeightsError(f"{shown(path)} does not fit this model: {key} is {declared[key]}, the model needs {shape}")


def load_weights_into(model: torch.nn.Module, path: Union[str, Path], device: torch.device) -> None:
    """Load tensors into ``model`` after checking checksums, names, shapes, dtypes and finiteness."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:
        raise WeightsError(f"{shown(path)} cannot be read as safetensors ({str(exc).splitlines()[0]})") from None
    problem = checksum_problem(tensors, metadata, header=metadata.get("zoo.format") != "1")
    if problem:
        raise WeightsError(f"{shown(path)} is corrupted: {problem}; get a fresh copy")
    tensors = rename(tensors, stored_renames(metadata))
    expected = model.state_dict()
    _compare(Path(path), {k: tuple(v.shape) for k, v in expected.items()}, {k: tuple(v.shape) for k, v in tensors.items()})
    for key, value in expected.items():
        if tensors[key].dtype != value.dtype:
            raise WeightsError(f"{shown(path)} does not fit this model: {key} is {tensors[key].dtype}, "
                               f"the model needs {value.dtype}")
        if tensors[key].is_floating_point() and not torch.isfinite(tensors[key]).all():
            raise WeightsError(f"{shown(path)} holds NaN or infinite values in {key}: these weights cannot be used")
    model.load_state_dict(tensors, strict=True)


def check_format_1(path: Path) -> None:
    """Weights format 1 (the shipped files) has no checksum of its header: such a file is trusted only
    beside a card.json that gives the SHA-256 of the whole file, as the shipped weights have."""
    card = path.parent / CARD_FILE
    try:
        expected = json.loads(card.read_text(encoding="utf-8"))["files"][WEIGHTS_FILE]
    except (OSError, ValueError, KeyError, TypeError):
        raise WeightsError(f"{shown(path)} is weights format 1, whose header has no checksum, and has no card.json "
                           f"beside it with its SHA-256; use weights written by this zoo (format 2)") from None
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise WeightsError(f"{shown(path)} differs from the SHA-256 in {shown(card)}: it was edited or damaged; "
                           f"get a fresh copy")


def hf_weights(spec: str) -> Path:
    """The weights file of ``hf://OWNER/NAME[@REVISION]`` (the Hub's snapshot, downloaded if need be)."""
    folder = hf.resolve(spec)
    if not (folder / WEIGHTS_FILE).exists():
        raise WeightsError(f"{spec} holds no {WEIGHTS_FILE}: not a zoo model (zoo export --format hf writes one)")
    path = hf.cached_file(folder, WEIGHTS_FILE, spec)
    if not path.is_file():
        raise WeightsError(f"{spec} holds no {WEIGHTS_FILE}: not a zoo model (zoo export --format hf writes one)")
    return path


def _looks_like_path(text: str) -> bool:
    return os.sep in text or text.endswith(".safetensors") or Path(text).exists() or not NAME_RE.match(text)


@checked_call
def load(name_or_path: Union[str, Path], *, pretrained: bool = True, device: Union[str, torch.device, None] = None):
    """A zoo model in eval mode on ``device`` (default: CUDA, then MPS, then CPU).

    Args:
        name_or_path: a registry name (``"fashion-64"``), a ``.safetensors`` file written by zoo, or
            a run directory holding ``model.safetensors``.
        pretrained: load trained weights (default). ``False`` gives a freshly initialised model
            built from the registry entry (names only).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"`` or a ``torch.device``.
    """
    target = resolve_device(device)
    if not isinstance(pretrained, bool):
        raise UsageError(f"pretrained must be True or False, got {pretrained!r}")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise UsageError(f"zoo.load takes a name or a path, not {type(name_or_path).__name__}")
    text = str(name_or_path)
    if not text.strip():
        raise UsageError("zoo.load was given an empty name; name a registry entry, a weights file or a run folder")
    if hf.is_hf(text):  # a Hub repository: its snapshot folder, then read like a run folder
        name_or_path = hf_weights(text)
        text = str(name_or_path)
    registry = load_registry()
    if isinstance(name_or_path, Path) or (text not in registry and _looks_like_path(text)):
        path = Path(text)
        if not path.exists() and isinstance(name_or_path, str) and os.sep not in text and not text.endswith(".safetensors"):
            hint = did_you_mean(text.lower(), registry.entries) or did_you_mean(text, registry.entries)
            raise UnknownModelError(f"Unknown model {text!r}, and no file or folder of that name.{hint or ' See `zoo list`.'}")
        if path.is_dir():
            if not (path / WEIGHTS_FILE).exists():
                raise WeightsError(f"{shown(path)} is a folder without {WEIGHTS_FILE}: not a finished zoo run "
                                   f"(a run folder holds it once training ends)")
            path = path / WEIGHTS_FILE
        if not pretrained:
            raise WeightsError("pretrained=False takes a registry name, not a file")
        entry, metadata = entry_from_file(path)
        shape = image_shape_of(entry, metadata)
        check_fits(entry, path, shape)
    else:
        entry = registry.get(text)  # unknown names: UnknownModelError with a suggestion
        path = shipped_weights(text)
        if pretrained and not path.is_file():
            raise WeightsError(
                f"No trained weights are shipped for {text!r} yet (looked for {path}); "
                f"train them with `zoo train {text}` and load the run folder, or pass pretrained=False"
            )
        metadata = read_metadata(path) if pretrained else {}
        shape = image_shape_of(entry, metadata)
    if pretrained and metadata.get("zoo.format") == "1":
        check_format_1(path)
    model = entry.build(shape)
    if pretrained:
        load_weights_into(model, path, torch.device("cpu"))
        model.stored_names = stored_renames(metadata)  # old name -> the model's, for a file of the architecture form
        model.weights_file = path  # where a header-named data set may be read from (zoo.data.header_may_read)
        trained_on = loads_json(metadata["zoo.data_sha256"]) if "zoo.data_sha256" in metadata else None
        model.trained_on = trained_on if isinstance(trained_on, dict) else None  # the data's SHA-256 at training
    return model.to(target).eval()
