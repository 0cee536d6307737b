"""Turn a device string (auto, cpu, cuda, cuda:N, mps) into a torch.device, or say why not."""
from __future__ import annotations

from typing import Optional, Union

import torch

from .errors import UsageError, option


def resolve_device(spec: Union[str, torch.device, None] = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable device is a UsageError."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec is not None and not isinstance(spec, str):
        raise UsageError(f"A device is a name such as 'cpu', 'cuda:0' or 'auto', or a torch.device; got {spec!r}")
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise UsageError(f"Unknown device {spec!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"Device {spec!r} was asked for but CUDA is not available here; "
                             f"use {option('--device')} cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(f"Device {spec!r} does not exist: this machine has {count} CUDA device(s)")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise UsageError(f"Device {spec!r} was asked for but MPS is not available here; use {option('--device')} cpu or auto")
        return device
    raise UsageError(f"Unsupported device {spec!r}: use auto, cpu, cuda, cuda:N or mps")


def _mps_available() -> bool:
    backend: Optional[object] = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
