"""The resume promise, the hard way: `zoo train` killed with SIGKILL mid-epoch, then resumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

ARGS = ["train", "hinton-30", "--epochs", "2", "--limit-batches", "40", "--checkpoint-every", "6",
        "--device", "cpu", "--quiet"]


def zoo_cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300)


def saved_position(run_dir):
    try:
        with safe_open(str(run_dir / "state.safetensors"), framework="pt") as f:
            info = json.loads(f.metadata()["zoo.state"])
        return info["epoch"], info["step_in_epoch"]
    except Exception:  # not written yet, or being replaced this instant
        return None


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run_bitwise(tmp_path):
    straight = zoo_cli(*ARGS, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *ARGS, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while True:
        position = saved_position(killed)
        if position is not None and position[0] == 0 and position[1] >= 12:
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no mid-epoch state appeared"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists()
    epoch, step = saved_position(killed)
    assert epoch == 0 and 12 <= step < 40  # killed in the middle of the first epoch

    resumed = zoo_cli(*ARGS, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(killed.glob(".*.tmp")), "temporary files from the killed write are cleaned up"

    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
