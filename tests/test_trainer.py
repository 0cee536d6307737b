"""The shared trainer on real data, a few steps at a time."""
from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from killing import crash_after_save
from safetensors import safe_open
from safetensors.torch import load_file

import zoo
import zoo.paths
from zoo.cli import main
from zoo.errors import UsageError
from zoo.training import RunOptions, Trainer
from zoo.training.stage import TrainingStage


def tensors(path):
    return load_file(str(path))


def assert_same_tensors(a, b):
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key], tb[key]), f"{key} differs"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "deep-784-32"
    lines = []
    summary = zoo.train("deep-784-32", out=out, epochs=2, limit_batches=20, log_every=7, device="cpu", log=lines.append)
    return out, summary, lines


def test_run_folder_holds_every_output(run):
    out, summary, _ = run
    for name in ("model.safetensors", "reconstructions.png", "losses.png", "metrics.json", "config.json",
                 "state.safetensors"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and len(metrics["history"]) == 2
    assert metrics["stop_reason"] == "completed 2 epochs" == summary["stop_reason"]
    assert math.isfinite(metrics["test_mse"]) and metrics["best_val_loss"] == min(h["val_loss"] for h in metrics["history"])
    config = json.loads((out / "config.json").read_text())
    assert config["entry"]["recipe"]["epochs"] == 2 and config["overrides"] == {"epochs": 2}


def test_weights_header_carries_training_facts(run):
    out, summary, _ = run
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["zoo.name"] == "deep-784-32" and meta["zoo.version"] == zoo.__version__
    assert json.loads(meta["zoo.entry"])["recipe"]["epochs"] == 2
    assert json.loads(meta["zoo.epochs"]) == 2
    assert json.loads(meta["zoo.best_val_loss"]) == summary["best_val_loss"]
    sums = json.loads(meta["zoo.data_sha256"])
    assert sums["t10k-images-idx3-ubyte"].startswith("0fa7898d")
    assert "completed" in json.loads(meta["zoo.stop_reason"])
    model = zoo.load(out, device="cpu")  # the run folder loads like a shipped model
    assert model.latent_dim == 32


def test_figures_are_real_pngs(run):
    from PIL import Image

    out, _, _ = run
    grid = Image.open(out / "reconstructions.png")
    # 16 test images, 8 a row: two rows of originals above two rows of reconstructions
    assert grid.size == (8 * 30 + 2, 4 * 30 + 2)
    assert Image.open(out / "losses.png").size == (600, 400)


def test_tensorboard_has_step_and_epoch_curves(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _, _ = run
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert len(acc.Scalars("loss/train_step")) == 40  # every step, though read 7 at a time
    assert [e.step for e in acc.Scalars("loss/val")] == [1, 2]
    assert "reconstructions" in acc.Tags()["images"]


def test_one_summary_line_per_epoch(run):
    _, _, lines = run
    epochs = [line for line in lines if line.startswith("epoch")]
    assert len(epochs) == 2 and "samples/s" in epochs[0] and "val" in epochs[0]
    assert lines[-1] == "stopped: completed 2 epochs"


def test_data_stays_uint8_on_the_device_and_order_is_seeded(tmp_path):
    trainer = Trainer(zoo.get_entry("deep-784-32"), out=tmp_path, options=RunOptions(device="cpu", limit_batches=2))
    assert trainer.data.fit.dtype == torch.uint8 and trainer.data.fit.shape == (50000, 28, 28)
    order = trainer.data.order(3)
    assert torch.equal(order.sort().values, torch.arange(50000))
    assert torch.equal(order, trainer.data.order(3)) and not torch.equal(order, trainer.data.order(4))


def test_early_stopping_restores_the_best_weights(tmp_path):
    zoo.train("deep-784-32", out=tmp_path / "one", epochs=1, limit_batches=10, device="cpu", quiet=True)
    # min_delta 1.0: epoch 1 improves on infinity, nothing after can, so patience 1 stops after epoch 2
    es = zoo.train("deep-784-32", out=tmp_path / "es", epochs=6, patience=1, min_delta=1.0, limit_batches=10,
                   device="cpu", quiet=True)
    assert es["epochs_run"] == 2 and es["best_epoch"] == 1
    assert es["stop_reason"].startswith("early stopping") and "epoch 1" in es["stop_reason"]
    assert_same_tensors(tmp_path / "one" / "model.safetensors", tmp_path / "es" / "model.safetensors")
    assert json.loads((tmp_path / "es" / "metrics.json").read_text())["stop_reason"] == es["stop_reason"]


def test_on_epoch_sees_every_epoch_and_a_true_return_stops_the_run(tmp_path):
    seen = []

    def hook(record):
        seen.append(record)
        return record["epoch"] == 2  # a pruner's decision after epoch 2

    out = tmp_path / "stopped"
    summary = zoo.train("deep-784-32", out=out, epochs=5, limit_batches=4, device="cpu", quiet=True, on_epoch=hook)
    assert [r["epoch"] for r in seen] == [1, 2] and all(r["val_loss"] > 0 for r in seen)
    assert summary["epochs_run"] == 2 and summary["stop_reason"].startswith("stopped by the on_epoch callback")
    assert summary["best_val_loss"] == min(r["val_loss"] for r in seen)
    assert zoo.load(out / "model.safetensors").latent_dim == 32  # a stopped run's outputs are a finished run's
    # the stop is saved: resuming finishes at once, no third epoch
    again = zoo.train("deep-784-32", out=out, epochs=5, limit_batches=4, device="cpu", quiet=True, resume=True,
                      on_epoch=hook)
    assert again["epochs_run"] == 2 and len(seen) == 2


def test_overrides_are_validated_and_runs_not_overwritten(run, tmp_path):
    out, _, _ = run
    with pytest.raises(UsageError, match="batch_size: must be >= 1"):
        zoo.train("deep-784-32", out=tmp_path / "x", batch_size=0)
    with pytest.raises(UsageError, match="already holds a run"):
        zoo.train("deep-784-32", out=out, epochs=1)
    with pytest.raises(UsageError, match=r"started with lr=0.001; a resumed run keeps its recipe \(drop lr or .* out\)"):
        zoo.train("deep-784-32", out=out, lr=0.5, resume=True, limit_batches=20)
    with pytest.raises(UsageError, match="holds a run of 'deep-784-32'"):
        zoo.train("conv-32", out=out, resume=True, limit_batches=20)
    with pytest.raises(UsageError, match="started with limit_batches=20"):  # the Python API names its arguments
        zoo.train("deep-784-32", out=out, resume=True)
    assert not (tmp_path / "x").exists()


def test_resume_without_state_starts_from_the_beginning(tmp_path):
    lines = []
    zoo.train("linear-128", out=tmp_path, epochs=1, limit_batches=3, resume=True, device="cpu", log=lines.append)
    assert lines[0].startswith("no saved state") and (tmp_path / "model.safetensors").is_file()


def test_resume_can_extend_a_finished_run(tmp_path):
    zoo.train("deep-784-32", out=tmp_path / "a", epochs=1, limit_batches=4, device="cpu", quiet=True)
    extended = zoo.train("deep-784-32", out=tmp_path / "a", epochs=2, limit_batches=4, resume=True, device="cpu", quiet=True)
    straight = zoo.train("deep-784-32", out=tmp_path / "b", epochs=2, limit_batches=4, device="cpu", quiet=True)
    assert extended["epochs_run"] == 2 and extended["history"][0] == straight["history"][0] | {
        "seconds": extended["history"][0]["seconds"], "samples_per_s": extended["history"][0]["samples_per_s"]}
    assert_same_tensors(tmp_path / "a" / "model.safetensors", tmp_path / "b" / "model.safetensors")
    # a cosine schedule is laid out over the run's epochs, so such a run cannot be extended
    zoo.train("linear-128", out=tmp_path / "cos", epochs=1, limit_batches=2, device="cpu", quiet=True)
    with pytest.raises(UsageError, match="cosine schedule fixed to 1 epochs"):
        zoo.train("linear-128", out=tmp_path / "cos", epochs=2, limit_batches=2, resume=True, device="cpu")


class Crash(Exception):
    pass


COSINE = {
    "description": "test entry with a per-step schedule and SGD state",
    "family": "ae",
    "network": {"type": "mlp", "hidden": [64]},
    "kwargs": {"latent_dim": 8},
    "dataset": "fashion-mnist",
    "recipe": {"optimizer": "sgd", "optimizer_kwargs": {"momentum": 0.9, "nesterov": True}, "lr": 0.5,
               "batch_size": 64, "epochs": 3, "loss": "bce", "scheduler": {"type": "cosine"},
               "early_stopping": {"patience": 3}, "seed": 7, "notes": "test"},
}


@pytest.mark.parametrize("name", ["vae-16", "denoising", "cosine"])
def test_crash_mid_epoch_then_resume_is_bitwise_exact(name, tmp_path, monkeypatch):
    """Covers the VAE's sampling (global RNG), the noise generator, and scheduler + SGD momentum."""
    if name == "cosine":
        (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "models": {"cosine": COSINE}}))
        monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    options = dict(epochs=2, limit_batches=9, checkpoint_every=4, device="cpu", quiet=True)
    zoo.train(name, out=tmp_path / "straight", **options)

    # initial, step 4, step 8, epoch 1 end: crash after the epoch-1 save
    with pytest.raises(Crash), crash_after_save(4, Crash):
        zoo.train(name, out=tmp_path / "crashed", **options)
    assert not (tmp_path / "crashed" / "model.safetensors").exists()
    # and once more mid-epoch 2: crash after the save at global step 12 (the first of the resumed run)
    with pytest.raises(Crash), crash_after_save(1, Crash):
        zoo.train(name, out=tmp_path / "crashed", resume=True, **options)
    with safe_open(str(tmp_path / "crashed" / "state.safetensors"), framework="pt") as f:
        info = json.loads(f.metadata()["zoo.state"])
    assert info["parts"]["progress"]["epoch"] == 1 and 0 < info["parts"]["progress"]["step_in_epoch"] < 9

    zoo.train(name, out=tmp_path / "crashed", resume=True, **options)
    assert_same_tensors(tmp_path / "straight" / "model.safetensors", tmp_path / "crashed" / "model.safetensors")
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "crashed" / "metrics.json").read_text())
    for a, b in zip(straight["history"], resumed["history"]):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]


