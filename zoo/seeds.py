"""Seeds derived from a recipe's seed and a purpose, stable across processes and versions."""
from __future__ import annotations

import hashlib
from typing import Any

from .errors import UsageError

MAX_SEED = 2**63 - 1  # torch.manual_seed takes a signed 64-bit integer


def check_seed(seed: Any, name: str = "seed") -> None:
    """Refuse (UsageError, one line naming ``name``) what is no seed: a whole number in 0..2**63 - 1, as every
    seed of zoo is."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{name} must be a whole number in 0..{MAX_SEED} (2**63 - 1), got {seed!r}"[:200])


def derive_seed(seed: int, *parts: Any) -> int:
    """A 63-bit seed for one purpose ("order", epoch), ("noise",), ("test",)... of ``seed``."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
