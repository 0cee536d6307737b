"""Resumable training state: one safetensors file, tensors inside, everything else as JSON in its header.

One file means one atomic ``os.replace``: a kill at any moment leaves either the old state or the
new one, never a mix. The previous good state is kept as ``state.prev.safetensors``, so a state
file damaged by something else than zoo still leaves one to fall back on.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from .errors import TrainingError
from .io import atomic_save_safetensors, verify_checksum

STATE_FILE = "state.safetensors"
PREVIOUS_FILE = "state.prev.safetensors"
STATE_FORMAT = 1


def flatten_optimizer(state: Dict[str, Any], prefix: str = "optim.") -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and a JSON-able rest."""
    tensors: Dict[str, torch.Tensor] = {}
    scalars: Dict[str, Dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: Dict[str, torch.Tensor], info: Dict[str, Any], prefix: str = "optim.") -> Dict[str, Any]:
    state: Dict[int, Dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix):
            index, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in info["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [dict(g) for g in info["param_groups"]]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def save_state(run_dir: Path, tensors: Dict[str, torch.Tensor], info: Dict[str, Any]) -> None:
    """Write the state atomically, keeping the one before as the fallback."""
    path = run_dir / STATE_FILE
    metadata = {"zoo.state": json.dumps({"format": STATE_FORMAT, **info})}
    if path.exists():
        os.replace(path, run_dir / PREVIOUS_FILE)
    atomic_save_safetensors(path, {k: v.detach().cpu() for k, v in tensors.items()}, metadata)


def _read(path: Path) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        info = json.loads(metadata["zoo.state"])
        # clone: the tensors may be mapped from the file, and some (best weights) outlive this call
        tensors = {key: handle.get_tensor(key).clone() for key in handle.keys()}
    if not verify_checksum(tensors, metadata):
        raise ValueError("its tensors fail the checksum in its header")
    if info.get("format") != STATE_FORMAT:
        raise ValueError(f"state format {info.get('format')!r}, this zoo reads {STATE_FORMAT}")
    return tensors, info


def has_state(run_dir: Path) -> bool:
    return (run_dir / STATE_FILE).exists() or (run_dir / PREVIOUS_FILE).exists()


def load_state(run_dir: Path, warn: Optional[Callable[[str], None]] = None
               ) -> Optional[Tuple[Dict[str, torch.Tensor], Dict[str, Any]]]:
    """The newest good state in ``run_dir`` (None when there is none at all).

    A damaged newest state (truncated, not safetensors, failing its checksum) is passed over for the
    previous one, and ``warn`` (default: ``warnings.warn``) says so; when no good state is left the
    error says why, so a run never silently restarts from scratch.
    """
    problems = []
    for name in (STATE_FILE, PREVIOUS_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            result = _read(path)
        except Exception as exc:  # truncated, not safetensors, bad JSON: try the older one
            problems.append(f"{path} is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
            continue
        if problems:
            message = f"{problems[0]}; resuming from the previous state {path}"
            if warn is not None:
                warn(message)
            else:
                warnings.warn(message, RuntimeWarning, stacklevel=2)
        return result
    if problems:
        raise TrainingError("; ".join(problems) + "; no good state is left to resume from")
    return None
