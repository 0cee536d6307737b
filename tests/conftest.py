"""Shared fixtures: the real data (ZOO_DATA_DIR, default ../shared/data) and an isolated cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

if not os.environ.get("ZOO_DATA_DIR") and DEFAULT_DATA.is_dir():
    os.environ["ZOO_DATA_DIR"] = str(DEFAULT_DATA)
if os.environ.get("ZOO_DATA_DIR"):  # absolute, for the tests that run zoo in another folder
    os.environ["ZOO_DATA_DIR"] = str(Path(os.environ["ZOO_DATA_DIR"]).resolve())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never read or write the user's ~/.cache/zoo from a test."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "zoo-cache"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = os.environ.get("ZOO_DATA_DIR")
    if not path or not Path(path).is_dir():
        pytest.fail("the tests need the real data: set ZOO_DATA_DIR (see README)")
    return Path(path)


@pytest.fixture(scope="session")
def mnist_batch(data_dir) -> torch.Tensor:
    """16 real MNIST test images, (16, 1, 28, 28) floats in [0, 1]."""
    from zoo.data import load_dataset, to_float

    return to_float(load_dataset("mnist", "test").images[:16])


@pytest.fixture(scope="session")
def fashion_batch(data_dir) -> torch.Tensor:
    from zoo.data import load_dataset, to_float

    return to_float(load_dataset("fashion-mnist", "test").images[:16])
