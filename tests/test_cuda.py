"""Every CUDA path, on a real GPU: skipped (with the reason) where there is none.

Written for the GPU issue and not yet run on a GPU: run it with `bash benchmarks/gpu.sh` (or
`python -m pytest -q tests/test_cuda.py`) on a CUDA machine."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import zoo
import zoo.paths
from zoo.devices import resolve_device

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the GPU tests are skipped")
ARCHITECTURES = ["linear-128", "custom-layer", "conv-32", "vae-16", "denoising"]
SMALL = dict(epochs=1, limit_batches=5, quiet=True)


def env():
    return {**os.environ, "PYTHONPATH": str(zoo.paths.REPO_DIR)}


def weights(run):
    return load_file(str(run / "model.safetensors"))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_trains_on_cuda(name, tmp_path):
    summary = zoo.train(name, out=tmp_path, device="cuda", **SMALL)
    assert summary["device"].startswith("cuda") and summary["test_mse"] == summary["test_mse"]
    assert summary["optimizer_impl"] == "fused"  # torch has fused Adam and SGD kernels for CUDA


def test_auto_picks_cuda():
    assert resolve_device("auto").type == "cuda"


def test_resume_on_cuda_is_exact_where_kernels_are_deterministic(tmp_path):
    """A crash after the first mid-epoch checkpoint, then --resume: the CUDA RNG state comes back.
    MLP kernels (matmuls, fused Adam) are run-to-run deterministic on one GPU; tolerance 0."""
    options = dict(epochs=2, limit_batches=20, checkpoint_every=5, device="cuda", quiet=True)
    zoo.train("vae-16", out=tmp_path / "straight", **options)
    args = [sys.executable, "-m", "zoo", "train", "vae-16", "--epochs", "2", "--limit-batches", "20",
            "--checkpoint-every", "5", "--device", "cuda", "--quiet", "--out", str(tmp_path / "killed")]
    proc = subprocess.Popen(args, env=env())
    from killing import kill_in_first_epoch

    kill_in_first_epoch(proc, tmp_path / "killed", 5, proc.kill)
    assert subprocess.run(args + ["--resume"], env=env()).returncode == 0
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "killed")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("flag", ["amp", "compile"])
def test_amp_and_compile_on_cuda(flag, tmp_path):
    plain = zoo.train("fashion-64", out=tmp_path / "plain", device="cuda", **SMALL)
    other = zoo.train("fashion-64", out=tmp_path / flag, device="cuda", **{flag: True}, **SMALL)
    assert other[flag] and abs(other["test_mse"] - plain["test_mse"]) < 0.1 * plain["test_mse"]


def test_torchrun_with_one_process_uses_nccl(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m", "zoo", "train",
           "linear-128", "--device", "cuda", "--epochs", "1", "--limit-batches", "5", "--quiet", "--out", str(tmp_path)]
    done = subprocess.run(cmd, env=env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["device"].startswith("cuda")


@pytest.mark.parametrize("name", ["fashion-64", "conv-32", "vae-16"])
def test_eval_on_cuda_equals_cpu(name):
    """float32 on both; TF32 is off by default for matmuls in torch: 1e-5 on MSE, 1e-4 on SSIM."""
    cpu = zoo.evaluate(zoo.load(name, device="cpu"), metrics=("mse", "ssim"))
    gpu = zoo.evaluate(zoo.load(name, device="cuda"), metrics=("mse", "ssim"))
    assert abs(cpu["mse"] - gpu["mse"]) <= 1e-5 and abs(cpu["ssim"] - gpu["ssim"]) <= 1e-4
