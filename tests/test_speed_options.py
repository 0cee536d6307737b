"""Speed options of the trainer: fused optimizers (default), bf16 autocast (--amp), torch.compile (--compile)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.data import image_shape
from zoo.models.base import reconstruction_loss
from zoo.training.optimizers import make_optimizer, optimizer_kind

FEW = dict(epochs=1, limit_batches=6, device="cpu", quiet=True)


@pytest.mark.parametrize("name", ["deep-784-32", "linear-128", "vae-16"])  # Adam, SGD with momentum, Adam on a VAE
def test_fused_optimizer_follows_the_default_one(name):
    """Same recipe, fused kernel or torch's default: the same steps up to float rounding."""
    entry = zoo.get_entry(name)
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    weights = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = entry.build(image_shape(entry.dataset))
        opt = make_optimizer(entry.recipe, model.parameters(), fused=fused)
        assert optimizer_kind(opt) == ("fused" if fused else "default")
        model.eval()  # the VAE's mean code: no sampling, so both see the same loss
        for _ in range(5):
            opt.zero_grad()
            model.loss(x, x, kind=entry.recipe.loss).loss.backward()
            opt.step()
        weights.append(model.state_dict())
    moved = max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0])
    assert moved < 1e-5, moved


def test_a_torch_without_a_fused_kernel_falls_back(monkeypatch):
    entry = zoo.get_entry("deep-784-32")
    real = torch.optim.Adam

    def no_fused(params, **kw):
        if kw.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    opt = make_optimizer(entry.recipe, entry.build(image_shape(entry.dataset)).parameters())
    assert optimizer_kind(opt) == "default"


def test_reconstruction_loss_is_float32_under_autocast():
    recon = torch.rand(4, 1, 28, 28).clamp(0.01, 0.99)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for kind in ("mse", "bce"):
            loss = reconstruction_loss(recon.bfloat16(), recon, kind)
            assert loss.dtype == torch.float32
            torch.testing.assert_close(loss, reconstruction_loss(recon.bfloat16().float(), recon, kind))


def test_amp_trains_records_itself_and_a_resume_must_keep_it(tmp_path):
    plain = zoo.train("vae-16", out=tmp_path / "plain", **FEW)
    amp = zoo.train("vae-16", out=tmp_path / "amp", amp=True, **FEW)
    assert amp["amp"] is True and plain["amp"] is False
    assert math.isfinite(amp["test_mse"])
    # bf16 matmuls: close to the float32 run after 6 steps, not equal
    assert amp["test_loss"] == pytest.approx(plain["test_loss"], rel=0.05) and amp["test_loss"] != plain["test_loss"]
    assert json.loads((tmp_path / "amp" / "config.json").read_text())["amp"] is True
    result = CliRunner().invoke(main, ["train", "vae-16", "--out", str(tmp_path / "amp"), "--resume", "--epochs", "2",
                                       "--limit-batches", "6", "--device", "cpu"])
    assert result.exit_code == 2
    assert "was started with --amp" in result.output and "resume it the same way" in result.output


@pytest.mark.slow
def test_compile_trains_the_same_steps(tmp_path):
    """torch.compile changes how the step runs, not what it computes (up to kernel rounding)."""
    eager = zoo.train("deep-784-32", out=tmp_path / "eager", **FEW)
    compiled = zoo.train("deep-784-32", out=tmp_path / "compiled", compile=True, **FEW)
    assert compiled["compile"] is True
    assert compiled["test_loss"] == pytest.approx(eager["test_loss"], rel=1e-4)
