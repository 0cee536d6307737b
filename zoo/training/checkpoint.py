"""Resumable training state: one safetensors file, tensors inside, everything else as JSON in its header.

One file means one atomic ``os.replace``: a kill at any moment leaves either the old state or the
new one, never a mix. The previous good state is kept as ``state.prev.safetensors``, so a state
file damaged by something else than zoo still leaves one to fall back on.

What a state holds is a dict of named parts (:mod:`.parts`): the trainer decides which (model,
optimizers, schedulers, best weights, progress, data, random generators, a pretraining stage...);
this module saves and restores any such dict and knows no part by name. Beside the parts, ``meta``
(the run's name, entry and options) is kept as JSON.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ..errors import TrainingError, option
from ..io import atomic_save_safetensors, loads_json, read_verified_safetensors
from .parts import Stateful, flatten, unflatten

STATE_FILE = "state.safetensors"
PREVIOUS_FILE = "state.prev.safetensors"
DAMAGED_FILE = "state.damaged.safetensors"  # a newest state that failed verification, set aside
STATE_FORMAT = 4  # 3: a header checksum; 4: a dict of named parts, each a flattened state dict

Tensors = Dict[str, torch.Tensor]


def capture(parts: Dict[str, Stateful], meta: Dict[str, Any], *, is_main: bool = True
            ) -> Optional[Tuple[Tensors, Dict[str, Any]]]:
    """The state of ``parts`` as (tensors, info), info holding ``meta`` and each part's JSON skeleton.

    Every part's ``state_dict`` is called on every rank, in order (a part may gather from all ranks);
    rank 0 (``is_main``) gets the state, the other ranks None."""
    states = {name: part.state_dict() for name, part in parts.items()}
    if not is_main:
        return None
    tensors: Tensors = {}
    skeletons: Dict[str, Any] = {}
    for name, state in states.items():
        part_tensors, skeletons[name] = flatten(state, name)
        tensors.update(part_tensors)
    return tensors, {**meta, "parts": skeletons}


def restore(parts: Dict[str, Stateful], tensors: Tensors, info: Dict[str, Any]) -> None:
    """Load a captured state back into ``parts``, in their order; a part the state lacks, or one it
    has that ``parts`` lacks, is refused (another recipe or zoo version wrote it)."""
    saved = info["parts"]
    missing, extra = [n for n in parts if n not in saved], [n for n in saved if n not in parts]
    if missing or extra:
        raise TrainingError(f"the saved state does not fit this run: "
                            f"{'missing ' + ', '.join(missing) if missing else ''}"
                            f"{'; ' if missing and extra else ''}{'unexpected ' + ', '.join(extra) if extra else ''}")
    fresh_tensors, fresh = capture(parts, {})  # what each part gives now: the skeleton a saved one must fit
    for name in parts:
        problem = skeleton_problem(fresh["parts"][name], saved[name], fresh_tensors, tensors, name)
        if problem:
            raise TrainingError(f"the saved state does not fit this run: {problem} (the file was edited, or written by "
                                f"another zoo version); nothing was restored")
    for name, part in parts.items():
        part.load_state_dict(unflatten(tensors, saved[name]))


def skeleton_problem(fresh: Any, saved: Any, fresh_tensors: Tensors, tensors: Tensors, path: str) -> Optional[str]:
    """Why the ``saved`` skeleton of a part does not fit the one the run's part gives now (None when it fits),
    before anything is restored: a value of another type where the part has a number, a string or a structure,
    a negative count where the part counts from zero, a tensor the file does not hold or of another dtype or
    number of dimensions than the part's. Lists and dicts may differ in length (histories grow, optimizers gain state): their
    common entries are compared, and every tensor the saved one names must be in the file."""
    if isinstance(saved, dict) and "@tensor" in saved:
        ref = saved["@tensor"]
        if not isinstance(ref, str) or ref not in tensors:
            return f"{path} names a tensor {str(ref)[:80]!r} that is not in the file"
        if isinstance(fresh, dict) and "@tensor" in fresh and fresh["@tensor"] in fresh_tensors:
            want, got = fresh_tensors[fresh["@tensor"]], tensors[ref]
            if want.dtype != got.dtype or want.dim() != got.dim():  # shapes may differ: an RBM stage's by layer
                return f"{path} is a {got.dtype} tensor of shape {tuple(got.shape)}, not {want.dtype} of {want.dim()} dims"
        elif fresh is not None and not (isinstance(fresh, dict) and "@tensor" in fresh):
            return f"{path} is a tensor where the run keeps {_kind(fresh)}"
        return None
    if fresh is None:  # an optional value, unset now: anything the part's own loader takes
        return _refs_problem(saved, tensors, path)
    if saved is None:  # an optional value, unset then (a finished stage's RBM, a best epoch not yet kept)
        return None
    if isinstance(fresh, bool) or isinstance(fresh, str):
        return None if type(saved) is type(fresh) or saved is None else f"{path} is {_kind(saved)}, not {_kind(fresh)}"
    if isinstance(fresh, int):
        if isinstance(saved, bool) or not isinstance(saved, int):
            return None if saved is None else f"{path} is {_kind(saved)}, not a whole number"
        return f"{path} is {saved}, below zero" if fresh >= 0 and saved < 0 else None
    if isinstance(fresh, float) or (isinstance(fresh, dict) and "@float" in fresh):
        ok = (isinstance(saved, (int, float)) and not isinstance(saved, bool)) or saved is None or (
            isinstance(saved, dict) and set(saved) == {"@float"})
        return None if ok else f"{path} is {_kind(saved)}, not a number"
    if isinstance(fresh, list):
        if not isinstance(saved, list):
            return f"{path} is {_kind(saved)}, not a list"
        for i, (f, s) in enumerate(zip(fresh, saved)):
            problem = skeleton_problem(f, s, fresh_tensors, tensors, f"{path}.{i}")
            if problem:
                return problem
        return _refs_problem(saved[len(fresh):], tensors, path)
    if isinstance(fresh, dict):
        special = [k for k in fresh if k.startswith("@")]
        if special and (not isinstance(saved, dict) or set(saved) != set(special)):
            return f"{path} is {_kind(saved)}, not {_kind(fresh)}"
        if not isinstance(saved, dict):
            return f"{path} is {_kind(saved)}, not an object"
        for key in saved:
            problem = (skeleton_problem(fresh[key], saved[key], fresh_tensors, tensors, f"{path}.{key}") if key in fresh
                       else _refs_problem(saved[key], tensors, f"{path}.{key}"))
            if problem:
                return problem
    return None


def _refs_problem(saved: Any, tensors: Tensors, path: str) -> Optional[str]:
    """Every tensor a saved skeleton names is in the file."""
    if isinstance(saved, dict):
        if "@tensor" in saved:
            ref = saved["@tensor"]
            if isinstance(ref, str) and ref in tensors:
                return None
            return f"{path} names a tensor {str(ref)[:80]!r} that is not in the file"
        for key, value in saved.items():
            problem = _refs_problem(value, tensors, f"{path}.{key}")
            if problem:
                return problem
    elif isinstance(saved, list):
        for i, value in enumerate(saved):
            problem = _refs_problem(value, tensors, f"{path}.{i}")
            if problem:
                return problem
    return None


def _kind(value: Any) -> str:
    if isinstance(value, dict) and "@tensor" in value:
        return "a tensor"
    if isinstance(value, list):
        return f"a list of {len(value):,} items"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(type(value), "a value")


class StateFormatError(TrainingError):
    """A state file of another format: refused as such, not passed over as damaged."""


# ---------------------------------------------------------------------- the state files
def write_state(run_dir: Path, tensors: Tensors, info: Dict[str, Any]) -> None:
    """Write the state atomically, keeping the one before as the fallback."""
    path = run_dir / STATE_FILE
    metadata = {"zoo.state": json.dumps({"format": STATE_FORMAT, **info})}
    if path.exists():
        os.replace(path, run_dir / PREVIOUS_FILE)
    atomic_save_safetensors(path, {k: v.detach().cpu() for k, v in tensors.items()}, metadata)


def _read(path: Path) -> Tuple[Tensors, Dict[str, Any]]:
    tensors, metadata = read_verified_safetensors(path)
    info = loads_json(metadata["zoo.state"])
    found = info.get("format") if isinstance(info, dict) else None
    if isinstance(found, int) and found != STATE_FORMAT:
        raise StateFormatError(f"{path} is a state of format {found}, written by "
                               f"{'an older' if found < STATE_FORMAT else 'a newer'} zoo; this zoo resumes format "
                               f"{STATE_FORMAT} only: train again into another {option('--out')} (or resume with that zoo)")
    if not isinstance(info, dict) or found != STATE_FORMAT or not isinstance(info.get("parts"), dict):
        raise ValueError(f"state format {found!r}, this zoo reads {STATE_FORMAT}")
    return tensors, info


def has_state(run_dir: Path) -> bool:
    return (run_dir / STATE_FILE).exists() or (run_dir / PREVIOUS_FILE).exists()


def read_state(run_dir: Path, warn: Callable[[str], None]) -> Optional[Tuple[Tensors, Dict[str, Any]]]:
    """The newest good state in ``run_dir`` (None when there is none at all).

    A damaged newest state (truncated, not safetensors, failing a checksum) is passed over for the
    previous one and set aside as ``state.damaged.safetensors`` (so that the next save cannot rotate
    it over the good one), and ``warn`` says so; when no good state is left the error says why and
    nothing is touched, so a run never silently restarts from scratch.
    """
    for name in (STATE_FILE, PREVIOUS_FILE, DAMAGED_FILE):  # zoo renames these: each must be a file, or absent
        path = run_dir / name
        if (path.exists() or path.is_symlink()) and not path.is_file():
            what = "a folder" if path.is_dir() else "not a regular file"
            raise TrainingError(f"{path} is {what}, where zoo keeps a state of the run; move it out of {run_dir} "
                                f"and resume again (nothing was changed)")
    problems = []
    for name in (STATE_FILE, PREVIOUS_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            result = _read(path)
        except StateFormatError:
            raise
        except Exception as exc:  # truncated, not safetensors, bad JSON: try the older one
            problems.append(f"{path} is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
            continue
        if problems:
            os.replace(run_dir / STATE_FILE, run_dir / DAMAGED_FILE)
            warn(f"{problems[0]}; resuming from the previous state {path} (the damaged one is kept as {DAMAGED_FILE})")
        elif name == PREVIOUS_FILE:  # the newest is gone (deleted by hand?): what is redone must be said
            warn(f"{run_dir} has no {STATE_FILE}; resuming from the previous state {path}, saved before the last "
                 f"one, so the steps after it are trained again")
        return result
    if problems:
        raise TrainingError("; ".join(problems) + "; no good state is left to resume from")
    return None