def test_non_finite_loss_stops_with_one_line_and_keeps_the_last_good_state(tmp_path, monkeypatch):
    original = TrainingStage.train_step

    def poisoned(self, idx):
        losses = original(self, idx)
        return {**losses, "loss": losses["loss"] * float("nan")} if self.progress.global_step >= 6 else losses

    monkeypatch.setattr(TrainingStage, "train_step", poisoned)
    result = CliRunner().invoke(main, ["train", "linear-128", "--out", str(tmp_path), "--epochs", "1",
                                       "--limit-batches", "10", "--checkpoint-every", "5", "--device", "cpu"])
    assert result.exit_code == 1
    error = [line for line in result.output.split("\n") if line.startswith("Error")]
    assert len(error) == 1 and "loss became nan at step 7" in error[0] and "last good state" in error[0]
    assert not (tmp_path / "model.safetensors").exists()
    with safe_open(str(tmp_path / "state.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["zoo.state"])["parts"]["progress"]["global_step"] == 5
        assert all(torch.isfinite(f.get_tensor(k)).all() for k in f.keys() if k.startswith("model."))


def test_cli_train_quiet_and_bad_flags(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", "conv-32", "--out", str(tmp_path / "c"), "--epochs", "1",
                                  "--limit-batches", "3", "--quiet", "--device", "cpu"])
    assert result.exit_code == 0 and result.output == ""
    assert (tmp_path / "c" / "model.safetensors").is_file()
    for args, words in ((["--epochs", "0"], "--epochs"), (["--lr", "-1"], "--lr"), (["--batch-size", "0"], "--batch-size"),
                        (["--device", "tpu"], "Unknown device 'tpu'"), (["--min-delta", "-1"], "--min-delta")):
        result = runner.invoke(main, ["train", "conv-32", "--out", str(tmp_path / "bad"), *args])
        assert result.exit_code == 2 and words in result.output and result.output.count("\n") == 1, args
    result = runner.invoke(main, ["train", "conv-23"])
    assert result.exit_code == 2 and "Did you mean 'conv-32'?" in result.output
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("options, words", [
    ({"limit_batches": 0}, "^limit_batches must be >= 1, got 0"),  # the Python API names its arguments
    ({"checkpoint_every": -1}, "^checkpoint_every must be >= 0, got -1"),
    ({"log_every": 0}, "log_every must be >= 1, got 0"),
])
def test_python_api_refuses_out_of_range_run_options(tmp_path, options, words):
    with pytest.raises(UsageError, match=words):
        zoo.train("deep-784-32", out=tmp_path / "x", device="cpu", **options)
    assert not (tmp_path / "x").exists()


def test_a_step_schedule_decays_the_lr_at_epoch_ends(tmp_path, monkeypatch):
    step = json.loads(json.dumps(COSINE))
    step["recipe"]["scheduler"] = {"type": "step", "step_size": 1, "gamma": 0.5}
    (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "models": {"stepped": step}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    summary = zoo.train("stepped", out=tmp_path / "run", limit_batches=2, device="cpu", quiet=True)
    assert [h["lr"] for h in summary["history"]] == [0.5, 0.25, 0.125]
