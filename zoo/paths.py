"""Where zoo finds what it ships (registry.json, weights) and where it caches (data, PCA fits)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def resource_path(env_var: str, name: str) -> Path:
    """``$env_var``, else ``name`` as a wheel installs it (zoo/_data/), else the repository's root copy."""
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    packaged = PACKAGE_DIR / "_data" / name
    return packaged if packaged.exists() else REPO_DIR / name


def cache_dir() -> Path:
    """$ZOO_CACHE_DIR, else $XDG_CACHE_HOME/zoo, else ~/.cache/zoo."""
    if os.environ.get("ZOO_CACHE_DIR"):
        return Path(os.environ["ZOO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zoo"
