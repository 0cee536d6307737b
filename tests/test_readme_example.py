"""README's "Your own data and models" example, run exactly as written in a fresh folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoo.paths


@pytest.mark.slow
def test_the_own_data_example_runs_as_written(tmp_path, doc_block):
    """docs/own-data.md's example: its plugin, registry file and commands, in a fresh folder."""
    files = {name: doc_block(f"example:{name}") for name in ("my_plugin.py", "my_registry.json", "run.sh")}
    assert set(files) == {"my_plugin.py", "my_registry.json", "run.sh"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    bindir = str(Path(sys.executable).parent)  # the zoo console script of this environment
    env = {k: v for k, v in os.environ.items() if k != "ZOO_REGISTRY"}
    env.update(PATH=bindir + os.pathsep + env.get("PATH", ""), PYTHONPATH=str(zoo.paths.REPO_DIR))
    done = subprocess.run(["bash", "-eo", "pipefail", "run.sh"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "(1, 8, 8)"
    tiny = next(line for line in lines if line.startswith("runs/tiny ")).split()
    pca = next(line for line in lines if line.startswith("pca-8 ")).split()
    assert float(tiny[6]) < float(pca[6])  # the MSE column: the plugin model beats PCA-8


def test_the_quick_start_trains_as_written_with_no_data_in_the_cache(tmp_path, doc_block):
    """The Quick start's lines after the install, in the checkout, with an empty home (no cached data, no
    ZOO_DATA_DIR beforehand): its export finds the data beside the checkout. One epoch of two batches
    stands for the recipe, into a temporary run folder."""
    block = doc_block("quickstart")
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    export = next(line for line in lines if line.startswith("export ZOO_DATA_DIR="))
    train = next(line for line in lines if line.startswith("zoo train "))
    assert lines.index(export) < lines.index(train)
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_DATA_DIR", "ZOO_CACHE_DIR")}
    env.update(PATH=bindir + os.pathsep + env.get("PATH", ""), HOME=str(tmp_path / "home"))
    script = f"{export}\n{train} --epochs 1 --limit-batches 2 --out {tmp_path / 'run'} --quiet\n"
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=zoo.paths.REPO_DIR, capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert not (tmp_path / "home" / ".cache" / "zoo" / "data").exists()  # nothing was downloaded
