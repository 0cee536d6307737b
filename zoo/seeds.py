"""Seeds derived from a recipe's seed and a purpose, stable across processes and versions."""
from __future__ import annotations

import hashlib
from typing import Any


def derive_seed(seed: int, *parts: Any) -> int:
    """A 63-bit seed for one purpose ("order", epoch), ("noise",), ("test",)... of ``seed``."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
