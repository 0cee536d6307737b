"""Objectives that own their optimizers: a two-optimizer objective from a plugin, zoo's alternating one,
their parts in the state, TensorBoard and metrics.json, and the exact resume after SIGKILL."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from killing import crash_after_save, kill_in_first_epoch, saved_info
from safetensors.torch import load_file

import zoo

PLUGIN = Path(__file__).parent / "objective_plugin.py"
RECIPE = {"optimizer": "adam", "lr": 0.001, "batch_size": 64, "epochs": 2, "loss": "mse",
          "early_stopping": {"patience": 5}, "seed": 3}
ENTRIES = {
    "toy-aae": {"description": "toy adversarial code regulariser (plugin objective)", "family": "toy-aae",
                "kwargs": {"latent_dim": 8}, "dataset": "mnist", "recipe": RECIPE},
    "toy-aae-alt": {"description": "the same on zoo's alternating objective", "family": "toy-aae-alt",
                    "kwargs": {"latent_dim": 8}, "dataset": "mnist",
                    "recipe": {**RECIPE, "optimizers": {"critic": {"optimizer": "sgd", "lr": 0.02,
                                                                   "optimizer_kwargs": {"momentum": 0.5}}}}},
}
ENTRIES["toy-aae-alt-fixed"] = {**ENTRIES["toy-aae-alt"], "kwargs": {"latent_dim": 8, "random_prior": False}}
OPTIONS = dict(epochs=2, limit_batches=10, checkpoint_every=4, device="cpu", quiet=True)


@pytest.fixture
def registry(tmp_path, monkeypatch, data_dir):
    folder = tmp_path / "registry"
    folder.mkdir()
    shutil.copy(PLUGIN, folder / PLUGIN.name)
    path = folder / "registry.json"
    path.write_text(json.dumps({"version": 1, "plugins": ["objective_plugin"], "models": ENTRIES}))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return path


def same_files(a: Path, b: Path, prefixes=("",)) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    checked = [k for k in ta if k.startswith(prefixes)]
    assert checked
    for key in checked:
        assert torch.equal(ta[key], tb[key]), key


def test_a_plugin_objective_owns_two_optimizers_and_logs_every_part(registry, tmp_path):
    run = tmp_path / "run"
    summary = zoo.train("toy-aae", out=run, **{**OPTIONS, "epochs": 1})
    parts = summary["history"][0]["parts"]
    assert set(parts) == {"recon", "fool", "critic/loss", "critic/real", "critic/fake"}
    assert all(0 < v < 10 for v in parts.values()), parts
    assert json.loads((run / "metrics.json").read_text())["history"][0]["parts"] == parts
    info = saved_info(run)
    assert {"optimizer.autoencoder", "optimizer.critic"} <= set(info["parts"])
    state = load_file(str(run / "state.safetensors"))
    assert any(k.startswith("optimizer.critic.state.") and k.endswith("momentum_buffer") for k in state)  # its SGD
    assert any(k.startswith("optimizer.autoencoder.state.") and k.endswith("exp_avg") for k in state)  # the recipe's Adam
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss/train_step", "parts_step/fool", "parts_step/critic/fake", "parts/recon", "parts/critic/loss"} <= tags
    assert len(acc.Scalars("parts_step/critic/real")) == 10


def test_the_alternating_objective_steps_each_phase_with_its_own_optimizer(registry, tmp_path):
    from zoo.training import Trainer
    from zoo.training.options import RunOptions

    trainer = Trainer(zoo.get_entry("toy-aae-alt"), out=tmp_path / "t", options=RunOptions(device="cpu", limit_batches=5),
                      quiet=True)
    phases = trainer.objective.phases
    assert list(phases) == ["autoencoder", "critic"]
    critic, auto = phases["critic"].optimizer, phases["autoencoder"].optimizer
    assert isinstance(critic, torch.optim.SGD) and critic.param_groups[0]["lr"] == 0.02
    assert isinstance(auto, torch.optim.Adam) and auto.param_groups[0]["lr"] == 0.001
    critic_ids = {id(p) for p in trainer.model.critic.parameters()}
    assert {id(p) for g in critic.param_groups for p in g["params"]} == critic_ids
    assert not critic_ids & {id(p) for g in auto.param_groups for p in g["params"]}
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    summary = trainer.fit()
    after = trainer.model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)  # both phases moved their parameters
    assert {"recon", "fool", "critic/loss"} <= set(summary["history"][0]["parts"])


def test_a_crash_after_a_checkpoint_of_the_alternating_objective_resumes_bitwise(registry, tmp_path):
    zoo.train("toy-aae-alt", out=tmp_path / "straight", **OPTIONS)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), crash_after_save(3, Crash):  # saves: initial, step 4, step 8, epoch end...
        zoo.train("toy-aae-alt", out=tmp_path / "crashed", **OPTIONS)
    zoo.train("toy-aae-alt", out=tmp_path / "crashed", resume=True, **OPTIONS)
    same_files(tmp_path / "straight" / "model.safetensors", tmp_path / "crashed" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_plugin_objective_killed_mid_epoch_resumes_bitwise(registry, tmp_path):
    args = [sys.executable, "-m", "zoo", "train", "toy-aae", "--epochs", "2", "--limit-batches", "60",
            "--checkpoint-every", "5", "--device", "cpu", "--quiet"]
    env = {**os.environ, "ZOO_REGISTRY": str(registry)}
    straight = subprocess.run(args + ["--out", str(tmp_path / "straight")], capture_output=True, text=True, env=env)
    assert straight.returncode == 0, straight.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    epoch, step = kill_in_first_epoch(proc, killed, 10, lambda: os.kill(proc.pid, signal.SIGKILL))
    assert proc.returncode == -signal.SIGKILL and epoch == 0 and 10 <= step < 60
    resumed = subprocess.run(args + ["--out", str(killed), "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    same_files(tmp_path / "straight" / "model.safetensors", killed / "model.safetensors")
    same_files(tmp_path / "straight" / "state.safetensors", killed / "state.safetensors", ("optimizer.", "rng.", "best."))
    a = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    b = json.loads((killed / "metrics.json").read_text())["history"]
    assert [r["parts"] for r in a] == [r["parts"] for r in b]


def test_vae_kl_reaches_metrics_and_tensorboard(data_dir, tmp_path):
    summary = zoo.train("vae-16", out=tmp_path / "vae", epochs=1, limit_batches=6, device="cpu", quiet=True, log_every=2)
    parts = summary["history"][0]["parts"]
    assert parts["kl"] > 0 and 0 < parts["recon"] < 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "vae" / "tensorboard"))
    acc.Reload()
    assert len(acc.Scalars("parts_step/kl")) == 6 and acc.Scalars("parts/kl")[0].value == pytest.approx(parts["kl"])


def test_a_state_of_the_previous_format_is_refused_in_one_line(data_dir, tmp_path):
    from zoo.training import checkpoint

    run = tmp_path / "old"
    run.mkdir()
    checkpoint.write_state(run, {"model.w": torch.zeros(2)}, {"format": 3, "name": "linear-128", "epoch": 0})
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    done = subprocess.run([sys.executable, "-m", "zoo", "train", "linear-128", "--out", str(run), "--resume",
                           "--device", "cpu", "--limit-batches", "2"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "state of format 3" in done.stderr and "resumes format 4" in done.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name in before} == before


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built")
def test_the_alternating_objective_under_torchrun_averages_both_phases_like_one_process(registry, tmp_path):
    """Two ranks (gloo, CPU) with both phases wrapped in DDP train to within float rounding of one process
    (a model drawing no random numbers: each rank draws its own)."""
    env = {**os.environ, "ZOO_REGISTRY": str(registry), "OMP_NUM_THREADS": "1"}
    args = ["train", "toy-aae-alt-fixed", "--device", "cpu", "--epochs", "1", "--limit-batches", "8", "--quiet"]
    one = subprocess.run([sys.executable, "-m", "zoo", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "zoo", *args, "--out", str(tmp_path / "two")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert two.returncode == 0, two.stderr
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    moved = max((a[k] - b[k]).abs().max().item() for k in a)
    assert moved <= 1e-5, f"2 ranks differ from 1 process by {moved}"
