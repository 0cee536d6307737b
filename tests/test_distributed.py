"""Training under torchrun (DDP, gloo on CPU): same numbers as one process, exact resume, rank 0 writes.

Tolerance for "2 ranks of batch 64 == 1 process of batch 128": each step's gradient is the same
mean, summed in another order (two GEMMs of 64 rows averaged, against one of 128), so the two
differ by float32 rounding. On linear-128 (SGD with momentum) after 60 steps we allow 1e-5 and
measured 6e-8. One step there moves the weights by up to 2.6e-3, so the bound sits over 100x
below a single step, and a wrong shard, a sum instead of a mean (2x gradient under SGD: measured
0.11) or a skipped all-reduce fails it. Under Adam rounding differences grow with the steps (see
the half-batch test), so the bitwise test pins the DDP run against one process doing the same sums.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from killing import kill_in_first_epoch, kill_tree
from safetensors.torch import load_file

from zoo.data import to_float
from zoo.errors import UsageError
from zoo.registry import get_entry
from zoo.training import RunOptions, Trainer, distributed
from zoo.training.distributed import Dist
from zoo.training.stage import TrainingStage

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built")

SMALL = ["--device", "cpu", "--epochs", "2", "--limit-batches", "30", "--quiet"]


def env() -> dict:  # absolute data path: some runs start in another folder
    data = str(Path(os.environ["ZOO_DATA_DIR"]).resolve())
    return {**os.environ, "ZOO_DATA_DIR": data, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def torchrun(*args, nproc=2, cwd=None, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "zoo", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), cwd=cwd)


def zoo_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300,
                          env=env(), cwd=cwd)


def weights(run_dir: Path):
    return load_file(str(run_dir / "model.safetensors"))


def zoo_errors(stderr: str):
    return [line for line in stderr.splitlines() if "Error: " in line and not line.startswith(("torch.", "E1", "W1"))]


# ---------------------------------------------------------------------- in one process
@pytest.mark.parametrize("world, n", [(2, 128), (2, 80), (3, 80), (4, 130), (4, 3), (8, 5)])
def test_shards_cover_the_batch_and_their_scaled_gradients_average_to_the_global_one(world, n):
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 1)
    x, y = torch.randn(n, 6), torch.randn(n, 1)
    idx = torch.randperm(n)

    def grads(rows, scale):
        model.zero_grad()
        (torch.nn.functional.mse_loss(model(x[rows]), y[rows]) * scale).backward()
        return [p.grad.clone() for p in model.parameters()]

    parts = [distributed.shard(Dist(rank=r, world_size=world), idx) for r in range(world)]
    used = torch.cat([rows for rows, scale in parts if scale > 0])
    assert torch.equal(used, idx)  # every image once, in order
    averaged = [sum(g) / world for g in zip(*(grads(rows, scale) for rows, scale in parts))]
    for mine, whole in zip(averaged, grads(idx, 1.0)):
        torch.testing.assert_close(mine, whole, rtol=1e-5, atol=1e-6)


def test_one_process_is_rank_zero_of_one():
    assert distributed.shard(distributed.SINGLE, torch.arange(5))[1] == 1.0
    assert distributed.from_env() == distributed.SINGLE  # the test process has no WORLD_SIZE


def test_environment_and_devices_are_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    place = distributed.from_env()
    assert (place.rank, place.world_size, place.local_rank, place.is_main) == (1, 2, 1, False)
    assert distributed.rank_device(place, torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(UsageError, match="GPU numbered by its LOCAL_RANK"):
        distributed.rank_device(place, torch.device("cuda", 0))
    with pytest.raises(UsageError, match="CPU \\(gloo\\) or CUDA \\(NCCL\\)"):
        distributed.rank_device(place, torch.device("mps"))
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(UsageError, match="RANK='x' is not an integer"):
        distributed.from_env()


# ---------------------------------------------------------------------- under torchrun
@pytest.mark.slow
def test_two_ranks_of_half_the_batch_equal_one_process_and_only_rank_zero_writes(tmp_path):
    one = zoo_cli("train", "linear-128", *SMALL, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = torchrun("train", "linear-128", "--device", "cpu", "--epochs", "2", "--limit-batches", "30",
                   "--out", str(tmp_path / "two"), cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    moved = max((a[k] - b[k]).abs().max().item() for k in a)
    assert moved <= 1e-5, f"2 ranks differ from 1 process by {moved}"
    # rank 0 alone printed: one line per epoch and one summary, not two of each
    assert two.stderr.count("epoch   1/2") == 1 and two.stdout.count("saved ") == 1, two.stdout
    summary = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 60
    assert json.loads((tmp_path / "two" / "config.json").read_text())["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no stray files from rank 1


class HalfBatchStage(TrainingStage):
    """One process doing by hand what 2 DDP ranks do: average the gradients of the two half batches."""

    def train_step(self, idx):
        grads = []
        for half in torch.tensor_split(idx, 2):
            target = to_float(self.data.fit[half])
            loss = self.model.loss(target, target, kind=self.recipe.loss).loss
            grads.append(torch.autograd.grad(loss, list(self.model.parameters())))
        for p, g0, g1 in zip(self.model.parameters(), *grads):
            p.grad = g0 / 2 + g1 / 2  # DDP: each rank's gradient / world size, summed by the all-reduce
        self.objective.optimizer.step()
        return {"loss": loss.detach()}


@pytest.mark.slow
def test_two_ranks_are_bitwise_one_process_averaging_the_two_half_batch_gradients(tmp_path):
    """What makes 2 ranks differ from one process of the full batch is the order of float sums alone.

    Under Adam that rounding difference grows over hundreds of steps (fashion-64: 2e-5 in the
    weights after 70 steps, 9e-3 after 130, test MSE after one epoch 0.01971 against 0.01961),
    because Adam divides each gradient by its own running size. This pins the rest exactly.
    """
    args = ["fashion-64", "--device", "cpu", "--epochs", "2", "--limit-batches", "25"]
    two = torchrun("train", *args, "--quiet", "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    entry = get_entry("fashion-64")
    entry = entry.with_recipe(entry.recipe.replace(epochs=2))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank ran
    try:
        trainer = Trainer(entry, out=tmp_path / "one", options=RunOptions(device="cpu", limit_batches=25), quiet=True)
        trainer.training.__class__ = HalfBatchStage  # the same stage, its step done by hand
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    a, b = load_file(str(tmp_path / "one" / "state.safetensors")), load_file(str(tmp_path / "two" / "state.safetensors"))
    for key in a:
        if key.startswith(("model.", "best.", "optimizer.")):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_two_ranks_killed_with_sigkill_and_resumed_equal_an_uninterrupted_two_rank_run(tmp_path):
    # vae-16 samples from each rank's own random stream: the gathered RNG states must come back
    args = ["train", "vae-16", "--device", "cpu", "--epochs", "2", "--limit-batches", "40",
            "--checkpoint-every", "5", "--quiet"]
    straight = torchrun(*args, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "zoo",
           *args, "--out", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    victims = []  # the launcher and both ranks at once, like a machine that is lost
    epoch, step = kill_in_first_epoch(proc, killed, 10, lambda: victims.extend(kill_tree(proc.pid)))
    assert len(victims) == 3, victims  # torchrun and its two ranks
    assert epoch == 0 and 10 <= step < 40 and not (killed / "model.safetensors").exists()

    resumed = torchrun(*args, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    # the best weights, and the whole final state: last weights, optimizer, every rank's RNG
    for file in ("model.safetensors", "state.safetensors"):
        a, b = load_file(str(tmp_path / "straight" / file)), load_file(str(killed / file))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{file}: {key}"

    # the world size is part of the trajectory: resuming with another one is refused, and says why
    (killed / "model.safetensors").unlink()
    again = zoo_cli(*args, "--out", str(killed), "--resume")
    assert again.returncode == 2
    assert zoo_errors(again.stderr) == [line for line in again.stderr.splitlines() if line]
    assert "trained by 2 processes (torchrun, WORLD_SIZE=2) and is resumed by one process" in again.stderr


def test_a_batch_that_does_not_split_is_refused_once_with_exit_status_2(tmp_path):
    result = torchrun("train", "deep-784-32", *SMALL, "--batch-size", "127", "--out", str(tmp_path / "run"))
    assert result.returncode != 0
    lines = zoo_errors(result.stderr)
    assert len(lines) == 1, result.stderr  # rank 0 says it; rank 1 stops without repeating it
    assert lines[0].startswith("Error: The batch size 127 does not split evenly over 2 processes")
    assert "exitcode: 2" in result.stderr or "exitcode  : 2" in result.stderr
    assert not (tmp_path / "run" / "state.safetensors").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_node_form_writes_only_on_the_node_of_rank_zero(tmp_path):
    """Two torchrun agents as two 'machines', each with its own folder; only rank 0's gets the run.

    Static rendezvous (--node-rank, --master-addr): with c10d, torchrun's agents occasionally fail
    at exit when the agent holding the rendezvous store leaves first (seen once in about 20 runs
    here, both trainings complete); that is the launcher's race, not zoo's, and would make CI flaky.
    """
    port, nodes = free_port(), [tmp_path / "node0", tmp_path / "node1"]
    procs = []
    for node_rank, folder in enumerate(nodes):
        folder.mkdir()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node-rank={node_rank}",
               "--nproc_per_node=1", "--master-addr=127.0.0.1", f"--master-port={port}",
               "-m", "zoo", "train", "deep-784-32", *SMALL, "--out", "run"]
        procs.append(subprocess.Popen(cmd, cwd=folder, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert not (nodes[1] / "run").exists() and not list(nodes[1].iterdir()), "the second machine wrote nothing"
    summary = json.loads((nodes[0] / "run" / "metrics.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 60
