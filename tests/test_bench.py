"""The benchmark script runs end to end (a few batches) and prints both loops."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from zoo.paths import REPO_DIR


@pytest.mark.slow
def test_bench_script_smoke():
    proc = subprocess.run([sys.executable, str(REPO_DIR / "scripts" / "bench.py"), "deep-784-32", "--reps", "2",
                           "--limit-batches", "5", "--device", "cpu"], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert any(line.startswith("| reference |") for line in lines) and any(line.startswith("| zoo |") for line in lines)
    assert "speed-up (zoo / reference samples/s):" in proc.stdout


def test_latency_script_smoke():
    proc = subprocess.run([sys.executable, str(REPO_DIR / "scripts" / "latency.py"), "--reps", "1", "--skip-compare"],
                          capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("| ") and " s |" in line]
    assert rows == ["import torch", "import zoo after torch", "zoo.load", "zoo.load again", "import zoo, torch included"]


def test_train_zoo_restamp_writes_documentation_changes_into_weights_and_refuses_others(tmp_path, monkeypatch):
    """scripts/train_zoo.py --restamp: the entry of registry.json goes into the header, tensors untouched."""
    import importlib.util
    import json
    import shutil

    import pytest
    from safetensors.torch import load_file

    import zoo
    from zoo.io import CHECKSUM_KEY, HEADER_CHECKSUM_KEY, atomic_save_safetensors, read_verified_safetensors
    from zoo.weights import read_metadata

    spec = importlib.util.spec_from_file_location("train_zoo", REPO_DIR / "scripts" / "train_zoo.py")
    train_zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_zoo)
    folder = tmp_path / "hinton-30-rbm"
    shutil.copytree(REPO_DIR / "weights" / "hinton-30-rbm", folder)
    path = folder / "model.safetensors"

    def write_entry(change):
        tensors, meta = read_verified_safetensors(path)
        entry = json.loads(meta["zoo.entry"])
        change(entry)
        kept = {k: v for k, v in meta.items() if k not in (CHECKSUM_KEY, HEADER_CHECKSUM_KEY)}
        atomic_save_safetensors(path, tensors, {**kept, "zoo.entry": json.dumps(entry)})

    write_entry(lambda e: (e["recipe"].update(notes="old notes"), e.update(ablation=None)))
    train_zoo.restamp("hinton-30-rbm", folder)
    assert json.loads(read_metadata(path)["zoo.entry"]) == zoo.get_entry("hinton-30-rbm").to_dict()
    before, after = load_file(str(REPO_DIR / "weights" / "hinton-30-rbm" / "model.safetensors")), load_file(str(path))
    assert all(torch.equal(before[k], after[k]) for k in before)
    shipped = read_metadata(REPO_DIR / "weights" / "hinton-30-rbm" / "model.safetensors")
    assert read_metadata(path)["zoo.pretrain_seconds"] == shipped["zoo.pretrain_seconds"]
    write_entry(lambda e: e["recipe"].update(lr=0.001))  # a different trajectory: not documentation
    with pytest.raises(SystemExit, match="changed more than its documentation"):
        train_zoo.restamp("hinton-30-rbm", folder)
