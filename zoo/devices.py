"""Turn a device string (auto, cpu, cuda, cuda:N, mps) into a torch.device, or say why not."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Union

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


_FLUSHING = [0, False]  # depth of nested flush_denormal blocks; whether the whole process flushes


def flush_denormal_everywhere() -> bool:
    """Flush denormals for the rest of the process, in every CPU thread torch starts from now on (the ``zoo``
    command calls this first): a thread inherits the setting when it is created, so torch's worker threads
    flush only when it was set before torch's first parallel op; :func:`flush_denormal` later sets only the
    calling thread. 2-thread softplus of 15.7 million logits around -60 +- 40: 237 ms, 47 ms set first, 229 ms
    set late."""
    _FLUSHING[1] = torch.set_flush_denormal(True)
    return _FLUSHING[1]


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks up to 32 MiB in the process (``M_MMAP_THRESHOLD``) and to give
    memory back to the kernel only past 1 GiB free (``M_TRIM_THRESHOLD``); the ``zoo`` command calls this first.
    A CPU step allocates its tensors afresh: by default a block above the (adaptive) threshold is mapped anew
    and every page faulted in zeroed, each time (64,000 to 279,000 page faults for zoo.nll's K=1000 on 500
    test images, 15,000 with this). zoo.nll there: 2.9 s, against 4.0 s with glibc's thresholds pinned at their
    128 KiB start and 2.9 to 3.4 s with its adaptive default.
    False where the C library is not glibc (nothing is changed)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_threshold, 32 << 20))


@contextmanager
def flush_denormal(device: Union[str, torch.device]) -> Iterator[None]:
    """On the CPU, float results below 1.2e-38 (denormals) are flushed to zero inside the block in the calling
    thread (``torch.set_flush_denormal``; torch's worker threads too where :func:`flush_denormal_everywhere`
    ran first), and torch's default (off) comes back after the outermost block. A CPU computes with denormals
    tens of times slower: an IWAE's importance-weighted gradients reach them (weights of e^-80 and less; a
    K=50 step on one thread took 253 ms with them against 149 ms without), and so do a trained decoder's
    background logits (-190) in the likelihood. Nothing else changes: each flushed value is below 1.2e-38."""
    if torch.device(device).type != "cpu" or _FLUSHING[1] or not torch.set_flush_denormal(True):
        yield
        return
    _FLUSHING[0] += 1
    try:
        yield
    finally:
        _FLUSHING[0] -= 1
        if _FLUSHING[0] == 0:
            torch.set_flush_denormal(False)
