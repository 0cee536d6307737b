"""The resume promise, the hard way: `zoo train` killed with SIGKILL mid-epoch, then resumed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch
from killing import kill_in_first_epoch
from safetensors.torch import load_file

ARGS = ["train", "hinton-30", "--epochs", "2", "--limit-batches", "40", "--checkpoint-every", "6",
        "--device", "cpu", "--quiet"]


def zoo_cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run_bitwise(tmp_path):
    straight = zoo_cli(*ARGS, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *ARGS, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    epoch, step = kill_in_first_epoch(proc, killed, 12, lambda: os.kill(proc.pid, signal.SIGKILL))
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists()
    assert epoch == 0 and 12 <= step < 40  # killed in the middle of the first epoch

    resumed = zoo_cli(*ARGS, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(killed.glob(".*.tmp")), "temporary files from the killed write are cleaned up"

    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
