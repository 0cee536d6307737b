"""RBM pretraining (recipe ``"pretrain": {"type": "rbm"}``) on real MNIST: it learns, it unrolls into the
autoencoder, a kill inside it resumes bit for bit, and a model it does not fit is refused in one line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from killing import crash_after_save, pretrain_of, progress_of, saved_info
from safetensors import safe_open
from safetensors.torch import load_file

import zoo
from zoo.data import load_dataset, to_float
from zoo.models import RBM, build_model, rbm_stack
from zoo.training import RunOptions, Trainer
from zoo.training.interrupt import Interrupt
from zoo.training.loop import drive

TINY = {
    "description": "tiny logistic net pretrained as RBMs",
    "family": "ae",
    "network": {"type": "mlp", "hidden": [64], "activation": "sigmoid"},
    "kwargs": {"latent_dim": 8},
    "dataset": "mnist",
    "recipe": {"optimizer": "adam", "lr": 0.001, "batch_size": 50, "epochs": 1, "loss": "bce",
               "early_stopping": {"patience": 2}, "seed": 3, "notes": "test",
               "pretrain": {"type": "rbm", "epochs": 2, "batch_size": 50}},
}
OPTIONS = dict(limit_batches=6, checkpoint_every=4, device="cpu", quiet=True)  # 2 layers x 2 epochs x 6 steps


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": 1, "models": {"tiny": TINY}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return path


def images(split: str, n: int) -> torch.Tensor:
    return to_float(load_dataset("mnist", split).images[:n]).flatten(1)


@pytest.mark.parametrize("linear", [False, True], ids=["logistic", "linear-code"])
def test_cd1_on_real_mnist_lowers_the_reconstruction_error(data_dir, linear):
    fit, held_out = images("fit", 3000), images("val", 1000)
    gen = torch.Generator().manual_seed(0)
    rbm = RBM(784, 30 if linear else 256, linear=linear, device=torch.device("cpu"))
    rbm.initialise(0.1, gen)
    before = rbm.reconstruction_error(held_out)
    lr = 0.001 if linear else 0.1  # the paper's rates for the two kinds of hidden unit
    errors = [float(rbm.cd1(fit[i:i + 100], lr=lr, momentum=0.5, weight_cost=0.0002, generator=gen)) / 100
              for _ in range(3) for i in range(0, 3000, 100)]  # 90 steps
    after = rbm.reconstruction_error(held_out)
    # measured: logistic 192.0 -> 16.7, linear (the paper's 1000x slower rate) 185.6 -> 97.8
    assert after < (0.6 if linear else 0.2) * before, (before, after)  # on images it never saw
    assert sum(errors[-5:]) < (0.7 if linear else 0.5) * sum(errors[:5])  # and the CD-1 error while learning


def test_pretraining_unrolls_a_stack_that_reconstructs_far_better_than_random_weights(tiny, tmp_path):
    entry = zoo.get_entry("tiny")
    trainer = Trainer(entry, out=tmp_path / "run", options=RunOptions(device="cpu", limit_batches=40), quiet=True)
    val = to_float(trainer.data.val[:1000])

    def val_error():
        with torch.no_grad():
            return float((trainer.model(val) - val).pow(2).flatten(1).sum(1).mean())

    random_init = val_error()
    (stage,) = trainer.before
    with Interrupt(enabled=False) as ctrl_c:
        drive(stage, logger=trainer.logger, ctrl_c=ctrl_c, save=trainer.save_state, where=trainer.where,
              checkpoint_every=0, log_every=50)
    assert stage.done
    enc, dec = trainer.model.encoder, trainer.model.decoder
    assert torch.equal(enc[0].weight, dec[2].weight.T) and torch.equal(enc[2].weight, dec[0].weight.T)
    summary = stage.summary()
    assert [(x["sizes"], x["linear"]) for x in summary["layers"]] == [("784-64", False), ("64-8", True)]
    assert len(summary["history"]) == 4 and summary["seconds"] > 0
    assert val_error() < 0.6 * random_init  # before any fine-tuning


def test_a_run_with_pretraining_records_it_everywhere(tiny, tmp_path):
    summary = zoo.train("tiny", out=tmp_path / "run", **OPTIONS)
    pre = summary["pretrain"]
    assert pre["type"] == "rbm" and pre["epochs_per_layer"] == 2 and len(pre["history"]) == 4
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["pretrain"] == pre
    with safe_open(str(tmp_path / "run" / "model.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["zoo.pretrain_seconds"]) == pytest.approx(pre["seconds"])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard" / "pretrain"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"recon_error/layer1", "recon_error/layer2", "recon_error_step/layer1"} <= set(tags)
    assert [e.step for e in acc.Scalars("recon_error_step/layer2")] == list(range(13, 25))


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", [4, 6], ids=["layer1-mid-epoch", "layer2-mid-epoch"])
def test_a_crash_inside_pretraining_then_resume_is_bitwise_exact(tiny, tmp_path, crash_at):
    """Saves: initial, step 4, end of layer-1 epoch 1 (step 6), step 8, step 12 (layer 1 done), step 16..."""
    zoo.train("tiny", out=tmp_path / "straight", **OPTIONS)
    with pytest.raises(Crash), crash_after_save(crash_at, Crash):
        zoo.train("tiny", out=tmp_path / "crashed", **OPTIONS)
    with safe_open(str(tmp_path / "crashed" / "state.safetensors"), framework="pt") as f:
        info = json.loads(f.metadata()["zoo.state"])
    assert progress_of(info)["epoch"] == 0 and pretrain_of(info)["step_in_epoch"] in (2, 4)  # inside a pretraining epoch
    lines = []
    zoo.train("tiny", out=tmp_path / "crashed", resume=True, **{**OPTIONS, "quiet": False}, log=lines.append)
    assert lines[0].startswith("resuming tiny at pretraining layer")
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(tmp_path / "crashed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())["pretrain"]["history"]
    resumed = json.loads((tmp_path / "crashed" / "metrics.json").read_text())["pretrain"]["history"]
    assert [r["recon_error"] for r in straight] == [r["recon_error"] for r in resumed]


def _pretrain_position(run_dir):
    info = saved_info(run_dir)
    return pretrain_of(info) if info is not None else None


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_inside_the_second_rbm_then_resume_matches_an_uninterrupted_run(tiny, tmp_path):
    args = [sys.executable, "-m", "zoo", "--registry", str(tiny), "train", "tiny", "--limit-batches", "30",
            "--checkpoint-every", "3", "--device", "cpu", "--quiet"]
    straight = subprocess.run([*args, "--out", str(tmp_path / "straight")], capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            pos = _pretrain_position(killed)
            if pos is not None and pos["layer"] == 1 and pos["step_in_epoch"] >= 3:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert not (killed / "model.safetensors").exists()
    resumed = subprocess.run([*args, "--out", str(killed), "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_inside_pretraining_saves_where_it_stood_and_the_resume_is_exact(tiny, tmp_path, monkeypatch):
    """Ctrl-C (the flag its SIGINT handler sets, raised deterministically after the 15th CD-1 step: layer 2,
    epoch 1, step 3) saves the state at that step without a checkpoint being due there."""
    options = {**OPTIONS, "checkpoint_every": 0}
    zoo.train("tiny", out=tmp_path / "straight", **options)
    steps = {"n": 0}
    cd1 = RBM.cd1

    def counting_cd1(self, *args, **kwargs):
        steps["n"] += 1
        return cd1(self, *args, **kwargs)

    class PressedAfter15(Interrupt):
        requested = property(lambda self: steps["n"] >= 15, lambda self, value: None)

    monkeypatch.setattr(RBM, "cd1", counting_cd1)
    monkeypatch.setattr("zoo.training.trainer.Interrupt", PressedAfter15)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted at pretraining layer 2/2, epoch 1, step 3; the state is saved"):
        zoo.train("tiny", out=tmp_path / "run", **options)
    monkeypatch.setattr(RBM, "cd1", cd1)
    monkeypatch.setattr("zoo.training.trainer.Interrupt", Interrupt)
    assert _pretrain_position(tmp_path / "run")["layer"] == 1 and _pretrain_position(tmp_path / "run")["step_in_epoch"] == 3
    zoo.train("tiny", out=tmp_path / "run", resume=True, **options)
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


BAD_KWARGS = {
    "relu": ("ae", {"type": "mlp", "hidden": [64], "activation": "relu"}, {"latent_dim": 8},
             "the encoder has ReLU after layer 1"),
    "bounded-code": ("ae", {"type": "mlp", "hidden": [64], "activation": "sigmoid"},
                     {"latent_dim": 8, "latent_activation": "relu"}, "the encoder has ReLU after layer 2"),
    "conv": ("ae", {"type": "conv"}, {"latent_dim": 8}, "the encoder has Conv2d first"),
    "hand-written": ("custom-layer", {"type": "mlp", "hidden": [64]}, {"latent_dim": 8}, "the encoder has Linear first"),
}


@pytest.mark.parametrize("kind", BAD_KWARGS)
def test_the_stage_is_refused_in_one_line_for_a_model_it_does_not_fit(kind, tmp_path):
    family, network, kwargs, reason = BAD_KWARGS[kind]
    bad = {**TINY, "family": family, "network": network, "kwargs": kwargs}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": 1, "models": {"bad": bad}}))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "zoo", "--registry", str(path), "train", "bad", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "entry 'bad': recipe.pretrain: RBM pretraining needs Linear layers with logistic (Sigmoid) units" in result.stderr
    assert reason in result.stderr
    assert not out.exists()


def test_rbm_stack_reads_the_paper_network_bottom_first():
    network = {"type": "mlp", "hidden": [1000, 500, 250], "activation": "sigmoid"}
    model = build_model("ae", {"latent_dim": 30}, (1, 28, 28), network)
    stack = rbm_stack(model)
    assert [layer.sizes for layer in stack] == ["784-1000", "1000-500", "500-250", "250-30"]
    assert [layer.linear for layer in stack] == [False, False, False, True]
    assert stack[0].decoder is model.decoder[6] and stack[3].decoder is model.decoder[0]
    logistic_code = build_model("ae", {"latent_dim": 8, "latent_activation": "sigmoid"}, (1, 28, 28),
                                {"type": "mlp", "hidden": [64], "activation": "sigmoid"})
    assert [layer.linear for layer in rbm_stack(logistic_code)] == [False, False]


def test_pretrain_epochs_0_is_the_ablation_and_an_entry_without_the_stage_refuses_the_flag(tiny, tmp_path):
    summary = zoo.train("tiny", out=tmp_path / "ablation", pretrain_epochs=0, limit_batches=3, device="cpu", quiet=True)
    assert summary["pretrain"] is None and not (tmp_path / "ablation" / "tensorboard" / "pretrain").exists()
    config = json.loads((tmp_path / "ablation" / "config.json").read_text())
    assert config["entry"]["recipe"]["pretrain"]["epochs"] == 0 and config["overrides"] == {"pretrain_epochs": 0}
    result = subprocess.run([sys.executable, "-m", "zoo", "train", "deep-784-32", "--pretrain-epochs", "2",
                             "--out", str(tmp_path / "no")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "has no pretrain stage" in result.stderr and not (tmp_path / "no").exists()
