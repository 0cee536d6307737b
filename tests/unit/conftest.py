"""Unit tests: synthetic tensors and the package's own files only, in seconds. The data is hidden
from them (an empty ZOO_DATA_DIR and cache, no download), so a test that reaches for it fails."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_data(tmp_path, monkeypatch):
    import zoo.data
    import zoo.sources.idx

    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "no-cache"))
    monkeypatch.setattr(zoo.data, "_LOADED", {})

    def no_download(info, target, tried):
        raise AssertionError(f"a unit test reached for the {info.name} data")

    monkeypatch.setattr(zoo.sources.idx, "_download", no_download)
